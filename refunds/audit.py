"""The append-only, hash-chained audit log: one chain per claim, anchored in checkpoints.

Every event's hash covers its canonical content plus the previous event's hash *in its
chain*: the claim's own events (``chain_key`` = the claim's id; events about no claim
share chain 0), numbered 1, 2, … by ``chain_seq``. Appending locks only that chain (a
PostgreSQL advisory lock on the chain key; SQLite's ``BEGIN IMMEDIATE`` serialises
writers anyway), so changes to independent claims commit in parallel, where one global
chain made every audited write on the platform wait for one lock. ``seq`` is still one
global order (a PostgreSQL sequence): gaps are possible (a rolled-back transaction), so
it orders but does not prove completeness; each chain's ``chain_seq`` does.

Events written before chains existed (migration ``*_scale_audit_chains``) keep their
hashes, which the triggers forbid changing: they form the *legacy* chain (global, by
``seq``, ``chain_seq`` NULL), walked as before, and the first event of every new chain
links to the legacy chain's head, so cutting its tail breaks every later chain's first
link.

The table is append-only in the database: triggers refuse UPDATE, DELETE and TRUNCATE
(:mod:`refunds.append_only`), so changing or removing an event first takes switching
them off, which needs the table owner's rights on PostgreSQL.

A chain alone cannot show that its *newest* events were cut off, nor that a whole claim's
chain was removed, nor that it was rewritten with every hash recomputed. Checkpoints can:
:func:`checkpoint_write` takes the highest ``seq`` below which every transaction has
finished (writers hold a shared advisory lock, the checkpoint briefly an exclusive one),
digests the ``(seq, hash)`` of every event since the previous checkpoint (a *segment*),
and chains the segment digests into a ``root``; each checkpoint is a small JSON file in
the file storage, outside the database (S3 with versioning or object lock in production).
:func:`verify_checkpoints` recomputes the segments (all of them, or only the newest) and
the roots. A checkpoint is taken periodically (beat, ``AUDIT_CHECKPOINT_SECONDS``) and
after the commit of every ``AUDIT_CHECKPOINT_EVERY``-th event. What is left is a window:
the events newer than the latest checkpoint can be cut off without a trace by someone who
may also switch the triggers off; for everybody else the triggers close it.

``verify_audit`` walks every chain (``--full``, the default) or, with ``--incremental``,
only what is newer than the latest checkpoint plus that checkpoint's segment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from refunds.models import AuditEvent, RefundClaim

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x61756469  # "audi": check-then-append callers (lock_chain)
_PG_CHAIN_LOCK = 0x63686169  # "chai": with the chain key, one chain's append lock
_PG_BARRIER_KEY = 0x62617272  # "barr": writers shared, the checkpoint exclusive
SEQUENCE = "refunds_auditevent_seq_seq"
NO_CLAIM_CHAIN = 0
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
    if getattr(event, "chain_seq", None) is not None:
        # Per-claim chains (legacy events, without a chain, keep their hashes).
        content["chain"] = event.chain_key
        content["cseq"] = event.chain_seq
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lock_chain() -> None:
    """For a caller that checks something against the log and then appends (the custody
    events' "once"): a lock that every such caller takes, until the end of its
    transaction (re-entrant). Plain :func:`record` calls do not take it: they lock only
    their own chain."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the audit log is written inside transaction.atomic only")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


def _chain_lock_key(chain_key: int) -> int:
    return chain_key % 2_147_483_647  # int4; two chains sharing a key only wait


def _lock_for_append(cursor, chain_key: int) -> int:
    """The checkpoint barrier (shared: writers never wait for each other on it), then the
    chain's own lock, both until the end of the transaction; then the event's ``seq``
    (drawn after the barrier, which is what lets a checkpoint know every lower ``seq`` is
    final). One statement: ``OFFSET 0`` keeps the locks evaluated before ``nextval``."""
    cursor.execute(
        "SELECT nextval(%s) FROM (SELECT pg_advisory_xact_lock_shared(%s), "
        "pg_advisory_xact_lock(%s, %s) OFFSET 0) AS locked",
        [SEQUENCE, _PG_BARRIER_KEY, _PG_CHAIN_LOCK, _chain_lock_key(chain_key)],
    )
    return cursor.fetchone()[0]


def legacy_head() -> str:
    """The hash of the newest event written before per-claim chains (GENESIS without
    any): what every chain's first event links to."""
    head = (
        AuditEvent.objects.filter(chain_seq__isnull=True)
        .order_by("-seq")
        .values_list("hash", flat=True)
        .first()
    )
    return head or GENESIS


def _next_seq() -> int:
    """SQLite: max + 1 (its writers are serialised by the database). PostgreSQL draws
    ``seq`` from its sequence, after the locks (:func:`_lock_for_append`)."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return (last or 0) + 1


_CHAIN_HEAD = (
    f"SELECT chain_seq, hash FROM {AuditEvent._meta.db_table} "  # noqa: S608 - the model's table
    "WHERE chain_key = %s AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
)


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
    """Append one event to its claim's chain. Must run inside the caller's transaction.

    Every ``AUDIT_CHECKPOINT_EVERY``-th event schedules a checkpoint for after the
    commit (outside the lock and the transaction; a failure there is logged, never
    raised into the caller's committed work)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the audit log is written inside transaction.atomic only")
    chain_key = claim.pk if claim is not None else NO_CLAIM_CHAIN
    with connection.cursor() as cursor:
        seq = _lock_for_append(cursor, chain_key) if connection.vendor == "postgresql" else None
        # The chain's head, read after its lock. Plain SQL: every audited write sends
        # it, and building the same ORM query cost more than running it (≈0.6 ms against
        # 0.15: docs/performance.md, "take-next's Python").
        cursor.execute(_CHAIN_HEAD, [chain_key])
        last = cursor.fetchone()
        chain_seq, prev_hash = (last[0] + 1, last[1]) if last else (1, legacy_head())
        if seq is None:
            seq = _next_seq()  # SQLite: max + 1, writers serialised by the database
    event = AuditEvent(
        seq=seq,
        claim=claim,
        chain_key=chain_key,
        chain_seq=chain_seq,
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


def record_many(
    *, action: str, actor: Actor, entries: list[dict[str, Any]], new_chains: bool = False
) -> list[AuditEvent]:
    """Append one event to each of several claims' chains in one go (a batch of the
    deadline sweep): the chains' locks in one statement (in key order, so two batches
    cannot deadlock each other), their heads in one read, one INSERT. ``entries``: one
    dict per event with ``claim`` and optionally ``from_status``, ``to_status``,
    ``reason``, ``data``; at most one entry per claim. Same chain rules as
    :func:`record`.

    ``new_chains``: the claims were inserted in this transaction (their arrival), so
    their chains are empty and nobody else can append to them yet: no chain lock and no
    head to read; each event is its chain's first, linked to the legacy head. Were a
    chain not empty after all, the ``audit_chain_position`` constraint refuses the fork."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the audit log is written inside transaction.atomic only")
    if not entries:
        return []
    keys = [entry["claim"].pk for entry in entries]
    if len(set(keys)) != len(keys):
        raise ValueError("record_many takes at most one event per claim")
    if new_chains:
        seqs, anchor = _first_places(len(keys))
        return _append_many(action, actor, entries, {}, seqs, anchor)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_PG_BARRIER_KEY])
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(%s, k)) FROM "
                "(SELECT DISTINCT unnest(%s::int[]) AS k ORDER BY 1) AS chains",
                [_PG_CHAIN_LOCK, [_chain_lock_key(k) for k in keys]],
            )
            cursor.execute(
                "SELECT DISTINCT ON (chain_key) chain_key, chain_seq, hash "
                "FROM refunds_auditevent WHERE chain_key = ANY(%s) AND chain_seq IS NOT NULL "
                "ORDER BY chain_key, chain_seq DESC",
                [keys],
            )
            heads = {key: (cseq, value) for key, cseq, value in cursor.fetchall()}
            cursor.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s) ORDER BY 1", [SEQUENCE, len(keys)]
            )
            seqs = [row[0] for row in cursor.fetchall()]
        else:
            heads = {}
            for key in keys:
                last = (
                    AuditEvent.objects.filter(chain_key=key, chain_seq__isnull=False)
                    .order_by("-chain_seq")
                    .values_list("chain_seq", "hash")
                    .first()
                )
                if last:
                    heads[key] = last
            first = _next_seq()
            seqs = list(range(first, first + len(keys)))
    anchor = legacy_head() if len(heads) < len(keys) else GENESIS
    return _append_many(action, actor, entries, heads, seqs, anchor)


def _first_places(count: int) -> tuple[list[int], str]:
    """``count`` global places for the first events of new chains, and the legacy head
    they link to. PostgreSQL: one statement, the checkpoint barrier (shared) evaluated
    before ``nextval`` (as in :func:`_lock_for_append`)."""
    if connection.vendor != "postgresql":
        first = _next_seq()
        return list(range(first, first + count)), legacy_head()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s), (SELECT hash FROM refunds_auditevent WHERE chain_seq IS NULL "
            "ORDER BY seq DESC LIMIT 1) FROM (SELECT pg_advisory_xact_lock_shared(%s) "
            "OFFSET 0) AS locked, generate_series(1, %s) ORDER BY 1",
            [SEQUENCE, _PG_BARRIER_KEY, count],
        )
        rows = cursor.fetchall()
    return [row[0] for row in rows], rows[0][1] or GENESIS


def _append_many(action, actor, entries, heads, seqs, anchor) -> list[AuditEvent]:
    now = timezone.now()
    events = []
    for seq, entry in zip(seqs, entries, strict=True):
        claim = entry["claim"]
        chain_seq, prev_hash = heads.get(claim.pk, (0, anchor))
        event = AuditEvent(
            seq=seq,
            claim=claim,
            chain_key=claim.pk,
            chain_seq=chain_seq + 1,
            actor=actor.user,
            actor_label=actor.label[:100],
            action=action,
            from_status=entry.get("from_status", ""),
            to_status=entry.get("to_status", ""),
            reason=entry.get("reason", ""),
            data=_normalise(entry.get("data") or {}),
            created_at=now,
            prev_hash=prev_hash,
        )
        event.hash = compute_hash(event)
        events.append(event)
    AuditEvent.objects.bulk_create(events)
    every = settings.AUDIT_CHECKPOINT_EVERY
    if every > 0 and any(seq % every == 0 for seq in seqs):
        transaction.on_commit(_checkpoint_soon, robust=True)
    return events


def _checkpoint_soon() -> None:
    from refunds.tasks import audit_checkpoint_task

    try:
        audit_checkpoint_task.delay()
    except Exception:  # noqa: BLE001 - the beat checkpoint follows; the events are committed
        log.exception("could not schedule an audit checkpoint")


def custody_events(*, evidence_ids, claim_id: int | None = None):
    """The chain-of-custody events of these evidence files, and the evidence pack
    exports of ``claim_id``, oldest first."""

    wanted = Q(evidence_id__in=list(evidence_ids))
    if claim_id is not None:
        wanted |= Q(claim_id=claim_id, action="evidence_pack_exported")
    return AuditEvent.objects.filter(wanted).order_by("seq")


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    problem: str


@dataclass
class VerifyReport:
    checked: int = 0
    chains: int = 0
    seconds: float = 0.0
    broken: BrokenLink | None = None

    @property
    def per_second(self) -> float:
        return self.checked / self.seconds if self.seconds else 0.0


def verify_chain(batch_size: int = 5000) -> tuple[int, BrokenLink | None]:
    """Walk every chain; return (events checked, first broken link or None)."""
    report = verify_full(batch_size)
    return report.checked, report.broken


# What a check reads of an event: the hashed fields, its hash, its place in its chain.
_VERIFIED_FIELDS = (
    "seq",
    "prev_hash",
    "claim_id",
    "actor_id",
    "actor_label",
    "action",
    "from_status",
    "to_status",
    "reason",
    "data",
    "created_at",
    "evidence_id",
    "chain_key",
    "chain_seq",
    "hash",
)


def _stream(events, batch_size: int):
    """``events`` as light rows (named tuples of :data:`_VERIFIED_FIELDS`, no model
    instances), read in one pass: on PostgreSQL through a server-side cursor inside the
    caller's transaction, ``batch_size`` rows a fetch. (Keyset batches on
    ``chain_key > x OR (chain_key = x AND chain_seq > y)`` re-read the index from its
    start for every batch: quadratic, hours at 1M claims.)"""
    return events.values_list(*_VERIFIED_FIELDS, named=True).iterator(chunk_size=batch_size)


def verify_full(batch_size: int = 5000) -> VerifyReport:
    """The legacy chain by ``seq``, then every claim's chain by ``chain_seq`` (in chain
    order), each in one streamed pass over its index: constant memory. In one
    transaction (a consistent snapshot, and what a server-side cursor needs)."""
    started = time.perf_counter()
    report = VerifyReport()
    with transaction.atomic():
        broken = _verify_legacy(batch_size, report)
        if broken is None:
            broken = _verify_chains(batch_size, report, legacy_head())
    report.broken = broken
    report.seconds = time.perf_counter() - started
    return report


def _verify_legacy(batch_size: int, report: VerifyReport) -> BrokenLink | None:
    expected_prev, expected_seq = GENESIS, 1
    events = AuditEvent.objects.filter(chain_seq__isnull=True).order_by("seq")
    for event in _stream(events, batch_size):
        if event.seq != expected_seq:
            return BrokenLink(expected_seq, "missing event (sequence gap)")
        if event.prev_hash != expected_prev:
            return BrokenLink(event.seq, "previous-hash link does not match")
        if compute_hash(event) != event.hash:
            return BrokenLink(event.seq, "content does not match its hash")
        expected_prev, expected_seq = event.hash, event.seq + 1
        report.checked += 1
    return None


def _check_link(event, prev: tuple[int, str] | None, anchor: str):
    """The problem with ``event`` given its chain's previous (chain_seq, hash), or None."""
    expected_cseq, expected_prev = (prev[0] + 1, prev[1]) if prev else (1, anchor)
    if event.chain_seq != expected_cseq:
        return BrokenLink(
            event.seq,
            f"missing event (chain gap: #{event.chain_seq} of chain {event.chain_key} "
            f"follows #{expected_cseq - 1})",
        )
    if event.prev_hash != expected_prev:
        return BrokenLink(event.seq, "previous-hash link does not match")
    if compute_hash(event) != event.hash:
        return BrokenLink(event.seq, "content does not match its hash")
    return None


def _verify_chains(batch_size: int, report: VerifyReport, anchor: str) -> BrokenLink | None:
    prev: tuple[int, str] | None = None
    chain = None
    events = AuditEvent.objects.filter(chain_seq__isnull=False).order_by("chain_key", "chain_seq")
    for event in _stream(events, batch_size):
        if event.chain_key != chain:
            chain, prev = event.chain_key, None
            report.chains += 1
        broken = _check_link(event, prev, anchor)
        if broken:
            return broken
        prev = (event.chain_seq, event.hash)
        report.checked += 1
    return None


def verify_since(seq: int, batch_size: int = 5000) -> VerifyReport:
    """Incremental: every event newer than ``seq`` (a checkpoint's), its hash and its
    link to the previous event of its chain. Keyset batches by ``seq`` (one index range
    each); the older previous events a batch needs, one query per batch."""
    started = time.perf_counter()
    report = VerifyReport()
    anchor = legacy_head()
    heads: dict[int, tuple[int, str]] = {}
    last_seq = seq
    while True:
        batch = list(
            AuditEvent.objects.filter(seq__gt=last_seq, chain_seq__isnull=False)
            .order_by("seq")
            .values_list(*_VERIFIED_FIELDS, named=True)[:batch_size]
        )
        if not batch:
            break
        # Within a batch, seq order is not chain order when writers interleaved: sort.
        ordered = sorted(batch, key=lambda e: (e.chain_key, e.chain_seq))
        older = _older_links(ordered, heads, report)
        for event in ordered:
            prev = heads.get(event.chain_key)
            if prev is None or prev[0] != event.chain_seq - 1:
                prev = older.get((event.chain_key, event.chain_seq - 1))
                if isinstance(prev, BrokenLink):
                    report.broken = prev
                    break
            broken = _check_link(event, prev, anchor)
            if broken:
                report.broken = broken
                break
            heads[event.chain_key] = (event.chain_seq, event.hash)
            report.checked += 1
        if report.broken:
            break
        last_seq = batch[-1].seq
    report.chains = len(heads)
    report.seconds = time.perf_counter() - started
    return report


def _older_links(ordered, heads, report: VerifyReport) -> dict:
    """For the first event of each chain in a batch that the walk has not reached yet:
    ``(chain, chain_seq - 1) ->`` that older event's (chain_seq, hash), itself checked
    against its hash; None before the chain's first event; a BrokenLink when missing or
    altered. One query for the batch."""
    wanted: set[tuple[int, int]] = set()
    seen: set[int] = set()
    for event in ordered:
        if event.chain_key in seen:
            continue
        seen.add(event.chain_key)
        prev = heads.get(event.chain_key)
        if (prev is None or prev[0] != event.chain_seq - 1) and event.chain_seq > 1:
            wanted.add((event.chain_key, event.chain_seq - 1))
    found: dict = {}  # (chain, 0) is never there: None, "before the chain's first event"
    if not wanted:
        return found
    # The chains' keys and the positions wanted: a superset of the pairs, one index
    # range of ``audit_chain_position`` per chain; the pairs picked here.
    rows = AuditEvent.objects.filter(
        chain_key__in={k for k, _s in wanted}, chain_seq__in={s for _k, s in wanted}
    )
    for event in rows.values_list(*_VERIFIED_FIELDS, named=True):
        key = (event.chain_key, event.chain_seq)
        if key not in wanted:
            continue
        if compute_hash(event) != event.hash:
            found[key] = BrokenLink(event.seq, "content does not match its hash")
        else:
            found[key] = (event.chain_seq, event.hash)
        wanted.discard(key)
    for chain_key, chain_seq in wanted:
        found[(chain_key, chain_seq)] = BrokenLink(
            0, f"missing event (chain gap: #{chain_seq} of chain {chain_key})"
        )
    return found


# --- checkpoints outside the database -------------------------------------------------

CHECKPOINT_DIR = "audit-checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str  # the hash of event ``seq``
    at: str  # the event's time, ISO 8601 UTC
    name: str = ""  # where it is stored
    prev_seq: int = 0
    segment: str = ""  # digest of (seq, hash) of every event in (prev_seq, seq]
    root: str = ""  # sha256(previous root : segment): the whole log up to ``seq``
    count: int = 0


def committed_head() -> int:
    """The highest ``seq`` below which no transaction can still add an event: on
    PostgreSQL, read under the exclusive side of the writers' barrier (it waits for the
    transactions appending right now, and holds new ones for one statement)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_BARRIER_KEY])
        return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def segment_digest(after: int, upto: int, batch_size: int = 20_000) -> tuple[str, int]:
    """(SHA-256 over "seq:hash\\n" of every event in (after, upto] by seq, how many)."""
    digest, count, last = hashlib.sha256(), 0, after
    while True:
        rows = list(
            AuditEvent.objects.filter(seq__gt=last, seq__lte=upto)
            .order_by("seq")
            .values_list("seq", "hash")[:batch_size]
        )
        if not rows:
            return digest.hexdigest(), count
        for seq, value in rows:
            digest.update(f"{seq}:{value}\n".encode())
        count += len(rows)
        last = rows[-1][0]


def _root(prev_root: str, segment: str) -> str:
    return hashlib.sha256(f"{prev_root}:{segment}".encode()).hexdigest()


def checkpoint_write(storage=None) -> Checkpoint | None:
    """Store the committed head (sequence number and hash), the digest of the events
    since the previous checkpoint and the running root as a small JSON file; None when
    the log is empty or that head is already stored. Names sort by sequence number."""
    storage = storage or default_storage
    upto = committed_head()
    head = AuditEvent.objects.filter(seq=upto).first() if upto else None
    if head is None:
        return None
    latest = checkpoint_latest(storage)
    if latest is not None and latest.seq >= head.seq:
        return None
    prev_seq = latest.seq if latest else 0
    prev_root = (latest.root or GENESIS) if latest else GENESIS
    segment, count = segment_digest(prev_seq, head.seq)
    name = f"{CHECKPOINT_DIR}/{head.seq:012d}-{head.hash[:16]}.json"
    body = {
        "seq": head.seq,
        "hash": head.hash,
        "at": _timestamp(head.created_at),
        "written_at": _timestamp(timezone.now()),
        "prev_seq": prev_seq,
        "segment": segment,
        "root": _root(prev_root, segment),
        "count": count,
    }
    stored = storage.save(name, ContentFile(json.dumps(body, sort_keys=True).encode()))
    return _checkpoint(body, stored)


def _checkpoint(body: dict, name: str) -> Checkpoint:
    return Checkpoint(
        int(body["seq"]),
        str(body["hash"]),
        str(body["at"]),
        name,
        int(body.get("prev_seq", 0)),
        str(body.get("segment", "")),
        str(body.get("root", "")),
        int(body.get("count", 0)),
    )


def checkpoint_names(storage=None) -> list[str]:
    """Every stored checkpoint, oldest first."""
    storage = storage or default_storage
    try:
        _dirs, files = storage.listdir(CHECKPOINT_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [f"{CHECKPOINT_DIR}/{f}" for f in sorted(f for f in files if f.endswith(".json"))]


def checkpoint_read(name: str, storage=None) -> Checkpoint:
    storage = storage or default_storage
    with storage.open(name, "rb") as handle:
        return _checkpoint(json.loads(handle.read()), name)


def checkpoint_latest(storage=None) -> Checkpoint | None:
    """The stored checkpoint with the highest sequence number, None without any."""
    names = checkpoint_names(storage)
    return checkpoint_read(names[-1], storage) if names else None


def events_after(checkpoint: Checkpoint | None) -> int:
    """How many events are newer than ``checkpoint`` (all of them without one): the ones
    only the triggers protect until the next checkpoint."""
    return AuditEvent.objects.filter(seq__gt=checkpoint.seq if checkpoint else 0).count()


def verify_checkpoint(storage=None) -> tuple[Checkpoint | None, str | None]:
    """(the latest checkpoint, a problem or None): the log must still hold the
    checkpointed event with the checkpointed hash, and the events of its segment."""
    checked, problem = verify_checkpoints(storage, last=1)
    return (checked[-1] if checked else None), problem


def verify_checkpoints(storage=None, *, last: int | None = None):
    """([checkpoints checked], the first problem or None). Each checkpoint's event must
    still hold its hash, its segment must digest the same (an event removed, added or
    rewritten anywhere in it shows, the whole chain of a claim included), and the roots
    must chain. ``last``: only the newest that many (incremental); None: all (full)."""
    storage = storage or default_storage
    names = checkpoint_names(storage)
    previous = None
    if last is not None and len(names) > last:
        previous = checkpoint_read(names[-(last + 1)], storage)  # the root they chain from
        names = names[-last:]
    checked: list[Checkpoint] = []
    for name in names:
        checkpoint = checkpoint_read(name, storage)
        checked.append(checkpoint)
        problem = _checkpoint_problem(checkpoint, previous)
        if problem:
            return checked, problem
        previous = checkpoint
    return checked, None


def _checkpoint_problem(checkpoint: Checkpoint, previous: Checkpoint | None) -> str | None:
    stored = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
    if stored is None:
        head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        return (
            f"event #{checkpoint.seq} of checkpoint {checkpoint.name} is missing: the log "
            f"ends at #{head}, so its newest events were removed"
        )
    if stored != checkpoint.hash:
        return (
            f"event #{checkpoint.seq} no longer has the hash checkpoint {checkpoint.name} "
            "recorded: the chain was rewritten up to that event"
        )
    if not checkpoint.segment:
        return None  # written before segments: its head is all it holds
    if previous is not None and previous.seq != checkpoint.prev_seq:
        return f"checkpoint {checkpoint.name} does not follow {previous.name}"
    if previous is not None and previous.root:
        if checkpoint.root != _root(previous.root, checkpoint.segment):
            return f"checkpoint {checkpoint.name}'s root does not chain from {previous.name}"
    segment, count = segment_digest(checkpoint.prev_seq, checkpoint.seq)
    if segment != checkpoint.segment:
        return (
            f"the events #{checkpoint.prev_seq + 1}–#{checkpoint.seq} of checkpoint "
            f"{checkpoint.name} changed ({count} there, {checkpoint.count} recorded): events "
            "were removed, added or rewritten"
        )
    return None
