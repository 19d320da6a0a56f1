"""Celery tasks whose work is already recorded in the database.

An evidence file waiting in ``pending``, a claim in ``received``, a webhook delivery in
``pending``: each row is its own outbox, and a periodic sweep (the evidence reconciler,
the deadline sweep) enqueues whatever is still waiting. Publishing such a task is
therefore best effort: when the broker cannot be reached the request that committed the
row must still succeed, so the failure is logged and the sweep sends the task later.
"""

from __future__ import annotations

import logging

from celery import Task
from kombu.exceptions import OperationalError as BrokerUnreachable

log = logging.getLogger(__name__)


class OutboxTask(Task):
    def apply_async(self, args=None, kwargs=None, *more, **options):
        try:
            return super().apply_async(args, kwargs, *more, **options)
        except BrokerUnreachable as exc:
            log.warning(
                "broker unreachable, %s%s not sent now; the periodic sweep sends it: %s",
                self.name,
                tuple(args or ()),
                exc,
            )
            return None
