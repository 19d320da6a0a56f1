"""Writes of the evidence app: accepting an upload, and recording what checks found.

Uploads are validated from their bytes before anything is stored; the original is kept
byte for byte; checks are enqueued only after the row is committed.
"""

from __future__ import annotations

import functools
import hashlib
from typing import IO

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from evidence import custody, imaging
from evidence.models import AttachedTo, EvidenceFile, SubmittedBy


class EvidenceRejected(ValueError):
    """The upload is refused; ``message`` tells the uploader why, ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _read_limited(upload: IO[bytes] | bytes) -> bytes:
    if isinstance(upload, bytes):
        data = upload
    else:
        data = upload.read(imaging.MAX_BYTES + 1)
    if len(data) > imaging.MAX_BYTES:
        raise EvidenceRejected(
            "file_too_large",
            _("The file is larger than %(limit)s MB.") % {"limit": imaging.MAX_BYTES // 2**20},
        )
    if not data:
        raise EvidenceRejected("empty_file", _("The file is empty."))
    return data


def _validate_image_header(data: bytes) -> tuple[str, int, int]:
    """Cheap checks done while the uploader waits: type from magic bytes, pixel budget."""
    fmt = imaging.sniff(data)
    if fmt is None:
        raise EvidenceRejected(
            "unsupported_type",
            _("This file is not a JPEG, PNG, WebP, HEIC or AVIF image."),
        )
    try:
        # The header only, without Pillow's own bomb check: a picture over its 178 MP
        # limit is refused below with its size, not as an unreadable file.
        with imaging.open_header(data, fmt) as img:
            width, height = img.size
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not an image"
        raise EvidenceRejected(
            "undecodable", _("The image cannot be read; the file may be damaged.")
        ) from exc
    if width * height > imaging.MAX_PIXELS:
        raise EvidenceRejected(
            "too_many_pixels",
            _("The image is %(width)s × %(height)s pixels; the limit is %(limit)s megapixels.")
            % {"width": width, "height": height, "limit": imaging.MAX_PIXELS // 1_000_000},
        )
    return fmt, width, height


@custody.records_refusals
def evidence_add(
    *,
    upload: IO[bytes] | bytes,
    submitted_by: str,
    original_name: str = "",
    claim=None,
    product=None,
    shipment=None,
    uploaded_by=None,
    actor=None,
) -> EvidenceFile:
    """Accept one file for a claim, a product (listing photo) or a shipment (packing
    evidence). Raises :class:`EvidenceRejected` with a clear reason; stores nothing then.
    Both are recorded in the chain of custody (:mod:`evidence.custody`), by ``actor``
    (``refunds.audit.Actor``; default: ``uploaded_by``)."""
    targets = [t for t in (claim, product, shipment) if t is not None]
    if len(targets) != 1:
        raise ValueError("evidence is attached to exactly one of claim, product, shipment")
    if submitted_by not in SubmittedBy.values:
        raise EvidenceRejected("bad_submitter", _("Unknown submitter."))
    if claim is not None:
        # Who may add what when is the claims' policy (the shop's counter-evidence only
        # while its pages offer the form; the buyer's until the decision).
        from refunds.policy import can_add_claim_evidence

        verdict = can_add_claim_evidence(uploaded_by, claim, submitted_by=submitted_by)
        if not verdict:
            code = "claim_closed" if verdict.wrong_state else "not_allowed"
            raise EvidenceRejected(code, verdict.reason)
    data = _read_limited(upload)
    fmt, width, height = _validate_image_header(data)
    sha256 = hashlib.sha256(data).hexdigest()
    if claim is not None:
        existing = EvidenceFile.objects.filter(claim=claim, sha256=sha256).first()
        if existing is not None:
            if _original_lost(existing):
                return _restore_original(existing, data, actor=actor)
            raise EvidenceRejected(
                "duplicate_file", _("This exact file was already submitted for this claim.")
            )
    attached_to = (
        AttachedTo.CLAIM
        if claim is not None
        else AttachedTo.PRODUCT
        if product is not None
        else AttachedTo.SHIPMENT
    )
    evidence = EvidenceFile(
        attached_to=attached_to,
        claim=claim,
        product=product,
        shipment=shipment,
        submitted_by=submitted_by,
        uploaded_by=uploaded_by,
        original_name=(original_name or "")[:255],
        sha256=sha256,
        content_type=imaging.ALLOWED_TYPES[fmt],
        size=len(data),
        width=width,
        height=height,
    )
    # Store the bytes before the short transaction; remove them only if the row is
    # refused. Once the row may have committed the bytes stay, whatever fails after.
    evidence.original.save("original", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            _save_or_remove_original(evidence, actor=actor)
            transaction.on_commit(functools.partial(_enqueue_checks, evidence.pk), robust=True)
    except IntegrityError as exc:
        raise EvidenceRejected(
            "duplicate_file", _("This exact file was already submitted for this claim.")
        ) from exc
    return evidence


def _save_or_remove_original(evidence: EvidenceFile, *, actor) -> None:
    """Insert the row and its custody record; the stored bytes go only if that fails."""
    try:
        evidence.save()
        custody.record_upload(evidence, actor=actor)
    except Exception:
        evidence.original.delete(save=False)
        raise


def _enqueue_checks(evidence_id: int) -> None:
    # The pending row is the outbox: a message the broker did not take (it is down) is
    # sent by the reconciler after CHECK_STUCK_MINUTES.
    from evidence.tasks import check_evidence_task

    check_evidence_task.delay(evidence_id)


def _original_lost(evidence: EvidenceFile) -> bool:
    """A failed file whose stored original is gone (deleted by the upload path before
    issue 9 was fixed): the same bytes uploaded again restore it."""
    return evidence.status == EvidenceFile.Status.FAILED and not (
        evidence.original and evidence.original.storage.exists(evidence.original.name)
    )


def _restore_original(evidence: EvidenceFile, data: bytes, *, actor) -> EvidenceFile:
    """Store ``data`` (same SHA-256) as the lost original of ``evidence`` and check it
    again from scratch."""
    name = evidence.original.storage.save(
        evidence.original.field.generate_filename(evidence, "original"), ContentFile(data)
    )
    with transaction.atomic():
        restored = EvidenceFile.objects.filter(
            pk=evidence.pk, status=EvidenceFile.Status.FAILED
        ).update(
            original=name,
            status=EvidenceFile.Status.PENDING,
            rejection_code="",
            rejection_message="",
            check_attempts=0,
            checking_since=None,
        )
        if restored != 1:  # restored by a concurrent upload meanwhile
            raise EvidenceRejected(
                "duplicate_file", _("This exact file was already submitted for this claim.")
            )
        custody.record_upload(evidence, actor=actor)  # the same bytes, accepted again
        transaction.on_commit(functools.partial(_enqueue_checks, evidence.pk), robust=True)
    evidence.refresh_from_db()
    return evidence


def evidence_mark_checked(
    *,
    evidence_id: int,
    phash: int | None,
    chunks: list[int] | None,
    features: bytes | None,
    display: bytes | None,
) -> None:
    """Record the derived data of a checked file (hash, cached features, display copy)."""
    evidence = EvidenceFile.objects.get(pk=evidence_id)
    if display is not None and not evidence.display:
        evidence.display.save("display.jpg", ContentFile(display), save=False)
    fields = {
        "display": evidence.display.name,
        "phash": phash,
        "features": features,
        "status": EvidenceFile.Status.CHECKED,
        "checked_at": timezone.now(),
        "checking_since": None,
    }
    if chunks is not None:
        fields.update({f"phash_{i}": value for i, value in enumerate(chunks)})
    EvidenceFile.objects.filter(pk=evidence_id).update(**fields)


def evidence_backfill_features(*, batch_size: int = 200) -> dict[str, int]:
    """Compute and store ORB features for checked files that have none (files checked
    before every file kept them: the reuse check can then confirm them by registration).

    Idempotent: only rows still without features are written; a file that no longer
    decodes is counted and left as it is."""
    from evidence.checks.reference_match import compute_features, features_to_bytes

    counts = {"stored": 0, "undecodable": 0}
    last_id = 0
    while True:
        batch = list(
            EvidenceFile.objects.filter(
                pk__gt=last_id, status=EvidenceFile.Status.CHECKED, features__isnull=True
            )
            .order_by("pk")
            .only("pk", "original")[:batch_size]
        )
        if not batch:
            return counts
        for evidence in batch:
            last_id = evidence.pk
            try:
                with evidence.original.open("rb") as handle:
                    image = imaging.decode(handle.read())
            except (imaging.ImageRejected, OSError):
                counts["undecodable"] += 1
                continue
            features = features_to_bytes(compute_features(image))
            counts["stored"] += EvidenceFile.objects.filter(
                pk=evidence.pk, features__isnull=True
            ).update(features=features)
