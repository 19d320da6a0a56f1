"""Per-queue counters of the claims waiting for a reviewer
(:class:`refunds.models.QueueWaitingCount`): what they count, how a move is appended,
compacted, rebuilt and checked, and how the queues overview reads them.

A claim *waits* when it is in review or appealed and nobody holds it (the predicate of
``claims_awaiting_review``: the ``claim_take_next`` index's, and ``held_by IS NULL`` on
the rows it yields). Its counter key is its
platform, queue, status and the hour of its review deadline: the hour lets "overdue"
(deadline before now) be read from the counters for every hour already past, and
counted from the index only for the claims due earlier in the current hour.

Only :mod:`refunds.lifecycle` appends (:func:`count_moves`), from the functions that
write a claim's status, holder, queue or review deadline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Case, Count, Sum, Value, When
from django.db.models.functions import Trunc
from django.utils import timezone

from refunds.models import ClaimStatus as S
from refunds.models import QueueWaitingCount, RefundClaim

WAITING_STATUSES = (S.IN_REVIEW, S.APPEALED)
# Fields whose change can move a claim in or out of a counter.
KEY_FIELDS = frozenset({"status", "held_by", "held_by_id", "queue", "queue_id", "review_deadline"})
# Every hour already past, once compacted: overdue whatever the time now.
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

Key = tuple[int, int | None, str, dt.datetime | None]


def hour_of(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def waiting_key(claim: RefundClaim) -> Key | None:
    """The counter a claim is counted in, from its current fields; None: it does not wait."""
    if claim.status not in WAITING_STATUSES or claim.held_by_id is not None:
        return None
    return (claim.tenant_id, claim.queue_id, claim.status, hour_of(claim.review_deadline))


def count_moves(moves: Iterable[tuple[Key | None, Key | None]]) -> None:
    """Append the deltas of ``(counted before, counted now)`` moves: one INSERT whatever
    the batch, none when nothing moved; no row updated, so no writer waits for another."""
    deltas: dict[Key, int] = {}
    for before, after in moves:
        if before == after:
            continue
        for key, step in ((before, -1), (after, +1)):
            if key is not None:
                deltas[key] = deltas.get(key, 0) + step
    rows = [
        QueueWaitingCount(
            tenant_id=tenant_id, queue_id=queue_id, status=status, deadline_hour=hour, count=n
        )
        for (tenant_id, queue_id, status, hour), n in deltas.items()
        if n
    ]
    if rows:
        QueueWaitingCount.objects.bulk_create(rows)


def _waiting_claims():
    return RefundClaim.objects.filter(status__in=WAITING_STATUSES, held_by__isnull=True)


def _recount(*, now: dt.datetime | None = None) -> list[QueueWaitingCount]:
    """The counters as the claims waiting now give them, compacted (the hours before the
    current one as :data:`PAST`)."""
    current = hour_of(now or timezone.now())
    past = Case(
        When(review_deadline__lt=current, then=Value(PAST)),
        default=Trunc("review_deadline", "hour", tzinfo=dt.UTC),
    )
    rows = (
        _waiting_claims()
        .order_by()
        .values("tenant_id", "queue_id", "status")
        .annotate(hour=past, n=Count("*"))
    )
    return [
        QueueWaitingCount(
            tenant_id=row["tenant_id"],
            queue_id=row["queue_id"],
            status=row["status"],
            deadline_hour=row["hour"],
            count=row["n"],
        )
        for row in rows
    ]


def compact(*, now: dt.datetime | None = None) -> int:
    """Fold the delta rows into one per counter, every hour before the current one into
    :data:`PAST`, zeros dropped; returns the rows written. On PostgreSQL one statement
    (it deletes the rows it sums: a delta committed meanwhile stays for the next run);
    SQLite's writers are serialised, so there a read, a delete and an insert."""
    current = hour_of(now or timezone.now())
    table = QueueWaitingCount._meta.db_table
    columns = "tenant_id, queue_id, status"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH gone AS (DELETE FROM {table} RETURNING {columns}, deadline_hour, count), "  # noqa: S608
                "folded AS (SELECT *, CASE WHEN deadline_hour < %s THEN %s "
                "ELSE deadline_hour END AS hour FROM gone) "
                f"INSERT INTO {table} ({columns}, deadline_hour, count) "
                f"SELECT {columns}, hour, sum(count) FROM folded "
                f"GROUP BY {columns}, hour HAVING sum(count) <> 0",
                [current, PAST],
            )
            return cursor.rowcount
    with transaction.atomic():
        totals: dict[Key, int] = {}
        for row in QueueWaitingCount.objects.values_list(
            "tenant_id", "queue_id", "status", "deadline_hour", "count"
        ):
            *key, hour, n = row
            folded = PAST if hour is not None and hour < current else hour
            totals[(*key, folded)] = totals.get((*key, folded), 0) + n
        QueueWaitingCount.objects.all().delete()
        QueueWaitingCount.objects.bulk_create(
            QueueWaitingCount(tenant_id=t, queue_id=q, status=s, deadline_hour=h, count=n)
            for (t, q, s, h), n in totals.items()
            if n
        )
    return sum(1 for n in totals.values() if n)


def rebuild() -> int:
    """Recount every waiting claim, in one transaction; on PostgreSQL under an exclusive
    lock of the counter table, which waits for the writers that have already counted and
    holds the others for the length of the recount (they then append their move on top:
    nothing is lost). Returns the number of counter rows written."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {QueueWaitingCount._meta.db_table} IN EXCLUSIVE MODE")
        QueueWaitingCount.objects.all().delete()
        return len(QueueWaitingCount.objects.bulk_create(_recount(), batch_size=5000))


def differences(*, now: dt.datetime | None = None) -> list[tuple[Key, int, int]]:
    """Where the counters disagree with the claims: ``(key, counted, claims)`` for every
    counter that differs (empty: exact), hours before the current one taken together as
    :data:`PAST` on both sides. A scan of every waiting claim."""
    current = hour_of(now or timezone.now())

    def fold(rows) -> dict[Key, int]:
        totals: dict[Key, int] = {}
        for tenant_id, queue_id, status, hour, n in rows:
            key = (tenant_id, queue_id, status, PAST if hour and hour < current else hour)
            totals[key] = totals.get(key, 0) + n
        return totals

    counted = fold(
        QueueWaitingCount.objects.values_list(
            "tenant_id", "queue_id", "status", "deadline_hour", "count"
        )
    )
    actual = fold(
        (row.tenant_id, row.queue_id, row.status, row.deadline_hour, row.count)
        for row in _recount()
    )
    return sorted(
        (
            (key, counted.get(key, 0), actual.get(key, 0))
            for key in set(counted) | set(actual)
            if counted.get(key, 0) != actual.get(key, 0)
        ),
        key=repr,
    )


def waiting_by_queue(
    *, queue_ids: list[int], tenant_id: int | None = None, now: dt.datetime | None = None
) -> dict[int, dict[str, int]]:
    """``{queue id: {"waiting", "appeals", "overdue"}}`` for ``queue_ids`` (claims of
    ``tenant_id`` only, when given). Two queries whatever waits: the counters' sums (a
    few rows per queue, overdue for every hour already past) and, through the
    ``claim_take_next`` index, the claims of those queues due earlier in this hour."""
    now = now or timezone.now()
    current = hour_of(now)
    counters = QueueWaitingCount.objects.filter(queue_id__in=queue_ids)
    claims = _waiting_claims().filter(
        queue_id__in=queue_ids, review_deadline__gte=current, review_deadline__lt=now
    )
    if tenant_id is not None:
        counters = counters.filter(tenant_id=tenant_id)
        claims = claims.filter(tenant_id=tenant_id)
    figures = {pk: {"waiting": 0, "appeals": 0, "overdue": 0} for pk in queue_ids}
    rows = (
        counters.order_by()
        .annotate(
            past=Case(When(deadline_hour__lt=current, then=Value(True)), default=Value(False))
        )
        .values_list("queue_id", "status", "past")
        .annotate(n=Sum("count"))
    )
    for queue_id, status, past, n in rows:
        figures[queue_id]["waiting"] += n
        if status == S.APPEALED:
            figures[queue_id]["appeals"] += n
        if past:
            figures[queue_id]["overdue"] += n
    for queue_id, n in claims.order_by().values_list("queue_id").annotate(n=Count("*")):
        figures[queue_id]["overdue"] += n
    return figures
