"""Writes of the evidence app: accepting an upload, and recording what checks found.

Uploads are validated from their bytes before anything is stored; the original is kept
byte for byte; checks are enqueued only after the row is committed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from evidence import custody, imaging, video
from evidence.models import AttachedTo, CropHash, EvidenceFile, SubmittedBy

if TYPE_CHECKING:
    from evidence.hashing import CropBox


class EvidenceRejected(ValueError):
    """The upload is refused; ``message`` tells the uploader why, ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _too_large(limit: int) -> EvidenceRejected:
    return EvidenceRejected(
        "file_too_large",
        _("The file is larger than %(limit)s MB.") % {"limit": limit // 2**20},
    )


def _read_limited(upload: IO[bytes] | bytes, limit: int | None = None) -> bytes:
    limit = imaging.MAX_BYTES if limit is None else limit
    if isinstance(upload, bytes):
        data = upload
    else:
        if hasattr(upload, "seek"):
            upload.seek(0)  # validated before, in a batch: read it whole again
        data = upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
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


@dataclass(frozen=True)
class ValidatedUpload:
    """A file that passed every check made while the uploader waits; nothing stored yet."""

    data: bytes = field(repr=False)
    name: str
    sha256: str
    content_type: str
    width: int | None
    height: int | None
    duration: float | None = None


def _attached_to(claim, product, shipment) -> str:
    if claim is not None:
        return AttachedTo.CLAIM
    return AttachedTo.PRODUCT if product is not None else AttachedTo.SHIPMENT


def _validate(
    *,
    upload: IO[bytes] | bytes,
    submitted_by: str,
    original_name: str = "",
    claim=None,
    product=None,
    shipment=None,
    uploaded_by=None,
    **_ignored,
) -> ValidatedUpload:
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
    name = (original_name or "")[:255]
    # Packing evidence may be a video (a shipment's only); everything else is a photo.
    data = _read_limited(upload, video.MAX_BYTES if shipment is not None else None)
    if shipment is not None and video.sniff(data) is not None:
        try:
            info = video.probe(data)
        except video.VideoRejected as exc:
            raise EvidenceRejected(exc.code, exc.message) from exc
        return ValidatedUpload(
            data,
            name,
            hashlib.sha256(data).hexdigest(),
            info.content_type,
            info.width,
            info.height,
            info.duration,
        )
    if len(data) > imaging.MAX_BYTES:
        raise _too_large(imaging.MAX_BYTES)
    fmt, width, height = _validate_image_header(data)
    return ValidatedUpload(
        data, name, hashlib.sha256(data).hexdigest(), imaging.ALLOWED_TYPES[fmt], width, height
    )


@custody.records_refusals
def evidence_validate(
    *,
    upload: IO[bytes] | bytes,
    submitted_by: str,
    original_name: str = "",
    claim=None,
    product=None,
    shipment=None,
    uploaded_by=None,
    actor=None,
) -> ValidatedUpload:
    """Check one upload for a claim, a product or a shipment as :func:`evidence_add`
    would, and store nothing: the type from its bytes, its size and pixels (a shipment's
    video: container, codec, duration, resolution), and for a claim who may add it now.
    Raises :class:`EvidenceRejected` with a clear reason (recorded in the chain of
    custody, by ``actor``); returns the bytes and facts :func:`evidence_add_batch`
    attaches."""
    return _validate(
        upload=upload,
        submitted_by=submitted_by,
        original_name=original_name,
        claim=claim,
        product=product,
        shipment=shipment,
        uploaded_by=uploaded_by,
    )


def _new_file(valid: ValidatedUpload, *, submitted_by, claim, product, shipment, uploaded_by):
    return EvidenceFile(
        attached_to=_attached_to(claim, product, shipment),
        claim=claim,
        product=product,
        shipment=shipment,
        submitted_by=submitted_by,
        uploaded_by=uploaded_by,
        original_name=valid.name,
        sha256=valid.sha256,
        content_type=valid.content_type,
        size=len(valid.data),
        width=valid.width,
        height=valid.height,
        duration=valid.duration,
    )


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
    target = {"claim": claim, "product": product, "shipment": shipment}
    valid = _validate(
        upload=upload,
        submitted_by=submitted_by,
        original_name=original_name,
        uploaded_by=uploaded_by,
        **target,
    )
    if claim is not None:
        existing = EvidenceFile.objects.filter(claim=claim, sha256=valid.sha256).first()
        if existing is not None:
            if _original_lost(existing):
                return _restore_original(existing, valid.data, actor=actor)
            raise EvidenceRejected(
                "duplicate_file", _("This exact file was already submitted for this claim.")
            )
    evidence = _new_file(valid, submitted_by=submitted_by, uploaded_by=uploaded_by, **target)
    # Store the bytes before the short transaction; remove them only if the row is
    # refused. Once the row may have committed the bytes stay, whatever fails after.
    evidence.original.save("original", ContentFile(valid.data), save=False)
    try:
        with transaction.atomic():
            _save_or_remove_original(evidence, actor=actor)
            transaction.on_commit(
                functools.partial(_enqueue_checks, evidence.pk, evidence.content_type),
                robust=True,
            )
    except IntegrityError as exc:
        raise EvidenceRejected(
            "duplicate_file", _("This exact file was already submitted for this claim.")
        ) from exc
    return evidence


# --- Batches: every file or none --------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """One refused file of a batch: its name, and why (``code`` stable, ``message`` shown)."""

    name: str
    code: str
    message: str
    index: int = 0  # the file's place in the batch


@dataclass
class BatchResult:
    """What a batch did: files attached now, files that were already attached (the same
    bytes on the same claim, product or shipment: picking one again is no error) and,
    when the batch may be partly accepted, the refused files."""

    added: list[EvidenceFile] = field(default_factory=list)
    already: list[EvidenceFile] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    outcome: Any = None  # what ``then`` returned

    @property
    def files(self) -> list[EvidenceFile]:
        return [*self.already, *self.added]


class BatchRejected(EvidenceRejected):
    """A batch was refused as a whole: ``refusals`` names each refused file and its
    reason; nothing of the batch was kept."""

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        super().__init__(
            refusals[0].code,
            "; ".join(f"{r.name}: {r.message}" if r.name else r.message for r in refusals),
        )


def _already_attached(target: dict, hashes: set[str]) -> dict[str, EvidenceFile]:
    kind = next(key for key, value in target.items() if value is not None)
    rows = EvidenceFile.objects.filter(sha256__in=hashes, **{kind: target[kind]})
    if kind != "claim":
        rows = rows.filter(retired_at__isnull=True)
    return {row.sha256: row for row in rows.order_by("pk")}


def evidence_add_batch(
    *,
    uploads: Sequence[tuple[IO[bytes] | bytes, str]],
    submitted_by: str,
    claim=None,
    product=None,
    shipment=None,
    uploaded_by=None,
    actor=None,
    all_or_nothing: bool = True,
    then: Callable[[], Any] | None = None,
) -> BatchResult:
    """Attach several files (``(upload, name)`` pairs) to one claim, product or shipment.

    Every file is validated first (:func:`evidence_validate`). With ``all_or_nothing``
    (the pages) one refused file refuses the batch (:class:`BatchRejected`, naming each
    refused file with its reason) and nothing is stored; else (the API) the accepted
    files are attached and the refused ones listed. A file whose bytes are already
    attached to the same target (a current photo, for a product or a shipment) is
    reported as already there, never as an error. ``then`` runs in the transaction that
    inserts the rows (the merchant's answer that the files go with): if it raises,
    nothing of the batch is kept and its exception propagates."""
    target = {"claim": claim, "product": product, "shipment": shipment}
    valid: list[ValidatedUpload] = []
    refused: list[Refusal] = []
    for index, (upload, name) in enumerate(uploads):
        try:
            valid.append(
                evidence_validate(
                    upload=upload,
                    submitted_by=submitted_by,
                    original_name=name,
                    uploaded_by=uploaded_by,
                    actor=actor,
                    **target,
                )
            )
        except EvidenceRejected as exc:
            refused.append(Refusal(name, exc.code, exc.message, index))
    if refused and (all_or_nothing or not valid):
        raise BatchRejected(refused)
    unique = list({v.sha256: v for v in valid}.values())  # the same file picked twice
    existing = _already_attached(target, {v.sha256 for v in unique})
    result = BatchResult(refused=refused)
    for found in existing.values():
        if claim is not None and _original_lost(found):
            data = next(v.data for v in unique if v.sha256 == found.sha256)
            found = _restore_original(found, data, actor=actor)
        result.already.append(found)
    new = [
        _new_file(v, submitted_by=submitted_by, uploaded_by=uploaded_by, **target)
        for v in unique
        if v.sha256 not in existing
    ]
    by_hash = {v.sha256: v for v in unique}
    stored: list[EvidenceFile] = []
    try:
        for evidence in new:  # the bytes first, outside the transaction
            evidence.original.save(
                "original", ContentFile(by_hash[evidence.sha256].data), save=False
            )
            stored.append(evidence)
        with transaction.atomic():
            if claim is not None and then is not None:
                # The project's one lock order: the claim's row, then the audit chain
                # (which the custody records take): ``then`` answers the claim.
                list(type(claim).objects.select_for_update().filter(pk=claim.pk).values("pk"))
            for evidence in new:
                evidence.save()
                custody.record_upload(evidence, actor=actor)
                transaction.on_commit(
                    functools.partial(_enqueue_checks, evidence.pk, evidence.content_type),
                    robust=True,
                )
            if then is not None:
                result.outcome = then()
    except Exception as exc:
        for evidence in stored:
            evidence.original.delete(save=False)
        if isinstance(exc, IntegrityError):
            raise EvidenceRejected(
                "duplicate_file", _("This exact file was already submitted for this claim.")
            ) from exc
        raise
    result.added = new
    return result


def _save_or_remove_original(evidence: EvidenceFile, *, actor) -> None:
    """Insert the row and its custody record; the stored bytes go only if that fails."""
    try:
        evidence.save()
        custody.record_upload(evidence, actor=actor)
    except Exception:
        evidence.original.delete(save=False)
        raise


def _enqueue_checks(evidence_id: int, content_type: str | None = None) -> None:
    # The pending row is the outbox: a message the broker did not take (it is down) is
    # sent by the reconciler after CHECK_STUCK_MINUTES.
    from evidence.tasks import enqueue_checks

    enqueue_checks(evidence_id, content_type=content_type)


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
    crops: list[tuple[CropBox, int]] = (),
) -> None:
    """Record the derived data of a checked file (hash, cached features, display copy;
    for a claim photo, the hashes of its crops: ``hashing.crop_hashes``)."""
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
    with transaction.atomic():
        EvidenceFile.objects.filter(pk=evidence_id).update(**fields)
        _store_crop_hashes(evidence, crops)


def _store_crop_hashes(evidence: EvidenceFile, crops: list[tuple[CropBox, int]]) -> None:
    from evidence.hashing import crop_hash_chunks

    if evidence.attached_to != AttachedTo.CLAIM or not crops:
        return
    CropHash.objects.filter(evidence=evidence).delete()  # checked again: the new hashes
    CropHash.objects.bulk_create(
        CropHash(
            evidence=evidence,
            percent=box.percent,
            top=box.top,
            bottom=box.bottom,
            left=box.left,
            right=box.right,
            phash=value,
            **{f"chunk_{i}": chunk for i, chunk in enumerate(crop_hash_chunks(value))},
        )
        for box, value in crops
    )


def evidence_backfill_features(*, batch_size: int = 200) -> dict[str, int]:
    """Compute and store what checked files kept since they were checked: ORB features
    for files that have none (files checked before every file kept them: the reuse check
    can then confirm them by registration) and the crop hashes of claim photos that lack
    some of :data:`evidence.hashing.CROP_BOXES` (checked before the index kept them, or
    only their centred crops: a picture cut from them is then found).

    Idempotent: only what is still missing is written; a file that no longer decodes is
    counted and left as it is."""
    from evidence.checks.reference_match import compute_features, features_to_bytes
    from evidence.hashing import CROP_BOXES, crop_hashes

    counts = {"stored": 0, "crops": 0, "undecodable": 0}
    missing = Q(features__isnull=True) | (
        Q(attached_to=AttachedTo.CLAIM, phash__isnull=False) & ~Q(crop_count=len(CROP_BOXES))
    )
    last_id = 0
    while True:
        batch = list(
            EvidenceFile.objects.annotate(crop_count=Count("crop_hashes"))
            .filter(missing, pk__gt=last_id, status=EvidenceFile.Status.CHECKED)
            .order_by("pk")
            .only("pk", "original", "attached_to", "features", "phash")[:batch_size]
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
            if evidence.features is None:
                features = features_to_bytes(compute_features(image))
                counts["stored"] += EvidenceFile.objects.filter(
                    pk=evidence.pk, features__isnull=True
                ).update(features=features)
            if evidence.attached_to == AttachedTo.CLAIM and evidence.phash is not None:
                with transaction.atomic():
                    stored = CropHash.objects.filter(evidence=evidence).values_list(
                        "top", "bottom", "left", "right"
                    )
                    if set(stored) != set(CROP_BOXES):
                        _store_crop_hashes(evidence, crop_hashes(image))
                        counts["crops"] += 1


# --- Settings every platform shares ---------------------------------------------------------


def deployment_setting_save(row, problems: dict[str, str], *, user):
    """Save a row of a setting every platform shares (a weight, a threshold, a
    rationale template) for the deployment's operator
    (``policy.can_change_deployment_settings``) when ``problems`` is empty; raises
    ``ValidationError`` by field otherwise, nothing written."""
    from django.core.exceptions import ValidationError

    from refunds import policy

    policy.enforce(policy.can_change_deployment_settings(user))
    if problems:
        raise ValidationError(problems)
    row.save()
    return row


def scoring_weight_save(*, weight, user):
    """Save a scoring weight (new or changed) for the deployment's operator
    (``policy.can_change_deployment_settings``) after ``scoring.weight_problems`` finds
    nothing wrong; raises ``ValidationError`` by field otherwise, nothing written. The
    weight counts from the next time a claim is scored."""
    from evidence import scoring

    return deployment_setting_save(weight, scoring.weight_problems(weight), user=user)


def scoring_threshold_save(*, threshold, user):
    """Save a scoring threshold, as :func:`scoring_weight_save` (``threshold_problems``);
    it is read at once by the pages and the next scoring."""
    from evidence import scoring

    return deployment_setting_save(threshold, scoring.threshold_problems(threshold), user=user)


def deployment_setting_delete(*, row, user) -> None:
    """Delete such a row (a weight's or threshold's default applies again; decisions
    made with a template keep their text)."""
    from refunds import policy

    policy.enforce(policy.can_change_deployment_settings(user))
    row.delete()
