"""The claim lifecycle: the one table of legal transitions and the one function that
performs them.

``transition`` locks the claim row, refuses an illegal move with
:class:`IllegalTransition` (nothing written), applies the field updates, writes the
hash-chained audit event, appends the claim's move to the per-shop status counters
(:class:`refunds.models.ClaimStatusCount`) and to the per-queue waiting counters
(:mod:`refunds.queue_counts`) and schedules the webhook, all in one short transaction.
:func:`transition_many` does the same for a batch; :func:`count_created` counts a new
claim in the transaction that creates it; :func:`claim_change` is the one writer of a
claim's holder, queue or review deadline outside a transition (a take, a release, a
lease's expiry, a queue move), so the waiting counters see every move.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from refunds import audit, queue_counts, webhooks
from refunds.exceptions import IllegalTransition
from refunds.models import ClaimStatus as S
from refunds.models import ClaimStatusCount, RefundClaim

TRANSITIONS: dict[str, frozenset[str]] = {
    S.RECEIVED: frozenset({S.CHECKING, S.WITHDRAWN}),
    S.CHECKING: frozenset({S.AWAITING_MERCHANT, S.IN_REVIEW, S.WITHDRAWN}),
    S.AWAITING_MERCHANT: frozenset({S.IN_REVIEW, S.DECIDED, S.AWAITING_BUYER, S.WITHDRAWN}),
    S.AWAITING_BUYER: frozenset({S.CHECKING, S.IN_REVIEW, S.WITHDRAWN}),
    S.IN_REVIEW: frozenset({S.DECIDED, S.AWAITING_BUYER, S.WITHDRAWN}),
    S.DECIDED: frozenset({S.APPEALED, S.CLOSED}),
    S.APPEALED: frozenset({S.DECIDED}),
    S.CLOSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

OPEN_STATUSES = frozenset(set(S.values) - {S.CLOSED, S.WITHDRAWN})


def is_legal(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def transition(
    claim: RefundClaim | int,
    *,
    to: str,
    actor: audit.Actor,
    action: str,
    reason: str = "",
    expected_from: frozenset[str] | set[str] | None = None,
    updates: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> RefundClaim:
    """Move a claim to ``to``. Returns the updated, locked-and-saved claim.

    ``expected_from`` narrows the legal sources for this business action (e.g. a
    merchant may accept only while ``awaiting_merchant``).
    """
    claim_id = claim if isinstance(claim, int) else claim.pk
    with transaction.atomic():
        locked = RefundClaim.objects.select_for_update().get(pk=claim_id)
        source = locked.status
        if (expected_from is not None and source not in expected_from) or not is_legal(source, to):
            raise IllegalTransition(
                IllegalTransition.default_message + f" ({S(source).label} → {S(to).label})"
            )
        fields = {"status": to, **(updates or {})}
        waited = queue_counts.waiting_key(locked)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*fields, "updated_at"])
        _count_moves([(locked, source, to)])
        queue_counts.count_moves([(waited, queue_counts.waiting_key(locked))])
        audit.record(
            action=action,
            actor=actor,
            claim=locked,
            from_status=source,
            to_status=to,
            reason=reason,
            data=data,
        )
        webhooks.emit_claim_event(locked, "claim.status_changed", {"from": source, "to": to})
    if not isinstance(claim, int):
        claim.refresh_from_db()
    return locked


def transition_many(
    claims: list[RefundClaim],
    *,
    to: str,
    actor: audit.Actor,
    action: str,
    reason: str = "",
    updates_for=None,
    data_for=None,
) -> list[RefundClaim]:
    """:func:`transition` for a batch of claims the caller has locked in this transaction
    (``select_for_update``), each with its current ``status``: the same legality check
    (claims that may not move are skipped and left out of the result), one UPDATE for all,
    one audit append for all (:func:`refunds.audit.record_many`), a webhook per claim.
    ``updates_for(claim)`` gives a claim's extra field updates, ``data_for(claim)`` its
    audit event's data (computed before the updates are applied). What the deadline sweep
    moves, hundreds a batch; everything else moves one claim through :func:`transition`."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transition_many runs inside the caller's transaction")
    moving, sources, fields = [], {}, {"status", "updated_at"}
    data: dict[int, dict[str, Any]] = {}
    waited = {}
    now = timezone.now()
    for claim in claims:
        if not is_legal(claim.status, to):
            continue
        sources[claim.pk] = claim.status
        waited[claim.pk] = queue_counts.waiting_key(claim)
        data[claim.pk] = data_for(claim) if data_for else {}
        extra = updates_for(claim) if updates_for else {}
        fields |= set(extra)
        for name, value in {"status": to, "updated_at": now, **extra}.items():
            setattr(claim, name, value)
        moving.append(claim)
    if not moving:
        return []
    _update_rows(moving, sorted(fields))
    _count_moves([(c, sources[c.pk], to) for c in moving])
    queue_counts.count_moves([(waited[c.pk], queue_counts.waiting_key(c)) for c in moving])
    audit.record_many(
        action=action,
        actor=actor,
        entries=[
            {
                "claim": c,
                "from_status": sources[c.pk],
                "to_status": to,
                "reason": reason,
                "data": data[c.pk],
            }
            for c in moving
        ],
    )
    # Only the shops some active endpoint listens to (one query), then as transition().
    listened = webhooks.merchants_with_endpoints({c.merchant_id for c in moving})
    for claim in moving:
        if claim.merchant_id in listened:
            webhooks.emit_claim_event(
                claim, "claim.status_changed", {"from": sources[claim.pk], "to": to}
            )
    return moving


def _update_rows(claims: list[RefundClaim], names: list[str]) -> None:
    """Write ``names`` of every claim in one UPDATE. On PostgreSQL an ``UPDATE … FROM
    (VALUES …)`` joined on the id: ``bulk_update``'s ``CASE WHEN id = … THEN …`` per field
    and row cost more Python time to build than the whole rest of a deadline batch."""
    if connection.vendor != "postgresql":
        RefundClaim.objects.bulk_update(claims, names)
        return
    fields = [RefundClaim._meta.get_field(name) for name in names]
    pk = RefundClaim._meta.pk
    typed = [(pk, pk.db_type(connection)), *((f, f.db_type(connection)) for f in fields)]
    row = "(" + ", ".join(f"%s::{db_type}" for _f, db_type in typed) + ")"
    params = [
        field.get_db_prep_save(getattr(claim, field.attname), connection)
        for claim in claims
        for field, _db_type in typed
    ]
    table = RefundClaim._meta.db_table
    columns = ", ".join(f.column for f, _t in typed)
    assignments = ", ".join(f"{f.column} = v.{f.column}" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET {assignments} FROM (VALUES "  # noqa: S608
            + ", ".join([row] * len(claims))
            + f") AS v({columns}) WHERE c.{pk.column} = v.{pk.column}",
            params,
        )


def count_created(*claims: RefundClaim) -> None:
    """Count new claims in their status and their queue's waiting counter (one INSERT
    each); call it in the transaction that inserts them."""
    _count_moves([(claim, "", claim.status) for claim in claims])
    queue_counts.count_moves([(None, queue_counts.waiting_key(claim)) for claim in claims])


def claim_change(claim: RefundClaim, *, touch: bool = True, **fields: Any) -> None:
    """Write ``fields`` of a claim the caller has locked (``select_for_update`` in this
    transaction, so its fields are the row's), and count its move between the queues'
    waiting counters. The one writer of ``held_by``, ``queue`` and ``review_deadline``
    outside :func:`transition` (which alone changes ``status``). ``touch``: also set
    ``updated_at`` (a take or a release does not: the claim itself did not change)."""
    if "status" in fields:
        raise ValueError("a claim's status changes through lifecycle.transition only")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("claim_change runs inside the caller's transaction")
    waited = queue_counts.waiting_key(claim)
    if touch:
        fields["updated_at"] = timezone.now()
    for name, value in fields.items():
        setattr(claim, name, value)
    RefundClaim.objects.filter(pk=claim.pk).update(**fields)
    queue_counts.count_moves([(waited, queue_counts.waiting_key(claim))])


def _count_moves(moves) -> None:
    """Append the status counters' deltas of ``(claim, from status or "", to status)``
    moves: one INSERT whatever the batch, no row updated (so nothing to wait for)."""
    deltas: dict[tuple[int, int, str], int] = {}
    for claim, source, target in moves:
        for status, step in ((source, -1), (target, +1)):
            if status:
                key = (claim.tenant_id, claim.merchant_id, status)
                deltas[key] = deltas.get(key, 0) + step
    rows = [
        ClaimStatusCount(tenant_id=tenant_id, merchant_id=merchant_id, status=status, count=n)
        for (tenant_id, merchant_id, status), n in sorted(deltas.items())
        if n
    ]
    if rows:
        ClaimStatusCount.objects.bulk_create(rows)


COUNTS_FROM_CLAIMS = (
    "SELECT tenant_id, merchant_id, status, count(*) FROM refunds_refundclaim "
    "GROUP BY tenant_id, merchant_id, status"
)


def counts_compact() -> int:
    """Fold the counters' delta rows into one row per shop and status (zeros dropped);
    returns the rows written. On PostgreSQL one statement (the rows it deletes are the
    ones it sums: a delta committed meanwhile stays for the next run); SQLite's writers
    are serialised, so there a read, a delete and an insert in one transaction."""
    table = ClaimStatusCount._meta.db_table
    columns = "tenant_id, merchant_id, status"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH gone AS (DELETE FROM {table} RETURNING {columns}, count) "  # noqa: S608
                f"INSERT INTO {table} ({columns}, count) SELECT {columns}, sum(count) "
                f"FROM gone GROUP BY {columns} HAVING sum(count) <> 0"
            )
            return cursor.rowcount
    from django.db.models import Sum

    with transaction.atomic():
        rows = list(
            ClaimStatusCount.objects.order_by()
            .values("tenant_id", "merchant_id", "status")
            .annotate(total=Sum("count"))
        )
        ClaimStatusCount.objects.all().delete()
        ClaimStatusCount.objects.bulk_create(
            ClaimStatusCount(
                tenant_id=row["tenant_id"],
                merchant_id=row["merchant_id"],
                status=row["status"],
                count=row["total"],
            )
            for row in rows
            if row["total"]
        )
    return sum(1 for row in rows if row["total"])


def counts_rebuild() -> int:
    """Recount every shop's claims per status from the claims themselves, in one
    transaction; on PostgreSQL under an exclusive lock of the counter table, which waits
    for the transitions that have already counted and holds the others for the length
    of the recount (they then append their move on top: nothing is lost). Returns the
    number of counter rows written."""
    table = ClaimStatusCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, merchant_id, status, count) "  # noqa: S608
            + COUNTS_FROM_CLAIMS,
        )
        return cursor.rowcount


def counts_differences() -> list[tuple[int, str, int, int]]:
    """Where the counters disagree with the claims: ``(shop, status, counted, claims)``
    for every shop and status that differs (empty: exact). A full scan of the claims."""
    from django.db.models import Count, Sum

    counted = {
        (row["merchant_id"], row["status"]): row["total"]
        for row in ClaimStatusCount.objects.values("merchant_id", "status").annotate(
            total=Sum("count")
        )
    }
    actual = {
        (row["merchant_id"], row["status"]): row["n"]
        for row in RefundClaim.objects.order_by()
        .values("merchant_id", "status")
        .annotate(n=Count("*"))
    }
    return sorted(
        (merchant_id, status, counted.get(key, 0), actual.get(key, 0))
        for key in set(counted) | set(actual)
        for merchant_id, status in [key]
        if counted.get(key, 0) != actual.get(key, 0)
    )
