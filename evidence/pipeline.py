"""Orchestration of the checks on one file: decode once, run every applicable check
outside any transaction, then record the results in one short transaction.

Idempotent: a (file, check, version) that already finished is not run again; a new
check version runs; a run left half-done by a killed worker is redone.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from evidence import custody, imaging, selectors, verdicts
from evidence.checks.base import (
    Check,
    CheckContext,
    FindingData,
    ReferencePhoto,
    Severity,
    SimilarImage,
)
from evidence.checks.registry import all_checks
from evidence.models import CheckRun, EvidenceFile, EvidenceVerdict, Finding, FindingArtifact
from evidence.scoring import weight_table

log = logging.getLogger(__name__)
DONE_STATUSES = (CheckRun.Status.DONE, CheckRun.Status.ERROR, CheckRun.Status.SKIPPED)
# Checks started on one file before it is given up: a check that kills its worker (a
# decoder crash, the OOM killer) is delivered again with acks_late, and would be forever.
MAX_CHECK_ATTEMPTS = 3

# What the client reads on a failed file (msgids, stored like rejection messages); the
# details, which may name server paths, go to the log only.
CHECKS_FAILED = "checks_failed"
CHECKS_GAVE_UP = "checks_gave_up"
FAILURE_MESSAGES = {
    CHECKS_FAILED: gettext_noop(
        "The automated checks could not be completed on this file. It says nothing about the photo."
    ),
    CHECKS_GAVE_UP: gettext_noop(
        "The automated checks stopped on this file several times and were not tried again. "
        "It says nothing about the photo."
    ),
}


@dataclass
class CheckOutcome:
    check: Check
    status: str
    findings: list[FindingData] = field(default_factory=list)
    started_at: object = None
    duration_ms: float = 0.0
    error: str = ""
    # CPU time of this process in the check: what it costs, whatever else held the core.
    cpu_ms: float = 0.0


def claim_for_checking(evidence_id: int) -> EvidenceFile | None:
    """Compare-and-set the file to ``checking`` and count the attempt; None when it is
    already settled or has used up its attempts."""
    updated = EvidenceFile.objects.filter(
        pk=evidence_id, status__in=selectors.UNSETTLED, check_attempts__lt=MAX_CHECK_ATTEMPTS
    ).update(
        status=EvidenceFile.Status.CHECKING,
        checking_since=timezone.now(),
        check_attempts=F("check_attempts") + 1,
    )
    if updated != 1:
        return None
    return EvidenceFile.objects.select_related("claim__order", "product", "shipment").get(
        pk=evidence_id
    )


def build_context(
    evidence: EvidenceFile,
    phash: int | None,
    chunks: list[int] | None,
    *,
    image: imaging.DecodedImage | None = None,
) -> CheckContext:
    """Everything the checks need besides the pixels, read in a handful of queries.

    With ``image``, the near-duplicate index is also asked for its mirror image."""
    context = CheckContext(submitted_by=evidence.submitted_by, attached_to=evidence.attached_to)
    claim = evidence.claim
    if claim is None:
        return context
    order = claim.order
    context.claim_id = claim.pk
    context.buyer_id = claim.buyer_id
    context.order_id = order.pk
    context.paid_at, context.shipped_at = order.paid_at, order.shipped_at
    context.delivered_at, context.claim_created_at = order.delivered_at, claim.created_at
    context.references = [
        ReferencePhoto(
            id=ref.pk,
            kind="listing" if ref.product_id else "packing",
            label=ref.product.title if ref.product_id else ref.original_name or str(ref.pk),
            features=bytes(ref.features),  # read by the check; a corrupt one is set aside
        )
        for ref in selectors.reference_files_for_order(order=order)
    ]
    context.duplicate_sha256_evidence_ids = list(
        EvidenceFile.objects.filter(sha256=evidence.sha256, attached_to="claim")
        .exclude(pk=evidence.pk)
        .values_list("pk", flat=True)[:20]
    )
    if phash is not None and chunks is not None:
        context.similar_images = _similar_images(evidence, phash, chunks, image)
    context.challenge_code, context.challenge_issued_at = _challenge_for(evidence)
    return context


def _challenge_for(evidence: EvidenceFile):
    """The one-time code a reviewer asked the buyer to photograph before this file came
    (the latest), and when it was issued; ("", None) when none was."""
    from refunds.models import EvidenceRequest

    if evidence.submitted_by == "merchant":
        return "", None
    request = (
        EvidenceRequest.objects.filter(
            claim_id=evidence.claim_id, issued_at__lte=evidence.created_at
        )
        .exclude(challenge_code="")
        .order_by("-issued_at")
        .values_list("challenge_code", "issued_at")
        .first()
    )
    return request or ("", None)


def _with_reviewer_verdicts(similar: list[SimilarImage]) -> list[SimilarImage]:
    """A file a reviewer confirmed forged (or genuine) is that, whatever its claim says;
    a file with no verdict (decided before verdicts existed) keeps its claim's flag."""
    from dataclasses import replace

    from refunds.models import ReviewerPhotoVerdict

    latest: dict[int, str] = {}
    rows = (
        ReviewerPhotoVerdict.objects.filter(evidence_id__in=[s.evidence_id for s in similar])
        .order_by("evidence_id", "-id")
        .values_list("evidence_id", "verdict")
    )
    for evidence_id, verdict in rows:
        latest.setdefault(evidence_id, verdict)
    return [
        replace(s, confirmed_forgery=latest[s.evidence_id] == "confirmed_forged")
        if s.evidence_id in latest
        else s
        for s in similar
    ]


def _similar_images(
    evidence: EvidenceFile,
    phash: int,
    chunks: list[int],
    image: imaging.DecodedImage | None,
) -> list[SimilarImage]:
    """The index's candidates from other claims, the mirrored lookup's too, with the
    stored features of those the reuse check can only accept after registration."""
    from dataclasses import replace

    from evidence.checks import reuse
    from evidence.checks.reference_match import features_from_bytes
    from evidence.hashing import mirrored_phash

    lookups = [(phash, chunks, False)]
    if image is not None:
        lookups.append((mirrored_phash(image), None, True))
    similar = [
        SimilarImage(
            evidence_id=other.pk,
            claim_id=other.claim_id,
            buyer_id=other.claim.buyer_id if other.claim_id else None,
            order_id=other.claim.order_id if other.claim_id else None,
            distance=distance,
            confirmed_forgery=bool(other.claim_id and other.claim.confirmed_forgery),
            same_sha256=other.sha256 == evidence.sha256 and not mirrored,
            mirrored=mirrored,
            crop_percent=other.crop_percent,
        )
        for value, value_chunks, mirrored in lookups
        for other, distance in selectors.near_duplicates(
            phash=value, chunks=value_chunks, exclude_id=evidence.pk
        )
        if other.claim_id != evidence.claim_id
    ]
    similar = _with_reviewer_verdicts(similar)
    similar.sort(key=lambda c: (c.distance, c.mirrored, c.evidence_id))
    to_register = [c for c in similar if reuse.needs_registration(c)][: reuse.MAX_REGISTRATIONS]
    if not to_register:
        return similar
    features = {}
    for pk, blob in EvidenceFile.objects.filter(
        pk__in={c.evidence_id for c in to_register}, features__isnull=False
    ).values_list("pk", "features"):
        try:
            features[pk] = features_from_bytes(blob)
        except (ValueError, KeyError, OSError, EOFError):
            log.warning("unreadable stored features of evidence %s", pk)
    registered = {id(c) for c in to_register}
    return [
        replace(c, features=features[c.evidence_id])
        if id(c) in registered and c.evidence_id in features
        else c
        for c in similar
    ]


def run_checks(
    image: imaging.DecodedImage,
    context: CheckContext,
    skip: set[tuple[str, int]] | frozenset = frozenset(),
) -> list[CheckOutcome]:
    """Run every applicable check; a check that raises becomes an error outcome."""
    outcomes = []
    for check in all_checks():
        if (check.name, check.version) in skip:
            continue
        started_at, t0, cpu0 = timezone.now(), time.perf_counter(), time.process_time()
        if not check.applies_to(image, context):
            outcomes.append(CheckOutcome(check, CheckRun.Status.SKIPPED, started_at=started_at))
            continue
        try:
            findings = check.run(image, context)
            status, error = CheckRun.Status.DONE, ""
        except Exception as exc:  # noqa: BLE001 - a broken check must not take the claim down
            log.exception("check %s failed", check.name)
            findings = [
                FindingData(
                    code="check_error",
                    severity=Severity.ERROR,
                    message=gettext_noop(
                        "The automated check “%(check)s” could not run on this file. "
                        "It says nothing about the photo."
                    ),
                    params={"check": check.name},
                    details={"error": f"{type(exc).__name__}: {str(exc)[:300]}"},
                )
            ]
            status = CheckRun.Status.ERROR
            error = traceback.format_exc(limit=5)[-2000:]
        outcomes.append(
            CheckOutcome(
                check,
                status,
                findings,
                started_at,
                (time.perf_counter() - t0) * 1000,
                error,
                (time.process_time() - cpu0) * 1000,
            )
        )
    return outcomes


def _save_outcomes(evidence: EvidenceFile, outcomes: list[CheckOutcome]) -> None:
    weights = weight_table()
    # Artifact files are written before the transaction (no slow I/O while holding locks).
    stored_artifacts: dict[tuple[int, int], list[tuple[str, str, str]]] = {}
    for index, outcome in enumerate(outcomes):
        for f_index, finding in enumerate(outcome.findings):
            for artifact in finding.artifacts:
                stored = FindingArtifact(name=artifact.name, caption=artifact.caption)
                stored.image.save("a.png", ContentFile(artifact.png), save=False)
                stored_artifacts.setdefault((index, f_index), []).append(
                    (artifact.name, artifact.caption, stored.image.name)
                )
    with transaction.atomic():
        # A handful of statements for the whole file, not a few per check and finding.
        if outcomes:
            redone = Q()
            for outcome in outcomes:
                redone |= Q(check_name=outcome.check.name, check_version=outcome.check.version)
            CheckRun.objects.filter(redone, evidence=evidence).delete()
        finished_at = timezone.now()
        runs = CheckRun.objects.bulk_create(
            CheckRun(
                evidence=evidence,
                check_name=outcome.check.name,
                check_version=outcome.check.version,
                status=outcome.status,
                started_at=outcome.started_at,
                finished_at=finished_at,
                duration_ms=round(outcome.duration_ms, 2),
                error=outcome.error,
            )
            for outcome in outcomes
        )
        found = [
            (index, f_index, data)
            for index, outcome in enumerate(outcomes)
            for f_index, data in enumerate(outcome.findings)
        ]
        findings = Finding.objects.bulk_create(
            Finding(
                check_run=runs[index],
                evidence=evidence,
                claim_id=evidence.claim_id,
                code=data.code,
                severity=str(data.severity),
                weight=0 if data.severity == Severity.ERROR else weights.get(data.code, 0),
                message=data.message,
                params=data.params,
                details=data.details,
                related_evidence_id=data.related_reference_id or data.related_evidence_id,
            )
            for index, f_index, data in found
        )
        FindingArtifact.objects.bulk_create(
            FindingArtifact(finding=finding, name=n, caption=c, image=path)
            for finding, (index, f_index, _data) in zip(findings, found, strict=True)
            for n, c, path in stored_artifacts.get((index, f_index), [])
        )
        if evidence.attached_to == "claim":  # the checks do not run on references
            record_verdict(evidence.pk)


def record_verdict(
    evidence_id: int,
    *,
    failed_message: str = "",
    run_model=CheckRun,
    finding_model=Finding,
    verdict_model=EvidenceVerdict,
) -> str:
    """Compute the file's verdict from its findings (each check's newest version) and
    store it as the current one; the same rules and versions again update their row, new
    ones add a row. Call inside the transaction that wrote the findings. The backfill
    migration passes its historical models. Returns the verdict code."""
    versions = verdicts.check_versions(
        run_model.objects.filter(evidence_id=evidence_id).values_list("check_name", "check_version")
    )
    rows = [
        verdicts.FindingRow(
            code=f["code"],
            severity=f["severity"],
            weight=f["weight"],
            message=f["message"],
            params=f["params"] or {},
            finding_id=f["pk"],
            check_name=f["check_run__check_name"],
            check_version=f["check_run__check_version"],
        )
        for f in finding_model.objects.filter(evidence_id=evidence_id)
        .order_by("id")
        .values(
            "pk",
            "code",
            "severity",
            "weight",
            "message",
            "params",
            "check_run__check_name",
            "check_run__check_version",
        )
    ]
    verdict = verdicts.decide(
        verdicts.latest_versions(rows, versions), failed_message=failed_message
    )
    key = verdicts.version_key(versions) + (";failed" if failed_message else "")
    verdict_model.objects.filter(evidence_id=evidence_id, is_current=True).exclude(
        version_key=key
    ).update(is_current=False)
    verdict_model.objects.update_or_create(
        evidence_id=evidence_id,
        version_key=key,
        defaults={
            "verdict": verdict.code,
            "reasons": verdict.reasons,
            "rules_version": verdicts.RULES_VERSION,
            "check_versions": versions,
            "is_current": True,
        },
    )
    return verdict.code


def _record_rejection(evidence: EvidenceFile, exc: imaging.ImageRejected) -> None:
    outcome = CheckOutcome(
        check=_IngestCheck(),
        status=CheckRun.Status.DONE,
        started_at=timezone.now(),
        findings=[
            FindingData(
                code="file_rejected",
                severity=Severity.MEDIUM,
                message=gettext_noop("This file could not be read as a photo: %(reason)s"),
                params={"reason": str(exc)},
                details={"rejection_code": exc.code},
            )
        ],
    )
    _save_outcomes(evidence, [outcome])
    EvidenceFile.objects.filter(pk=evidence.pk).update(
        status=EvidenceFile.Status.REJECTED,
        rejection_code=exc.code,
        rejection_message=str(exc),
        checked_at=timezone.now(),
        checking_since=None,
    )
    custody.record_check_outcome(evidence.pk)


class _IngestCheck(Check):
    name = "ingest"
    version = 1
    codes = {}


def check_evidence(evidence_id: int) -> str:
    """Check one file end to end. Returns what happened (for logs and tests)."""
    from evidence.checks.reference_match import compute_features, features_to_bytes
    from evidence.hashing import crop_hashes, hash_chunks, phash
    from evidence.services import evidence_mark_checked

    evidence = claim_for_checking(evidence_id)
    if evidence is None:
        if EvidenceFile.objects.filter(pk=evidence_id, status__in=selectors.UNSETTLED).exists():
            mark_failed(
                evidence_id,
                f"{MAX_CHECK_ATTEMPTS} check attempts started and none finished",
                code=CHECKS_GAVE_UP,
            )
            return "gave up"
        return "already settled"
    if evidence.claim_id:
        from refunds.services import claim_evaluate

        claim_evaluate(claim_id=evidence.claim_id)  # the claim is now "checking"
    with evidence.original.open("rb") as handle:
        data = handle.read()
    try:
        image = imaging.decode(data)
    except imaging.ImageRejected as exc:
        _record_rejection(evidence, exc)
        _after(evidence)
        return "rejected"
    image_hash = phash(image)
    chunks = hash_chunks(image_hash)
    context = build_context(evidence, image_hash, chunks, image=image)
    done = set(
        CheckRun.objects.filter(evidence=evidence, status__in=DONE_STATUSES).values_list(
            "check_name", "check_version"
        )
    )
    outcomes = run_checks(image, context, skip=done)
    # Every file keeps its features: references are matched against them, and the
    # reuse check registers a claim photo against its near-duplicates' stored ones.
    # Memoised on ``image``, so free once reference_match has run.
    features = features_to_bytes(compute_features(image))
    display = imaging.display_copy(image)  # from the same decode, not the bytes
    _save_outcomes(evidence, outcomes)
    evidence_mark_checked(
        evidence_id=evidence.pk,
        phash=image_hash,
        chunks=chunks,
        features=features,
        display=display,
        crops=crop_hashes(image) if evidence.claim_id else [],
    )
    _after(evidence)
    return "checked"


def _after(evidence: EvidenceFile) -> None:
    if evidence.claim_id:
        from refunds.services import claim_evaluate

        claim_evaluate(claim_id=evidence.claim_id)


def mark_failed(evidence_id: int, error: str, *, code: str = CHECKS_FAILED) -> None:
    """Terminal state when checking cannot succeed: the claim must not wait for it forever.

    ``error`` is logged, never stored: the file keeps the generic message of ``code``."""
    log.error("evidence %s: checks failed (%s): %s", evidence_id, code, error)
    with transaction.atomic():
        failed = EvidenceFile.objects.filter(pk=evidence_id, status__in=selectors.UNSETTLED).update(
            status=EvidenceFile.Status.FAILED,
            rejection_code=code,
            rejection_message=FAILURE_MESSAGES[code],
            checking_since=None,
        )
        if failed and EvidenceFile.objects.filter(pk=evidence_id, attached_to="claim").exists():
            record_verdict(evidence_id, failed_message=FAILURE_MESSAGES[code])
    custody.record_check_outcome(evidence_id)
    claim_id = (
        EvidenceFile.objects.filter(pk=evidence_id).values_list("claim_id", flat=True).first()
    )
    if claim_id:
        from refunds.services import claim_evaluate

        claim_evaluate(claim_id=claim_id)


def stuck_evidence_ids(*, older_than_minutes: int) -> list[int]:
    """Files pending or checking for longer than the limit (a worker died, a broker lost
    the message): the reconciler enqueues them again."""
    limit = timezone.now() - dt.timedelta(minutes=older_than_minutes)
    return list(
        EvidenceFile.objects.filter(
            Q(status=EvidenceFile.Status.PENDING, created_at__lt=limit)
            | Q(status=EvidenceFile.Status.CHECKING, checking_since__lt=limit)
        ).values_list("pk", flat=True)[:500]
    )
