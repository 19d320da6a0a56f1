"""Thin Celery tasks of the notifications: take ids, call a service, safe to run twice."""

from celery import shared_task

from config.outbox import OutboxTask
from notifications import services


# The notification row is the outbox: when the broker is down the reconciler sends it.
@shared_task(base=OutboxTask, soft_time_limit=30, time_limit=45)
def notification_email_task(notification_id: int) -> bool:
    return services.notification_email_send(notification_id=notification_id)


@shared_task(base=OutboxTask, soft_time_limit=60, time_limit=90)
def notification_digest_task(user_id: int) -> int:
    return services.digest_send(user_id=user_id)


@shared_task(soft_time_limit=240, time_limit=300)
def deadline_reminders_task() -> int:
    """Beat: the claims whose answer is due within 12 h (bounded batches, once per claim)."""
    return services.deadline_reminders_send()


@shared_task(soft_time_limit=60, time_limit=90)
def digests_task() -> int:
    """Beat, daily: one digest task per user with notifications waiting for it."""
    users = services.digests_send_due()
    for user_id in users:
        notification_digest_task.delay(user_id)
    return len(users)


@shared_task(soft_time_limit=60, time_limit=90)
def notifications_reconcile_task() -> dict[str, int]:
    return services.notifications_reconcile()
