"""Thin Celery tasks for the evidence checks; ids in, services called, safe to run twice."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from evidence import pipeline
from evidence.models import EvidenceFile

log = logging.getLogger(__name__)
MAX_CHECK_ATTEMPTS = 3


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=4,
    soft_time_limit=120,
    time_limit=180,
)
def check_evidence_task(self, evidence_id: int) -> str:
    try:
        return pipeline.check_evidence(evidence_id)
    except EvidenceFile.DoesNotExist:
        return "gone"
    except Exception as exc:
        if self.request.retries >= self.max_retries or not isinstance(
            exc, (OperationalError, ConnectionError, TimeoutError)
        ):
            pipeline.mark_failed(evidence_id, f"{type(exc).__name__}: {exc}")
        raise


@shared_task
def reconcile_checks_task() -> dict[str, int]:
    """Re-enqueue files stuck in pending/checking (a worker killed mid-check, a broker
    restart that lost the message); give up on a file after MAX_CHECK_ATTEMPTS."""
    minutes = settings.CLAIMLENS["CHECK_STUCK_MINUTES"]
    requeued = failed = 0
    for evidence_id in pipeline.stuck_evidence_ids(older_than_minutes=minutes):
        attempts = (
            EvidenceFile.objects.filter(pk=evidence_id)
            .values_list("check_attempts", flat=True)
            .first()
        )
        if attempts is not None and attempts >= MAX_CHECK_ATTEMPTS:
            pipeline.mark_failed(evidence_id, "checks did not finish after several attempts")
            failed += 1
        else:
            check_evidence_task.delay(evidence_id)
            requeued += 1
    if requeued or failed:
        log.warning("reconciler: %s re-enqueued, %s failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}
