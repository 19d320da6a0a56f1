"""The append-only, hash-chained audit log.

Every event's hash covers its canonical content plus the previous event's hash, in one
global sequence. Appending takes a lock (a PostgreSQL advisory lock; SQLite's
``BEGIN IMMEDIATE`` already serialises writers) so two transactions can never fork the
chain. ``verify_chain`` recomputes every hash and reports the first broken link.

The table is append-only in the database: triggers refuse UPDATE, DELETE and TRUNCATE
(:mod:`refunds.append_only`), so changing or removing an event first takes switching
them off, which needs the table owner's rights on PostgreSQL.

The chain alone cannot show that its *newest* events were cut off, nor that it was
rewritten from some event on with every hash recomputed. Checkpoints can:
:func:`checkpoint_write` copies the head's sequence number and hash out of the database
into the file storage (S3 with versioning or object lock in production), and
:func:`verify_checkpoint` checks that the chain still holds that event with that hash. A
checkpoint is taken periodically (beat, ``AUDIT_CHECKPOINT_SECONDS``) and after the commit
of every ``AUDIT_CHECKPOINT_EVERY``-th event. What is left is a window: the events newer
than the latest checkpoint, at most that many events or that many seconds' worth, can be
cut off without a trace by someone who may also switch the triggers off; for everybody
else the triggers close it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from refunds.models import AuditEvent, RefundClaim

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x61756469  # "audi"
log = logging.getLogger(__name__)


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
    if event.evidence_id is not None:
        # Only when set, so that the events written before the column existed keep
        # their hashes.
        content["evidence"] = event.evidence_id
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lock_chain() -> None:
    """Take the chain's append lock until the end of the caller's transaction (what
    :func:`record` does first; re-entrant). Lets a caller check something against the
    log and append in one step."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the audit log is written inside transaction.atomic only")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


def record(
    *,
    action: str,
    actor: Actor,
    claim: RefundClaim | None = None,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    evidence_id: int | None = None,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the caller's transaction.

    Every ``AUDIT_CHECKPOINT_EVERY``-th event schedules a checkpoint for after the
    commit (outside the lock and the transaction; a failure there is logged, never
    raised into the caller's committed work)."""
    lock_chain()
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
        evidence_id=evidence_id,
        created_at=timezone.now(),
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    every = settings.AUDIT_CHECKPOINT_EVERY
    if every > 0 and seq % every == 0:
        transaction.on_commit(_checkpoint_soon, robust=True)
    return event


def _checkpoint_soon() -> None:
    from refunds.tasks import audit_checkpoint_task

    try:
        audit_checkpoint_task.delay()
    except Exception:  # noqa: BLE001 - the beat checkpoint follows; the events are committed
        log.exception("could not schedule an audit checkpoint")


def custody_events(*, evidence_ids, claim_id: int | None = None):
    """The chain-of-custody events of these evidence files, and the evidence pack
    exports of ``claim_id``, oldest first."""
    from django.db.models import Q

    wanted = Q(evidence_id__in=list(evidence_ids))
    if claim_id is not None:
        wanted |= Q(claim_id=claim_id, action="evidence_pack_exported")
    return AuditEvent.objects.filter(wanted).order_by("seq")


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


# --- checkpoints outside the database -------------------------------------------------

CHECKPOINT_DIR = "audit-checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str  # the event's time, ISO 8601 UTC
    name: str = ""  # where it is stored


def checkpoint_write(storage=None) -> Checkpoint | None:
    """Store the chain head's sequence number and hash as a small JSON file; None when
    the chain is empty or that head is already stored. Names sort by sequence number."""
    storage = storage or default_storage
    head = AuditEvent.objects.order_by("-seq").first()
    if head is None:
        return None
    latest = checkpoint_latest(storage)
    if latest is not None and latest.seq == head.seq:
        return None
    name = f"{CHECKPOINT_DIR}/{head.seq:012d}-{head.hash[:16]}.json"
    body = {
        "seq": head.seq,
        "hash": head.hash,
        "at": _timestamp(head.created_at),
        "written_at": _timestamp(timezone.now()),
    }
    stored = storage.save(name, ContentFile(json.dumps(body, sort_keys=True).encode()))
    return Checkpoint(head.seq, head.hash, body["at"], stored)


def checkpoint_latest(storage=None) -> Checkpoint | None:
    """The stored checkpoint with the highest sequence number, None without any."""
    storage = storage or default_storage
    try:
        _dirs, files = storage.listdir(CHECKPOINT_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return None
    names = sorted(f for f in files if f.endswith(".json"))
    if not names:
        return None
    name = f"{CHECKPOINT_DIR}/{names[-1]}"
    with storage.open(name, "rb") as handle:
        body = json.loads(handle.read())
    return Checkpoint(int(body["seq"]), str(body["hash"]), str(body["at"]), name)


def events_after(checkpoint: Checkpoint | None) -> int:
    """How many events are newer than ``checkpoint`` (all of them without one): the ones
    only the triggers protect until the next checkpoint."""
    return AuditEvent.objects.filter(seq__gt=checkpoint.seq if checkpoint else 0).count()


def verify_checkpoint(storage=None) -> tuple[Checkpoint | None, str | None]:
    """(the latest checkpoint, a problem or None): the chain must still hold the
    checkpointed event with the checkpointed hash. A missing event means the newest events
    were cut off; another hash, that the chain was rewritten before that point."""
    checkpoint = checkpoint_latest(storage)
    if checkpoint is None:
        return None, None
    stored = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
    if stored is None:
        head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        return checkpoint, (
            f"event #{checkpoint.seq} of checkpoint {checkpoint.name} is missing: the chain "
            f"ends at #{head}, so its newest events were removed"
        )
    if stored != checkpoint.hash:
        return checkpoint, (
            f"event #{checkpoint.seq} no longer has the hash checkpoint {checkpoint.name} "
            "recorded: the chain was rewritten up to that event"
        )
    return checkpoint, None
