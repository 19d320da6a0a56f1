"""Reads about claims, already scoped to the caller, with related rows fetched once."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from refunds.models import Assignment, Buyer, ClaimStatus, Outcome, RefundClaim

S = ClaimStatus
REVIEWER_GROUPS = ("reviewers", "senior reviewers")


def is_reviewer(user) -> bool:
    """Platform reviewers: members of the 'reviewers' or 'senior reviewers' group."""
    return bool(
        user.is_authenticated
        and (user.is_superuser or user.groups.filter(name__in=REVIEWER_GROUPS).exists())
    )


def claims_for_merchant_user(*, user) -> QuerySet[RefundClaim]:
    """The claims of every shop the user acts for, and nothing else."""
    if not user.is_authenticated:
        return RefundClaim.objects.none()
    return (
        RefundClaim.objects.filter(merchant__memberships__user=user, merchant__is_active=True)
        .select_related("order", "merchant", "queue")
        .order_by("-created_at")
    )


def claim_for_merchant_user(*, user, claim_id: int) -> RefundClaim:
    """One claim of the user's shops, or 404 (another shop's claim does not exist for them)."""
    try:
        return claims_for_merchant_user(user=user).get(pk=claim_id)
    except RefundClaim.DoesNotExist as exc:
        raise Http404 from exc


def claims_awaiting_review(*, queue=None) -> QuerySet[RefundClaim]:
    """Claims a reviewer may take: in review or appealed, nobody holding them,
    most urgent first (queue priority, then the review deadline)."""
    held = Assignment.objects.filter(claim=OuterRef("pk"), released_at__isnull=True)
    qs = RefundClaim.objects.filter(status__in=[S.IN_REVIEW, S.APPEALED]).filter(~Exists(held))
    if queue is not None:
        qs = qs.filter(queue=queue)
    return qs.select_related("queue").order_by("queue__priority", "review_deadline", "created_at")


# Criminal Law art. 266 thresholds for fraud (数额较大 / 巨大 / 特别巨大), CNY.
FRAUD_TIERS: tuple[tuple[Decimal, str], ...] = (
    (Decimal("500000"), "especially_huge"),
    (Decimal("30000"), "huge"),
    (Decimal("3000"), "relatively_large"),
)
FRAUD_TIER_LABELS = {
    "relatively_large": _("Relatively large (数额较大)"),
    "huge": _("Huge (数额巨大)"),
    "especially_huge": _("Especially huge (数额特别巨大)"),
}


@dataclass(frozen=True)
class BuyerCredit:
    claims: int
    open_claims: int
    refunded_claims: int
    denied_claims: int
    confirmed_forgeries: int
    amount_refunded: Decimal
    amount_in_forged_claims: Decimal
    tier: str  # "" below 3,000 CNY (an administrative matter), else the highest tier crossed

    @property
    def crosses_fraud_tier(self) -> bool:
        return bool(self.tier)


def buyer_credit(*, buyer: Buyer | int) -> BuyerCredit:
    """A buyer's refund-only history. The fraud tier is computed on the amounts obtained
    or sought with evidence a reviewer confirmed as forged."""
    buyer_id = buyer if isinstance(buyer, int) else buyer.pk
    refunded = [Outcome.REFUND_APPROVED, Outcome.PARTIAL_REFUND, Outcome.RETURN_REQUIRED]
    row = RefundClaim.objects.filter(buyer_id=buyer_id).aggregate(
        claims=Count("pk"),
        open_claims=Count("pk", filter=~Q(status__in=[S.CLOSED, S.WITHDRAWN, S.DECIDED])),
        refunded_claims=Count("pk", filter=Q(outcome__in=refunded)),
        denied_claims=Count("pk", filter=Q(outcome=Outcome.REFUND_DENIED)),
        confirmed_forgeries=Count("pk", filter=Q(confirmed_forgery=True)),
        amount_refunded=Sum("refund_amount", filter=Q(outcome__in=refunded)),
        amount_in_forged_claims=Sum("amount", filter=Q(confirmed_forgery=True)),
    )
    forged = row["amount_in_forged_claims"] or Decimal("0")
    tier = next((name for limit, name in FRAUD_TIERS if forged >= limit), "")
    return BuyerCredit(
        claims=row["claims"],
        open_claims=row["open_claims"],
        refunded_claims=row["refunded_claims"],
        denied_claims=row["denied_claims"],
        confirmed_forgeries=row["confirmed_forgeries"],
        amount_refunded=row["amount_refunded"] or Decimal("0"),
        amount_in_forged_claims=forged,
        tier=tier,
    )


def buyer_claims_against_shop(*, buyer_id: int, merchant_id: int) -> QuerySet[RefundClaim]:
    """The buyer's claims against one shop, oldest first (what that shop already knows)."""
    return (
        RefundClaim.objects.filter(buyer_id=buyer_id, merchant_id=merchant_id)
        .select_related("order")
        .order_by("created_at", "pk")
    )


@dataclass(frozen=True)
class MerchantBuyerCredit:
    """What a merchant may know of a buyer's history: the buyer's claims against the
    merchant's own shop, and which fraud tier (if any) the platform-wide amount sought with
    evidence a reviewer confirmed as forged has crossed. Not that amount, and nothing of
    the buyer's claims against other shops."""

    claims_against_shop: list[RefundClaim]
    tier: str  # as BuyerCredit.tier

    @property
    def crosses_fraud_tier(self) -> bool:
        return bool(self.tier)


def buyer_credit_for_merchant(*, buyer: Buyer | int, merchant_id: int) -> MerchantBuyerCredit:
    """The merchant's view of a buyer's credit (see :class:`MerchantBuyerCredit`)."""
    buyer_id = buyer if isinstance(buyer, int) else buyer.pk
    return MerchantBuyerCredit(
        claims_against_shop=list(
            buyer_claims_against_shop(buyer_id=buyer_id, merchant_id=merchant_id)
        ),
        tier=buyer_credit(buyer=buyer_id).tier,
    )


# --- Reads for the browser pages --------------------------------------------------------


def merchant_inbox(*, user, status: str = "") -> QuerySet[RefundClaim]:
    """The user's shops' claims for the inbox, optionally of one status; the order's items
    come in one extra query. Of the buyer only the display name is read (``buyer_name``)."""
    from django.db.models import F

    qs = (
        claims_for_merchant_user(user=user)
        .annotate(buyer_name=F("buyer__display_name"))
        .prefetch_related("order__items")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def merchant_inbox_counts(*, user) -> dict[str, int]:
    """How many of the user's shops' claims are in each status (one grouped query)."""
    rows = (
        RefundClaim.objects.filter(merchant__memberships__user=user, merchant__is_active=True)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["status"]: row["n"] for row in rows}


def claim_timeline(*, claim_id: int):
    """The claim's audit events, oldest first."""
    from refunds.models import AuditEvent

    return AuditEvent.objects.filter(claim_id=claim_id).order_by("seq")


def review_queue_overview():
    """Active queues, each with ``waiting``, ``appeals`` and ``overdue`` counts of claims a
    reviewer may take now; two queries whatever the number of queues."""
    from django.utils import timezone

    from refunds.models import ReviewQueue

    now = timezone.now()
    rows = (
        claims_awaiting_review()
        .order_by()
        .values("queue_id")
        .annotate(
            waiting=Count("pk"),
            appeals=Count("pk", filter=Q(status=S.APPEALED)),
            overdue=Count("pk", filter=Q(review_deadline__lt=now)),
        )
    )
    counts = {row["queue_id"]: row for row in rows}
    queues = list(ReviewQueue.objects.filter(is_active=True))
    for queue in queues:
        row = counts.get(queue.pk, {})
        queue.waiting = row.get("waiting", 0)
        queue.appeals = row.get("appeals", 0)
        queue.overdue = row.get("overdue", 0)
    return queues


def claims_held_by(*, reviewer) -> QuerySet[RefundClaim]:
    """Claims the reviewer holds (open assignments), most urgent first."""
    held = Assignment.objects.filter(
        claim=OuterRef("pk"), reviewer=reviewer, released_at__isnull=True
    )
    return (
        RefundClaim.objects.filter(Exists(held))
        .select_related("queue", "merchant")
        .order_by("review_deadline", "created_at")
    )


def claim_for_reviewer(*, user, claim_id: int) -> RefundClaim:
    """Any claim, for a platform reviewer; 404 for everybody else."""
    if not is_reviewer(user):
        raise Http404
    try:
        return RefundClaim.objects.select_related("order", "merchant", "queue", "buyer").get(
            pk=claim_id
        )
    except RefundClaim.DoesNotExist as exc:
        raise Http404 from exc


def claim_holder(*, claim_id: int):
    """The open assignment of a claim (with its reviewer), or None."""
    return (
        Assignment.objects.filter(claim_id=claim_id, released_at__isnull=True)
        .select_related("reviewer")
        .first()
    )


def claim_decisions(*, claim_id: int):
    """A claim's decisions, newest first, with their reviewers."""
    from refunds.models import Decision

    return Decision.objects.filter(claim_id=claim_id).select_related("reviewer")


def claim_visible_to(*, user, claim_id: int) -> bool:
    """May the user see this claim's files: a reviewer, or a member of the claim's shop."""
    if not user.is_authenticated:
        return False
    if claims_for_merchant_user(user=user).filter(pk=claim_id).exists():
        return True
    return is_reviewer(user)
