"""The chain of custody of evidence files, written to the hash-chained audit log.

Every upload (who, when, SHA-256, size, content type, the file and what it is attached
to), every refused upload (the refusal code and, when the bytes were read, their
SHA-256), every file the checks gave up on (rejected by the decoder, or failed), and every
original handed to a person is one audit event carrying the file's id
(``AuditEvent.evidence_id``), so the evidence pack can list a file's whole history and
``verify_audit`` vouches for it. Evidence pack exports are recorded by
``refunds.services.evidence_pack_export``.

Custody events name no claim (``AuditEvent.claim`` stays empty): a claim's timeline is its
lifecycle; the custody of its files is read by file. Each event also says in which
*role* its actor acted (``buyer``, ``merchant``, ``reviewer``, ``platform``, ``system``),
as it was then, so a merchant's pack can show roles instead of reviewers' names.

Display copies streamed to the pages are not recorded: every page with a photo fetches
them, they hold no metadata, and each fetch would take the audit log's global lock.
"""

from __future__ import annotations

import functools
import hashlib
import logging

from django.db import transaction

from evidence import imaging
from evidence.models import AttachedTo, EvidenceFile
from refunds import audit
from refunds.audit import Actor

log = logging.getLogger(__name__)

UPLOADED = "evidence_uploaded"
REFUSED = "evidence_refused"
REJECTED = "evidence_rejected"
CHECK_FAILED = "evidence_check_failed"
ORIGINAL_EXPORTED = "evidence_original_exported"
PACK_EXPORTED = "evidence_pack_exported"
# Refusals raised before the bytes are read, or with only part of them read.
_REFUSED_UNREAD = frozenset({"bad_submitter", "claim_closed", "file_too_large"})


def _actor(actor: Actor | None, user) -> Actor:
    if actor is not None:
        return actor
    if user is not None:
        return Actor.of_user(user)
    return Actor.system("unattributed upload")


def _target(*, claim=None, product=None, shipment=None) -> dict:
    for kind, target in (
        (AttachedTo.CLAIM, claim),
        (AttachedTo.PRODUCT, product),
        (AttachedTo.SHIPMENT, shipment),
    ):
        if target is not None:
            return {"attached_to": str(kind), "target_id": target.pk}
    return {"attached_to": "", "target_id": None}


def record_upload(evidence: EvidenceFile, *, actor: Actor | None = None) -> None:
    """The file was accepted. Call it in the transaction that inserts the row, so the
    row and its custody record commit or roll back together."""
    audit.record(
        action=UPLOADED,
        actor=_actor(actor, evidence.uploaded_by),
        evidence_id=evidence.pk,
        data={
            "file": str(evidence.uuid),
            "sha256": evidence.sha256,
            "size": evidence.size,
            "content_type": evidence.content_type,
            "attached_to": evidence.attached_to,
            "target_id": evidence.claim_id or evidence.product_id or evidence.shipment_id,
            "role": evidence.submitted_by,
        },
    )


def records_refusals(evidence_add):
    """Decorate ``evidence_add``: a refused upload (``EvidenceRejected``) is recorded
    before the refusal reaches the caller."""

    @functools.wraps(evidence_add)
    def wrapper(**kwargs):
        from evidence.services import EvidenceRejected

        try:
            return evidence_add(**kwargs)
        except EvidenceRejected as exc:
            _record_refusal(exc.code, **kwargs)
            raise

    return wrapper


def _record_refusal(
    code: str,
    *,
    upload,
    submitted_by: str,
    claim=None,
    product=None,
    shipment=None,
    uploaded_by=None,
    actor: Actor | None = None,
    **_ignored,
) -> None:
    data = {"code": code, **_target(claim=claim, product=product, shipment=shipment)}
    data["role"] = submitted_by
    read = None if code in _REFUSED_UNREAD else _read_again(upload)
    if read is not None:
        data["sha256"], data["size"] = hashlib.sha256(read).hexdigest(), len(read)
    try:
        with transaction.atomic():
            audit.record(action=REFUSED, actor=_actor(actor, uploaded_by), data=data)
    except Exception:  # noqa: BLE001 - the uploader must still get the refusal's reason
        log.exception("could not record the refusal (%s) of an upload", code)


def _read_again(upload) -> bytes | None:
    """The refused bytes, when the whole upload is at hand (``None`` otherwise)."""
    if isinstance(upload, bytes):
        data = upload
    else:
        try:
            upload.seek(0)
            data = upload.read(imaging.MAX_BYTES + 1)
        except (AttributeError, OSError, ValueError):
            return None
    return data if len(data) <= imaging.MAX_BYTES else None


def record_check_outcome(evidence_id: int) -> None:
    """The checks gave up on the file: it was rejected by the decoder, or failed for good.
    Records it once per file and outcome; does nothing for a file in any other state."""
    with transaction.atomic():
        audit.lock_chain()  # the "once" below holds against a concurrent worker
        evidence = (
            EvidenceFile.objects.filter(pk=evidence_id)
            .values("status", "sha256", "rejection_code", "rejection_message")
            .first()
        )
        if evidence is None:
            return
        status = evidence["status"]
        if status == EvidenceFile.Status.REJECTED:
            action = REJECTED
            data = {"code": evidence["rejection_code"], "sha256": evidence["sha256"]}
        elif status == EvidenceFile.Status.FAILED:
            action = CHECK_FAILED
            data = {
                "code": evidence["rejection_code"],
                "error": evidence["rejection_message"][:300],
                "sha256": evidence["sha256"],
            }
        else:
            return
        if audit.custody_events(evidence_ids=[evidence_id]).filter(action=action).exists():
            return
        data["role"] = "system"
        audit.record(
            action=action, actor=Actor.system("checks"), evidence_id=evidence_id, data=data
        )


def evidence_original_export(*, evidence: EvidenceFile, user) -> bytes:
    """The original file's bytes for ``user`` (the caller has checked that they may have
    them), recorded: who, when, and the SHA-256 of the bytes handed over, with whether it
    still equals the one taken at upload. Raises ``FileNotFoundError`` (nothing recorded)
    when the stored file is gone."""
    from refunds.policy import is_reviewer

    with evidence.original.storage.open(evidence.original.name, "rb") as handle:
        data = handle.read()
    sha256 = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        audit.record(
            action=ORIGINAL_EXPORTED,
            actor=Actor.of_user(user),
            evidence_id=evidence.pk,
            data={
                "file": str(evidence.uuid),
                "sha256": sha256,
                "size": len(data),
                "matches_upload": sha256 == evidence.sha256,
                "role": "reviewer" if is_reviewer(user) else "merchant",
            },
        )
    if sha256 != evidence.sha256:
        log.error(
            "evidence %s: the stored original no longer has its upload's SHA-256", evidence.pk
        )
    return data
