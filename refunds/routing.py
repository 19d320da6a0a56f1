"""Which review queue a claim goes to: the first active routing rule whose conditions all
hold, on the claim's *routing inputs* (risk score, every finding code, amount, reason,
shop, the buyer's figures, the photos' verdicts, the merchant's answer).

The inputs are gathered once (:func:`gather_inputs`), matched by pure functions
(:func:`rule_conditions`, :func:`first_match`) and recorded with the rule that fired
(:class:`~refunds.models.RoutingRecord`), so the review page shows why a claim is where
it is and the policy simulator (:mod:`refunds.simulator`) can replay a changed rule set
on the same inputs without touching the claims.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, Q, Sum

from merchants.models import default_platform_pk
from refunds.models import (
    RefundClaim,
    ReviewQueue,
    RoutingRecord,
    RoutingRule,
)

if TYPE_CHECKING:
    from evidence.scoring import ClaimScore

DEFAULT_QUEUE_SLUG = "standard"
# Where a claim goes once its shop suspects the buyer's photo is AI-made (seeded by the
# migration refunds/0012_claimpage_ai_suspect).
FORENSIC_QUEUE_SLUG = "forensic"
# The buyer's earlier claims are counted over these windows before the claim.
WINDOWS_DAYS = (90, 365)
TIER_ORDER = ("", "relatively_large", "huge", "especially_huge")


def default_queue(*, tenant_id: int | None = None) -> ReviewQueue:
    """The platform's "standard" queue (the default platform's when not given), created
    on first use: a new platform's claims have somewhere to wait before it has rules."""
    if tenant_id is None:
        tenant_id = default_platform_pk()
    queue = ReviewQueue.objects.filter(tenant_id=tenant_id, slug=DEFAULT_QUEUE_SLUG).first()
    if queue is None:
        queue, _ = ReviewQueue.objects.get_or_create(
            tenant_id=tenant_id, slug=DEFAULT_QUEUE_SLUG, defaults={"name": "Standard"}
        )
    return queue


def forensic_queue(*, tenant_id: int | None = None) -> ReviewQueue:
    """The platform's forensic queue (the default platform's when not given), created as
    the migration seeds it when it is missing."""
    if tenant_id is None:
        tenant_id = default_platform_pk()
    queue, _ = ReviewQueue.objects.get_or_create(
        tenant_id=tenant_id,
        slug=FORENSIC_QUEUE_SLUG,
        defaults={
            "name": "Forensic",
            "description": "Claims whose shop suspects the buyer's photo is AI-made; checked"
            " by a reviewer trained in image forensics.",
            "priority": 15,
        },
    )
    return queue


# --- Inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingInputs:
    """What routing looks at, as recorded. ``merchant_answered`` is None while the
    merchant may still answer (routing when the checks complete)."""

    risk_score: int
    finding_codes: tuple[str, ...]
    amount: Decimal
    reason: str
    merchant_id: int
    buyer_claims_90d: int = 0
    buyer_claims_365d: int = 0
    buyer_confirmed_forgeries: int = 0
    buyer_amount_in_forged_claims: Decimal = Decimal("0")
    buyer_fraud_tier: str = ""
    photo_verdicts: tuple[str, ...] = ()
    merchant_answered: bool | None = None
    # The shop flagged a photo as AI-made (refunds.services.claim_flag_ai_suspect).
    merchant_suspects_ai: bool = False

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["finding_codes"] = list(self.finding_codes)
        data["photo_verdicts"] = list(self.photo_verdicts)
        data["amount"] = str(self.amount)
        data["buyer_amount_in_forged_claims"] = str(self.buyer_amount_in_forged_claims)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoutingInputs:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["finding_codes"] = tuple(values.get("finding_codes") or ())
        values["photo_verdicts"] = tuple(values.get("photo_verdicts") or ())
        values["amount"] = Decimal(str(values.get("amount", "0")))
        values["buyer_amount_in_forged_claims"] = Decimal(
            str(values.get("buyer_amount_in_forged_claims", "0"))
        )
        return cls(**values)


def photo_verdicts(*, claim_id: int) -> list[str]:
    """The automated per-photo verdict codes of the claim's buyer photos (one per checked
    photo, in upload order: ``evidence.verdicts``); the one place routing reads them."""
    from evidence.selectors import claim_photo_verdicts

    return claim_photo_verdicts(claim_id=claim_id)


def finding_codes(*, claim_id: int) -> tuple[str, ...]:
    """Every finding code on the buyer's evidence, whatever its weight: a rule may name a
    code that adds nothing to the score (a reviewer aid, a zero-weight signal)."""
    from evidence.models import Finding

    codes = (
        Finding.objects.filter(claim_id=claim_id, evidence__submitted_by__in=["buyer", "platform"])
        .values_list("code", flat=True)
        .distinct()
    )
    return tuple(sorted(set(codes)))


def buyer_figures(claim: RefundClaim) -> dict[str, Any]:
    """The buyer's credit before this claim (one query): earlier claims in the last 90
    and 365 days (counted back from this claim's submission), claims a reviewer found
    forged, the amount sought with them and the fraud tier that amount crossed."""
    from refunds.selectors import FRAUD_TIERS

    start = claim.created_at
    since = {days: start - dt.timedelta(days=days) for days in WINDOWS_DAYS}
    row = (
        RefundClaim.objects.filter(buyer_id=claim.buyer_id)
        .exclude(pk=claim.pk)
        .aggregate(
            d90=Count("pk", filter=Q(created_at__gte=since[90], created_at__lte=start)),
            d365=Count("pk", filter=Q(created_at__gte=since[365], created_at__lte=start)),
            forgeries=Count("pk", filter=Q(confirmed_forgery=True)),
            forged=Sum("amount", filter=Q(confirmed_forgery=True)),
        )
    )
    forged = row["forged"] or Decimal("0")
    return {
        "buyer_claims_90d": row["d90"],
        "buyer_claims_365d": row["d365"],
        "buyer_confirmed_forgeries": row["forgeries"],
        "buyer_amount_in_forged_claims": forged,
        "buyer_fraud_tier": next((name for limit, name in FRAUD_TIERS if forged >= limit), ""),
    }


def gather_inputs(
    claim: RefundClaim, score: ClaimScore | None = None, *, merchant_answered: bool | None = None
) -> RoutingInputs:
    """The claim's routing inputs now. ``score`` is the fresh score when the caller has
    one, else the claim's stored score."""
    return RoutingInputs(
        risk_score=score.score if score is not None else (claim.risk_score or 0),
        finding_codes=finding_codes(claim_id=claim.pk),
        amount=claim.amount,
        reason=claim.reason,
        merchant_id=claim.merchant_id,
        photo_verdicts=tuple(photo_verdicts(claim_id=claim.pk)),
        merchant_answered=merchant_answered,
        merchant_suspects_ai=claim.ai_suspected_at is not None,
        **buyer_figures(claim),
    )


def gather_inputs_many(
    claims: list[RefundClaim], *, merchant_answered: dict[int, bool | None]
) -> dict[int, RoutingInputs]:
    """:func:`gather_inputs` for a batch of claims (their stored scores), in three
    queries whatever the batch's size: every finding code, every photo verdict, and the
    buyers' figures (each claim's own window, as :func:`buyer_figures`)."""
    from evidence.models import Finding
    from evidence.selectors import claims_photo_verdicts
    from refunds.selectors import FRAUD_TIERS

    ids = [claim.pk for claim in claims]
    codes: dict[int, set[str]] = {pk: set() for pk in ids}
    for claim_id, code in (
        Finding.objects.filter(claim_id__in=ids, evidence__submitted_by__in=["buyer", "platform"])
        .values_list("claim_id", "code")
        .distinct()
    ):
        codes[claim_id].add(code)
    verdicts = claims_photo_verdicts(claim_ids=ids)
    other = ~Q(buyer__claims__pk=F("pk"))
    before = Q(buyer__claims__created_at__lte=F("created_at")) & other
    forged = Q(buyer__claims__confirmed_forgery=True) & other
    figures = {
        row["pk"]: row
        for row in RefundClaim.objects.filter(pk__in=ids)
        .order_by()
        .values("pk")
        .annotate(
            d90=Count(
                "buyer__claims",
                filter=before
                & Q(buyer__claims__created_at__gte=F("created_at") - dt.timedelta(days=90)),
            ),
            d365=Count(
                "buyer__claims",
                filter=before
                & Q(buyer__claims__created_at__gte=F("created_at") - dt.timedelta(days=365)),
            ),
            forgeries=Count("buyer__claims", filter=forged),
            forged=Sum("buyer__claims__amount", filter=forged),
        )
    }
    inputs = {}
    for claim in claims:
        row = figures[claim.pk]
        amount = row["forged"] or Decimal("0")
        inputs[claim.pk] = RoutingInputs(
            risk_score=claim.risk_score or 0,
            finding_codes=tuple(sorted(codes[claim.pk])),
            amount=claim.amount,
            reason=claim.reason,
            merchant_id=claim.merchant_id,
            photo_verdicts=tuple(verdicts[claim.pk]),
            merchant_answered=merchant_answered.get(claim.pk),
            merchant_suspects_ai=claim.ai_suspected_at is not None,
            buyer_claims_90d=row["d90"],
            buyer_claims_365d=row["d365"],
            buyer_confirmed_forgeries=row["forgeries"],
            buyer_amount_in_forged_claims=amount,
            buyer_fraud_tier=next((name for limit, name in FRAUD_TIERS if amount >= limit), ""),
        )
    return inputs


# --- Matching (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A rule's conditions, detached from the database: the live rules and a changed
    rule set in the simulator are matched the same way."""

    pk: int | None
    name: str
    queue_id: int
    position: int = 100
    min_risk_score: int | None = None
    max_risk_score: int | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    finding_codes: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    merchant_ids: frozenset[int] = frozenset()
    min_buyer_claims_90d: int | None = None
    max_buyer_claims_90d: int | None = None
    min_buyer_claims_365d: int | None = None
    max_buyer_claims_365d: int | None = None
    min_confirmed_forgeries: int | None = None
    max_confirmed_forgeries: int | None = None
    fraud_tier: str = ""
    photo_verdicts: frozenset[str] = frozenset()
    photo_verdicts_all: bool = False
    merchant_answer: str = ""
    auto_outcome: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_rule(cls, rule: RoutingRule, merchant_ids=None) -> RuleSpec:
        if merchant_ids is None:
            merchant_ids = [m.pk for m in rule.merchants.all()] if rule.pk else []
        return cls(
            pk=rule.pk,
            name=rule.name,
            queue_id=rule.queue_id,
            position=rule.position,
            min_risk_score=rule.min_risk_score,
            max_risk_score=rule.max_risk_score,
            min_amount=rule.min_amount,
            max_amount=rule.max_amount,
            finding_codes=frozenset(rule.finding_codes or ()),
            reasons=frozenset(rule.reasons or ()),
            merchant_ids=frozenset(merchant_ids),
            min_buyer_claims_90d=rule.min_buyer_claims_90d,
            max_buyer_claims_90d=rule.max_buyer_claims_90d,
            min_buyer_claims_365d=rule.min_buyer_claims_365d,
            max_buyer_claims_365d=rule.max_buyer_claims_365d,
            min_confirmed_forgeries=rule.min_confirmed_forgeries,
            max_confirmed_forgeries=rule.max_confirmed_forgeries,
            fraud_tier=rule.fraud_tier,
            photo_verdicts=frozenset(rule.photo_verdicts or ()),
            photo_verdicts_all=rule.photo_verdicts_all,
            merchant_answer=rule.merchant_answer,
            auto_outcome=rule.auto_outcome,
        )


def _within(value, low, high) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _tier_holds(condition: str, tier: str) -> bool:
    if condition == "none":
        return tier == ""
    return TIER_ORDER.index(tier or "") >= TIER_ORDER.index(condition)


def _verdicts_hold(rule: RuleSpec, verdicts: tuple[str, ...]) -> bool:
    if rule.photo_verdicts_all:
        return bool(verdicts) and all(v in rule.photo_verdicts for v in verdicts)
    return any(v in rule.photo_verdicts for v in verdicts)


def rule_conditions(rule: RuleSpec, inputs: RoutingInputs) -> list[str] | None:
    """The conditions of ``rule`` that the inputs meet, in words for the record (the
    condition's field names), or None when one of them fails. An empty list: a rule
    without conditions, which catches every claim."""
    checks: list[tuple[str, bool]] = []
    if rule.min_risk_score is not None or rule.max_risk_score is not None:
        checks.append(
            ("risk_score", _within(inputs.risk_score, rule.min_risk_score, rule.max_risk_score))
        )
    if rule.min_amount is not None or rule.max_amount is not None:
        checks.append(("amount", _within(inputs.amount, rule.min_amount, rule.max_amount)))
    if rule.finding_codes:
        checks.append(("finding_codes", bool(rule.finding_codes & set(inputs.finding_codes))))
    if rule.reasons:
        checks.append(("reason", inputs.reason in rule.reasons))
    if rule.merchant_ids:
        checks.append(("merchant", inputs.merchant_id in rule.merchant_ids))
    for name, value in (
        ("buyer_claims_90d", inputs.buyer_claims_90d),
        ("buyer_claims_365d", inputs.buyer_claims_365d),
        ("confirmed_forgeries", inputs.buyer_confirmed_forgeries),
    ):
        low = getattr(rule, f"min_{name}")
        high = getattr(rule, f"max_{name}")
        if low is not None or high is not None:
            checks.append((name, _within(value, low, high)))
    if rule.fraud_tier:
        checks.append(("fraud_tier", _tier_holds(rule.fraud_tier, inputs.buyer_fraud_tier)))
    if rule.photo_verdicts:
        checks.append(("photo_verdicts", _verdicts_hold(rule, inputs.photo_verdicts)))
    if rule.merchant_answer:
        wanted = rule.merchant_answer == "answered"
        checks.append(("merchant_answer", inputs.merchant_answered is wanted))
    if not all(held for _name, held in checks):
        return None
    return [name for name, _held in checks]


@dataclass(frozen=True)
class RouteResult:
    queue_id: int | None  # None: no rule matched, the default queue
    rule: RuleSpec | None
    matched: list[str]

    @property
    def auto_outcome(self) -> str:
        return self.rule.auto_outcome if self.rule else ""


def first_match(
    rules: list[RuleSpec], inputs: RoutingInputs, *, allow_auto: bool = True
) -> RouteResult:
    """The first rule (in the given order) that holds. A deciding rule counts only where
    a claim may be decided without a human (``allow_auto``: as it enters review, never
    while the merchant may still answer); elsewhere it is passed over."""
    for rule in rules:
        if rule.auto_outcome and not allow_auto:
            continue
        matched = rule_conditions(rule, inputs)
        if matched is not None:
            return RouteResult(rule.queue_id, rule, matched)
    return RouteResult(None, None, [])


def route_inputs(
    rules: list[RuleSpec],
    inputs: RoutingInputs,
    *,
    allow_auto: bool,
    forensic_queue_id: int | None,
) -> RouteResult:
    """Where the inputs go (pure): the platform's forensic queue (``forensic_queue_id``,
    None when it is inactive) for a claim whose shop suspects an AI-made photo, never a
    decision without a human; else the first rule that holds (:func:`first_match`).
    Live routing and the simulator's replay both decide through this."""
    if inputs.merchant_suspects_ai and forensic_queue_id is not None:
        return RouteResult(forensic_queue_id, None, ["merchant_suspects_ai"])
    return first_match(rules, inputs, allow_auto=allow_auto)


def live_rules(*, tenant_id: int | None = None) -> list[RuleSpec]:
    """The active rules of active queues, in order (two queries); with ``tenant_id`` only
    those sending claims to that platform's queues (a claim's platform's rules)."""
    rules = RoutingRule.objects.filter(is_active=True, queue__is_active=True)
    if tenant_id is not None:
        rules = rules.filter(queue__tenant_id=tenant_id)
    rules = rules.prefetch_related("merchants").order_by("position", "id")
    return [RuleSpec.from_rule(rule) for rule in rules]


# --- Validation -----------------------------------------------------------------------------


def known_finding_codes() -> set[str]:
    """Every code a check can emit, and any an administrator weighted."""
    from evidence.checks.registry import default_weights
    from evidence.models import ScoringWeight

    return set(default_weights()) | set(ScoringWeight.objects.values_list("code", flat=True))


def rule_problems(rule: RoutingRule) -> dict[str, str]:
    """What is wrong with a rule before it is saved, by field (empty: nothing): a
    minimum above its maximum, an unknown finding, reason or verdict code, a queue that
    is inactive (its claims would never be served by take-next first), an automatic
    partial refund (no amount to give)."""
    from django.utils.translation import gettext as _

    from refunds.models import ClaimReason, Outcome, PhotoVerdictCode

    problems: dict[str, str] = {}
    pairs = [
        ("risk_score", "max_risk_score"),
        ("amount", "max_amount"),
        ("buyer_claims_90d", "max_buyer_claims_90d"),
        ("buyer_claims_365d", "max_buyer_claims_365d"),
        ("confirmed_forgeries", "max_confirmed_forgeries"),
    ]
    for name, high_field in pairs:
        low, high = getattr(rule, f"min_{name}"), getattr(rule, high_field)
        if low is not None and high is not None and low > high:
            problems[high_field] = _("The maximum is below the minimum.")
    for field_name, known in (
        ("finding_codes", known_finding_codes()),
        ("reasons", set(ClaimReason.values)),
        ("photo_verdicts", set(PhotoVerdictCode.values)),
    ):
        values = getattr(rule, field_name) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems[field_name] = _("Give a list of codes.")
            continue
        unknown = sorted(set(values) - known)
        if unknown:
            problems[field_name] = _("Unknown codes: %(codes)s.") % {"codes": ", ".join(unknown)}
    if rule.photo_verdicts_all and not rule.photo_verdicts:
        problems["photo_verdicts"] = _("Name the verdicts every photo must have.")
    if (
        rule.queue_id is None
        or not ReviewQueue.objects.filter(pk=rule.queue_id, is_active=True).exists()
    ):
        problems["queue"] = _("Choose an active queue: claims routed here must reach a reviewer.")
    if rule.auto_outcome and rule.auto_outcome not in Outcome.values:
        problems["auto_outcome"] = _("Unknown outcome.")
    elif rule.auto_outcome == Outcome.PARTIAL_REFUND:
        problems["auto_outcome"] = _("A rule cannot grant a partial refund: it has no amount.")
    return problems


def queue_problems(queue: ReviewQueue) -> dict[str, str]:
    """What is wrong with a queue before it is saved, by field (empty: nothing): a queue
    of a platform stays on it and keeps its slug (the appeals, legal, forensic and
    standard queues are found by slug; the claims in it belong to its platform), and past
    its SLA a claim moves only to another queue of the same platform."""
    from django.utils.translation import gettext as _

    problems: dict[str, str] = {}
    saved = (
        ReviewQueue.objects.filter(pk=queue.pk).values("tenant_id", "slug").first()
        if queue.pk is not None
        else None
    )
    if saved is not None and saved["tenant_id"] != queue.tenant_id:
        problems["tenant"] = _("A queue stays on its platform.")
    if saved is not None and saved["slug"] != queue.slug:
        problems["slug"] = _("A queue keeps its slug once it exists.")
    target = queue.sla_escalate_to
    if target is not None and (target.pk == queue.pk or target.tenant_id != queue.tenant_id):
        problems["sla_escalate_to"] = _("Choose another queue of the same platform.")
    return problems


# --- Routing a claim ------------------------------------------------------------------------


def route(
    claim: RefundClaim,
    score: ClaimScore | None = None,
    *,
    stage: str = RoutingRecord.Stage.CHECKS,
    merchant_answered: bool | None = None,
) -> tuple[ReviewQueue, RoutingRecord]:
    """Route the claim with the live rules and record which rule fired on which inputs.
    Call it inside the transaction that moves the claim. A deciding rule is considered
    only at the ``review`` stage; the caller performs the decision."""
    inputs = gather_inputs(claim, score, merchant_answered=merchant_answered)
    # The shop's AI-made flag outlives a rescore: the forensic queue, never a decision
    # without a human.
    forensic = forensic_queue(tenant_id=claim.tenant_id) if inputs.merchant_suspects_ai else None
    result = route_inputs(
        live_rules(tenant_id=claim.tenant_id),
        inputs,
        allow_auto=stage == RoutingRecord.Stage.REVIEW,
        forensic_queue_id=forensic.pk if forensic is not None and forensic.is_active else None,
    )
    queue = (
        ReviewQueue.objects.get(pk=result.queue_id)
        if result.queue_id is not None
        else default_queue(tenant_id=claim.tenant_id)
    )
    record = RoutingRecord.objects.create(
        claim=claim,
        stage=stage,
        rule_id=result.rule.pk if result.rule else None,
        rule_name=result.rule.name if result.rule else "",
        queue=queue,
        inputs=inputs.as_json(),
        matched=result.matched,
        auto_outcome=result.auto_outcome,
    )
    return queue, record


def route_many(
    claims: list[RefundClaim], *, stage: str, merchant_answered: dict[int, bool | None]
) -> dict[int, tuple[ReviewQueue, RoutingRecord]]:
    """:func:`route` for a batch of claims (the deadline sweep's), with the same rules
    and the same record per claim, in a handful of queries for the whole batch: the
    inputs (:func:`gather_inputs_many`), each platform's live rules once, the queues in
    one read, the records in one INSERT. {claim: (queue, record)}."""
    inputs = gather_inputs_many(claims, merchant_answered=merchant_answered)
    rules: dict[int, list[RuleSpec]] = {}
    forensic: dict[int, ReviewQueue] = {}
    results = {}
    for claim in claims:
        tenant_id = claim.tenant_id
        if inputs[claim.pk].merchant_suspects_ai:
            if tenant_id not in forensic:
                forensic[tenant_id] = forensic_queue(tenant_id=tenant_id)
            if forensic[tenant_id].is_active:
                results[claim.pk] = RouteResult(
                    forensic[tenant_id].pk, None, ["merchant_suspects_ai"]
                )
                continue
        if tenant_id not in rules:
            rules[tenant_id] = live_rules(tenant_id=tenant_id)
        results[claim.pk] = first_match(
            rules[tenant_id], inputs[claim.pk], allow_auto=stage == RoutingRecord.Stage.REVIEW
        )
    queues = ReviewQueue.objects.in_bulk({r.queue_id for r in results.values() if r.queue_id})
    defaults: dict[int, ReviewQueue] = {}
    records = []
    for claim in claims:
        result = results[claim.pk]
        if result.queue_id is not None:
            queue = queues[result.queue_id]
        else:
            if claim.tenant_id not in defaults:
                defaults[claim.tenant_id] = default_queue(tenant_id=claim.tenant_id)
            queue = defaults[claim.tenant_id]
        records.append(
            RoutingRecord(
                claim=claim,
                stage=stage,
                rule_id=result.rule.pk if result.rule else None,
                rule_name=result.rule.name if result.rule else "",
                queue=queue,
                inputs=inputs[claim.pk].as_json(),
                matched=result.matched,
                auto_outcome=result.auto_outcome,
            )
        )
    RoutingRecord.objects.bulk_create(records)
    return {record.claim_id: (record.queue, record) for record in records}


def latest_record(*, claim_id: int) -> RoutingRecord | None:
    return (
        RoutingRecord.objects.filter(claim_id=claim_id)
        .select_related("queue", "rule")
        .order_by("-id")
        .first()
    )
