"""The claim lifecycle: the one table of legal transitions and the one function that
performs them.

``transition`` locks the claim row, refuses an illegal move with
:class:`IllegalTransition` (nothing written), applies the field updates, writes the
hash-chained audit event and schedules the webhook, all in one short transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from refunds import audit, webhooks
from refunds.exceptions import IllegalTransition
from refunds.models import ClaimStatus as S
from refunds.models import RefundClaim

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
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*fields, "updated_at"])
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
) -> list[RefundClaim]:
    """:func:`transition` for a batch of claims the caller has locked in this transaction
    (``select_for_update``), each with its current ``status``: the same legality check
    (claims that may not move are skipped and left out of the result), one UPDATE for all,
    one audit append for all (:func:`refunds.audit.record_many`), a webhook per claim.
    ``updates_for(claim)`` gives a claim's extra field updates. What the deadline sweep
    moves, hundreds a batch; everything else moves one claim through :func:`transition`."""
    from django.utils import timezone

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transition_many runs inside the caller's transaction")
    moving, sources, fields = [], {}, {"status", "updated_at"}
    now = timezone.now()
    for claim in claims:
        if not is_legal(claim.status, to):
            continue
        sources[claim.pk] = claim.status
        extra = updates_for(claim) if updates_for else {}
        fields |= set(extra)
        for name, value in {"status": to, "updated_at": now, **extra}.items():
            setattr(claim, name, value)
        moving.append(claim)
    if not moving:
        return []
    RefundClaim.objects.bulk_update(moving, sorted(fields))
    audit.record_many(
        action=action,
        actor=actor,
        entries=[
            {"claim": c, "from_status": sources[c.pk], "to_status": to, "reason": reason}
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
