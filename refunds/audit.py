"""The append-only, hash-chained audit log.

Every event's hash covers its canonical content plus the previous event's hash, in one
global sequence. Appending takes a lock (a PostgreSQL advisory lock; SQLite's
``BEGIN IMMEDIATE`` already serialises writers) so two transactions can never fork the
chain. ``verify_chain`` recomputes every hash and reports the first broken link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from refunds.models import AuditEvent, RefundClaim

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x61756469  # "audi"


@dataclass(frozen=True)
class Actor:
    """Who did something: a signed-in user, a platform client or the system."""

    label: str
    user: Any = None

    @classmethod
    def of_user(cls, user) -> Actor:
        return cls(label=f"user:{user.get_username()}", user=user)

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(label=f"system:{what}")

    @classmethod
    def platform(cls, client_name: str) -> Actor:
        return cls(label=f"platform:{client_name}")


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so what we hash is exactly what the database returns.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True))


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def compute_hash(event: AuditEvent) -> str:
    content = {
        "seq": event.seq,
        "prev": event.prev_hash,
        "claim": event.claim_id,
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "from": event.from_status,
        "to": event.to_status,
        "reason": event.reason,
        "data": event.data,
        "at": _timestamp(event.created_at),
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(
    *,
    action: str,
    actor: Actor,
    claim: RefundClaim | None = None,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must run inside transaction.atomic")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    event = AuditEvent(
        seq=seq,
        claim=claim,
        actor=actor.user,
        actor_label=actor.label[:100],
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=_normalise(data or {}),
        created_at=timezone.now(),
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    problem: str


def verify_chain(batch_size: int = 2000) -> tuple[int, BrokenLink | None]:
    """Walk the whole chain; return (events checked, first broken link or None)."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for event in _iterate(batch_size):
        if event.seq != expected_seq:
            return checked, BrokenLink(expected_seq, "missing event (sequence gap)")
        if event.prev_hash != expected_prev:
            return checked, BrokenLink(event.seq, "previous-hash link does not match")
        if compute_hash(event) != event.hash:
            return checked, BrokenLink(event.seq, "content does not match its hash")
        expected_prev, expected_seq = event.hash, event.seq + 1
        checked += 1
    return checked, None


def _iterate(batch_size: int) -> Iterator[AuditEvent]:
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last_seq = batch[-1].seq
