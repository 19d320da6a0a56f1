"""Which review queue a claim goes to: the first active routing rule that matches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from merchants.models import default_platform_pk
from refunds.models import RefundClaim, ReviewQueue, RoutingRule

if TYPE_CHECKING:
    from evidence.scoring import ClaimScore

DEFAULT_QUEUE_SLUG = "standard"
# Where a claim goes once its shop suspects the buyer's photo is AI-made (seeded by the
# migration refunds/0007_claimpage_ai_suspect).
FORENSIC_QUEUE_SLUG = "forensic"


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


def rule_matches(
    rule: RoutingRule, claim: RefundClaim, score: ClaimScore, buyer_claims: int
) -> bool:
    if rule.min_risk_score is not None and score.score < rule.min_risk_score:
        return False
    if rule.max_risk_score is not None and score.score > rule.max_risk_score:
        return False
    if rule.min_amount is not None and claim.amount < rule.min_amount:
        return False
    if rule.finding_code and rule.finding_code not in score.codes:
        return False
    return rule.min_buyer_claims is None or buyer_claims >= rule.min_buyer_claims


def route(claim: RefundClaim, score: ClaimScore) -> ReviewQueue:
    if claim.ai_suspected_at is not None:
        # The shop's AI-made flag outlives a rescore: the forensic queue, while active.
        queue = forensic_queue(tenant_id=claim.tenant_id)
        if queue.is_active:
            return queue
    buyer_claims = RefundClaim.objects.filter(buyer_id=claim.buyer_id).exclude(pk=claim.pk).count()
    # Only the rules sending claims to the claim's own platform's queues apply.
    rules = RoutingRule.objects.filter(
        is_active=True, queue__is_active=True, queue__tenant_id=claim.tenant_id
    ).select_related("queue")
    for rule in rules:
        if rule_matches(rule, claim, score, buyer_claims):
            return rule.queue
    return default_queue(tenant_id=claim.tenant_id)
