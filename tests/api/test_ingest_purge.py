"""The idempotency purge in bounded batches through its age index (issue 13)."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import idempotency
from api.models import IdempotencyRecord


def _records(client, count, *, hours_old):
    at = timezone.now() - dt.timedelta(hours=hours_old)
    IdempotencyRecord.objects.bulk_create(
        IdempotencyRecord(client=client, key=f"k{hours_old}-{n}", method="POST", path="/x")
        for n in range(count)
    )
    IdempotencyRecord.objects.filter(key__startswith=f"k{hours_old}-").update(created_at=at)


def test_the_purge_deletes_expired_keys_in_batches_and_keeps_live_ones(client_a):
    _records(client_a, 5, hours_old=30)
    _records(client_a, 2, hours_old=1)

    with CaptureQueriesContext(connection) as captured:
        purged = idempotency.purge_expired(batch_size=2)

    assert purged == 5
    assert IdempotencyRecord.objects.count() == 2
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2 + 2 + 1, each bounded by its ids
    assert all(" IN (" in sql for sql in deletes)


def test_the_purge_stops_after_its_batches_and_the_next_run_continues(client_a):
    _records(client_a, 5, hours_old=30)
    assert idempotency.purge_expired(batch_size=2, max_batches=1) == 2
    assert idempotency.purge_expired(batch_size=2) == 3
    assert not IdempotencyRecord.objects.exists()
