"""Thin Celery tasks for the evidence checks; ids in, services called, safe to run twice."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from config.outbox import OutboxTask
from evidence import pipeline, video
from evidence.models import EvidenceFile

log = logging.getLogger(__name__)
MAX_CHECK_ATTEMPTS = pipeline.MAX_CHECK_ATTEMPTS
# A database or broker connection that failed (InterfaceError: the connection died under us).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def _evidence_task(*, soft_time_limit: int, time_limit: int):
    """The options every task that checks one evidence file shares: delivered again if
    the worker dies (acks_late), retried with backoff on transient errors, bounded."""
    return shared_task(
        base=OutboxTask,
        bind=True,
        acks_late=True,
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=True,
        retry_backoff_max=120,
        max_retries=4,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
    )


def _run_for_file(task, evidence_id: int, work, what: str) -> str:
    """``work(evidence_id)``; a file deleted meanwhile is "gone", transient errors are
    raised for a retry, anything else fails the file for good."""
    try:
        return work(evidence_id)
    except EvidenceFile.DoesNotExist:
        return "gone"
    except TRANSIENT_ERRORS:
        # Retried; when the retries run out the file stays unsettled and the reconciler
        # enqueues it again (the attempts cap still bounds it): a database outage must
        # not fail files that would check fine once it is back.
        if task.request.retries >= task.max_retries:
            log.warning("evidence %s: transient errors, left to the reconciler", evidence_id)
        raise
    except Exception as exc:
        log.exception("evidence %s: %s failed", evidence_id, what)
        pipeline.mark_failed(evidence_id, f"{type(exc).__name__}: {exc}")
        raise


@_evidence_task(soft_time_limit=120, time_limit=180)
def check_evidence_task(self, evidence_id: int) -> str:
    """One photo's checks (``evidence.pipeline.check_evidence``)."""
    return _run_for_file(self, evidence_id, pipeline.check_evidence, "checks")


@_evidence_task(soft_time_limit=600, time_limit=720)
def packing_video_task(self, evidence_id: int) -> str:
    """A packing video turned into reference frames (``evidence.video``)."""
    return _run_for_file(self, evidence_id, video.packing_video_check, "packing video frames")


def enqueue_checks(evidence_id: int, *, content_type: str | None = None) -> None:
    """Send the file to the task that checks it: videos to the frame sampler, photos to
    the checks."""
    if content_type is None:
        content_type = (
            EvidenceFile.objects.filter(pk=evidence_id)
            .values_list("content_type", flat=True)
            .first()
            or ""
        )
    if content_type.startswith("video/"):
        packing_video_task.delay(evidence_id)
    else:
        check_evidence_task.delay(evidence_id)


@shared_task
def reconcile_checks_task() -> dict[str, int]:
    """Re-enqueue files stuck in pending/checking (a worker killed mid-check, a broker
    restart that lost the message, a broker down when the file was uploaded); give up on
    a file after MAX_CHECK_ATTEMPTS; then evaluate the claims a lost message left in
    ``received`` or ``checking``."""
    from refunds.services import claims_evaluate_stuck

    minutes = settings.CLAIMLENS["CHECK_STUCK_MINUTES"]
    requeued = failed = 0
    for evidence_id in pipeline.stuck_evidence_ids(older_than_minutes=minutes):
        attempts = (
            EvidenceFile.objects.filter(pk=evidence_id)
            .values_list("check_attempts", flat=True)
            .first()
        )
        if attempts is not None and attempts >= MAX_CHECK_ATTEMPTS:
            pipeline.mark_failed(
                evidence_id,
                f"stuck after {attempts} check attempts",
                code=pipeline.CHECKS_GAVE_UP,
            )
            failed += 1
        else:
            enqueue_checks(evidence_id)
            requeued += 1
    claims = claims_evaluate_stuck(older_than_minutes=minutes)
    if requeued or failed or claims:
        log.warning(
            "reconciler: %s files re-enqueued, %s failed, %s claims evaluated",
            requeued,
            failed,
            claims,
        )
    return {"requeued": requeued, "failed": failed, "claims": claims}
