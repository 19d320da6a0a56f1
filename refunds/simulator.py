"""The policy simulator (backtest): replay a changed rule set on the routing inputs the
claims of the last N days recorded, beside the live rules on the same inputs, one
platform at a time (rules are per platform, as routing reads them).

Nothing is written and no claim is read beyond its routing record and its decisions: what
a rule set *would* have done is computed by the same pure matcher routing uses
(:func:`refunds.routing.first_match`), so a rule's effect is known before it goes live.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from merchants.models import default_platform_pk
from refunds import routing
from refunds.models import Decision, ReviewQueue, RoutingRecord
from refunds.routing import RoutingInputs, RuleSpec


@dataclass
class SideResult:
    """What one rule set does to the period's claims."""

    per_queue: Counter = field(default_factory=Counter)  # queue id → claims
    auto_decided: int = 0
    # Auto-decided, but the claim's latest human decision (a reviewer's, or a senior's
    # on appeal) has another outcome.
    auto_overturned: int = 0


@dataclass
class QueueRow:
    queue: ReviewQueue
    live: int
    proposed: int

    @property
    def change(self) -> int:
        return self.proposed - self.live


@dataclass
class SimulationReport:
    days: int
    since: dt.datetime
    claims: int
    live: SideResult
    proposed: SideResult
    rows: list[QueueRow]
    moved: int  # claims the proposed rules send to another queue than the live ones
    tenant_id: int  # the platform whose claims were replayed


def latest_records(*, since: dt.datetime, tenant_id: int) -> list[RoutingRecord]:
    """Each claim of the platform routed since ``since``: its latest routing record (one
    query)."""
    latest: dict[int, RoutingRecord] = {}
    records = RoutingRecord.objects.filter(
        created_at__gte=since, claim__tenant_id=tenant_id
    ).order_by("claim_id", "-id")
    for record in records.only("pk", "claim_id", "stage", "inputs"):
        latest.setdefault(record.claim_id, record)
    return list(latest.values())


def _human_outcomes(claim_ids: list[int]) -> dict[int, str]:
    """The latest human decision's outcome per claim (one query)."""
    outcomes: dict[int, str] = {}
    rows = (
        Decision.objects.filter(claim_id__in=claim_ids, reviewer__isnull=False)
        .order_by("claim_id", "created_at", "pk")
        .values_list("claim_id", "outcome")
    )
    for claim_id, outcome in rows:
        outcomes[claim_id] = outcome
    return outcomes


@dataclass(frozen=True)
class _Platform:
    """What a replay needs of the platform: where unmatched and AI-flagged claims go."""

    default_queue_id: int
    forensic_queue_id: int | None  # None: no active forensic queue, the rules decide


def _platform(tenant_id: int) -> _Platform:
    forensic = ReviewQueue.objects.filter(
        tenant_id=tenant_id, slug=routing.FORENSIC_QUEUE_SLUG, is_active=True
    ).first()
    return _Platform(
        default_queue_id=routing.default_queue(tenant_id=tenant_id).pk,
        forensic_queue_id=forensic.pk if forensic else None,
    )


def _replay(
    rules: list[RuleSpec], records, human: dict[int, str], platform: _Platform
) -> tuple[SideResult, dict[int, int]]:
    """What ``rules`` do to the records, and the queue each claim would go to."""
    side = SideResult()
    queues: dict[int, int] = {}
    for record in records:
        result = routing.route_inputs(
            rules,
            RoutingInputs.from_json(record.inputs),
            allow_auto=record.stage == RoutingRecord.Stage.REVIEW,
            forensic_queue_id=platform.forensic_queue_id,
        )
        queues[record.claim_id] = result.queue_id or platform.default_queue_id
        side.per_queue[queues[record.claim_id]] += 1
        if result.auto_outcome:
            side.auto_decided += 1
            later = human.get(record.claim_id)
            if later and later != result.auto_outcome:
                side.auto_overturned += 1
    return side, queues


def simulate(
    *,
    proposed: list[RuleSpec],
    days: int = 30,
    live: list[RuleSpec] | None = None,
    now: dt.datetime | None = None,
    tenant_id: int | None = None,
) -> SimulationReport:
    """Replay ``proposed`` (in order; inactive rules left out by the caller) and the live
    rules on the claims of one platform (``tenant_id``; the default platform when not
    given) routed in the last ``days`` days. Rules are per platform, as in routing: the
    live side is that platform's rules, and ``proposed`` should be too (a rule sending
    claims to another platform's queue would be a rule routing never reads)."""
    if tenant_id is None:
        tenant_id = default_platform_pk()
    since = (now or timezone.now()) - dt.timedelta(days=days)
    live = routing.live_rules(tenant_id=tenant_id) if live is None else live
    records = latest_records(since=since, tenant_id=tenant_id)
    human = _human_outcomes([r.claim_id for r in records])
    platform = _platform(tenant_id)
    live_side, live_queues = _replay(live, records, human, platform)
    proposed_side, proposed_queues = _replay(proposed, records, human, platform)
    moved = sum(live_queues[claim_id] != proposed_queues[claim_id] for claim_id in live_queues)
    queue_ids = set(live_side.per_queue) | set(proposed_side.per_queue)
    queues = ReviewQueue.objects.filter(pk__in=queue_ids).order_by("priority", "name")
    rows = [
        QueueRow(q, live_side.per_queue.get(q.pk, 0), proposed_side.per_queue.get(q.pk, 0))
        for q in queues
    ]
    return SimulationReport(
        days=days,
        since=since,
        claims=len(records),
        live=live_side,
        proposed=proposed_side,
        rows=rows,
        moved=moved,
        tenant_id=tenant_id,
    )


def with_rule_changed(live: list[RuleSpec], changed: RuleSpec, *, active: bool) -> list[RuleSpec]:
    """The live rule set with ``changed`` in place of the rule of the same id (added when
    new), or without it when it is switched off; in position order."""
    rules = [rule for rule in live if changed.pk is None or rule.pk != changed.pk]
    if active:
        rules.append(changed)
    return sorted(rules, key=lambda rule: (rule.position, rule.pk or 0))
