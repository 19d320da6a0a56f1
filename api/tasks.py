"""Thin periodic tasks of the API app."""

from celery import shared_task

from api import idempotency


@shared_task
def purge_idempotency_records_task() -> int:
    return idempotency.purge_expired()
