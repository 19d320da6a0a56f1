"""Thin Celery tasks: take ids, call a service, safe to run twice."""

from celery import shared_task

from config.outbox import OutboxTask
from refunds import services, webhooks
from refunds.models import RefundClaim


@shared_task(
    base=OutboxTask,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def claim_evaluate_task(claim_id: int) -> None:
    if RefundClaim.objects.filter(pk=claim_id).exists():
        services.claim_evaluate(claim_id=claim_id)


@shared_task(
    base=OutboxTask,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def claims_evaluate_task(claim_ids: list[int]) -> None:
    """:func:`claim_evaluate_task` for several claims that arrived together (a batch):
    one message instead of one per claim. Each claim is evaluated in its own transaction;
    a claim this run leaves in ``received`` is evaluated by the reconciler."""
    for claim_id in (
        RefundClaim.objects.filter(pk__in=claim_ids).order_by("pk").values_list("pk", flat=True)
    ):
        services.claim_evaluate(claim_id=claim_id)


@shared_task
def enforce_deadlines_task() -> dict[str, int]:
    from django.utils import timezone

    from refunds.models import WebhookDelivery

    # Webhooks whose retry time has come are re-sent by the same periodic sweep.
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    ).values_list("pk", flat=True)[:200]
    for pk in due:
        deliver_webhook_task.delay(pk)
    return services.enforce_deadlines()


# Its delivery row is the outbox: when the broker is down the sweep above sends it later.
@shared_task(base=OutboxTask, soft_time_limit=30, time_limit=45)
def deliver_webhook_task(delivery_id: int) -> bool:
    return webhooks.deliver(delivery_id)


@shared_task(soft_time_limit=60, time_limit=90)
def audit_checkpoint_task() -> int | None:
    """Copy the audit chain's head out of the database (see ``refunds.audit``)."""
    from refunds import audit

    checkpoint = audit.checkpoint_write()
    return checkpoint.seq if checkpoint else None


@shared_task(soft_time_limit=50, time_limit=60)
def leases_expire_task() -> int:
    """Give back to their queues the claims whose reviewers went quiet (one bounded batch
    a run; beat runs it every minute, so a backlog drains batch by batch)."""
    return services.leases_expire()


@shared_task(soft_time_limit=240, time_limit=280)
def credit_network_refresh_task() -> int:
    """Refresh the buyer-credit network's contributions, one bounded batch a run."""
    from refunds.credit_network import credit_network_refresh

    return credit_network_refresh()


@shared_task(soft_time_limit=50, time_limit=60)
def claims_escalate_overdue_task() -> int:
    """Claims waiting past their queue's SLA move to its escalation queue, once."""
    return services.claims_escalate_overdue()


@shared_task
def claim_status_counts_compact_task() -> int:
    from refunds import lifecycle

    return lifecycle.counts_compact()


@shared_task
def queue_waiting_counts_compact_task() -> int:
    from refunds import queue_counts

    return queue_counts.compact()
