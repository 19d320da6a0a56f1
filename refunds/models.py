"""Buyers, orders, refund-only claims and everything that decides them."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from evidence import verdicts
from merchants.models import default_platform_pk

MONEY = {"max_digits": 12, "decimal_places": 2}


class Buyer(models.Model):
    """A marketplace customer. Phone and address are private: never shown to a merchant.

    A buyer belongs to one platform; the platform id is unique on that platform only.
    The contact data here is the latest the platform sent; each order keeps its own."""

    tenant = models.ForeignKey(
        "merchants.Platform",
        on_delete=models.PROTECT,
        default=default_platform_pk,
        related_name="buyers",
        verbose_name=_("platform"),
    )
    platform_id = models.CharField(_("platform id"), max_length=64)
    display_name = models.CharField(_("display name"), max_length=100)
    account_created_at = models.DateTimeField(_("account created"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("buyer")
        verbose_name_plural = _("buyers")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "platform_id"], name="buyer_unique_platform_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.platform_id})"


class Order(models.Model):
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="orders"
    )
    buyer = models.ForeignKey(Buyer, on_delete=models.PROTECT, related_name="orders")
    platform_id = models.CharField(_("platform id"), max_length=64)
    total_amount = models.DecimalField(_("total (CNY)"), **MONEY)
    shipping_address = models.TextField(_("shipping address"), blank=True)
    # The buyer's contact data as given with this order: a later order (or a later
    # change of the buyer's account) never rewrites what this one was placed with.
    buyer_name = models.CharField(_("buyer's name on the order"), max_length=100, blank=True)
    buyer_phone = models.CharField(_("buyer's phone on the order"), max_length=32, blank=True)
    paid_at = models.DateTimeField(_("paid at"))
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-paid_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "platform_id"], name="order_unique_platform_id"
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0), name="order_total_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(shipped_at__isnull=True) | Q(shipped_at__gte=F("paid_at")),
                name="order_shipped_after_paid",
            ),
            models.CheckConstraint(
                condition=Q(delivered_at__isnull=True)
                | (Q(shipped_at__isnull=False) & Q(delivered_at__gte=F("shipped_at"))),
                name="order_delivered_after_shipped",
            ),
        ]

    def __str__(self) -> str:
        return self.platform_id


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(
        "merchants.Product",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order_items",
    )
    title = models.CharField(_("title"), max_length=300)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = models.DecimalField(_("unit price (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_item_quantity_min_1"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_item_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.title}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class ReviewQueue(models.Model):
    """A human review queue of one platform; routing rules send its claims here."""

    tenant = models.ForeignKey(
        "merchants.Platform",
        on_delete=models.PROTECT,
        default=default_platform_pk,
        related_name="queues",
        verbose_name=_("platform"),
    )
    slug = models.SlugField(_("slug"))
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower numbers are served first by “take next”.")
    )
    sla_hours = models.PositiveIntegerField(_("review SLA (hours)"), default=24)
    lease_minutes = models.PositiveIntegerField(
        _("lease (minutes)"),
        default=60,
        validators=[MinValueValidator(1)],
        help_text=_(
            "A claim taken from this queue goes back to it after this long without "
            "activity by the reviewer holding it."
        ),
    )
    sla_escalate_to = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("past the SLA, move to"),
        help_text=_(
            "A waiting claim past this queue's SLA moves once to this queue (empty: it is "
            "only flagged)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("review queue")
        verbose_name_plural = _("review queues")
        ordering = ["priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="queue_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


def outcome_choices():
    """The outcomes (defined further down), for fields declared before them."""
    return Outcome.choices


# The per-photo verdicts of the automated checks a routing rule may name: the codes are
# evidence.verdicts' (the one list, in its precedence), labelled here for the rules'
# authors (the checks' own labels speak to the merchant about "your photo").
_RULE_VERDICT_LABELS = {
    verdicts.EDITED_COPY: _("Edited copy of another photo"),
    verdicts.COPY: _("Copy of another photo"),
    verdicts.SCREEN_COPY: _("Photo of a screen"),
    verdicts.AI_LABELLED: _("Labelled as AI-generated"),
    verdicts.REUSED: _("Reused from an earlier claim"),
    verdicts.CLEAN: _("Clean"),
    verdicts.INCONCLUSIVE: _("Inconclusive"),
}
PhotoVerdictCode = models.TextChoices(
    "PhotoVerdictCode",
    [(code.upper(), (code, _RULE_VERDICT_LABELS[code])) for code in verdicts.PRECEDENCE],
)


class FraudTierCondition(models.TextChoices):
    NONE = "none", _("No tier crossed (below 3,000 CNY)")
    RELATIVELY_LARGE = "relatively_large", _("At least 3,000 CNY (数额较大)")
    HUGE = "huge", _("At least 30,000 CNY (数额巨大)")
    ESPECIALLY_HUGE = "especially_huge", _("At least 500,000 CNY (数额特别巨大)")


class MerchantAnswerCondition(models.TextChoices):
    ANSWERED = "answered", _("The merchant answered")
    SILENT = "silent", _("The merchant did not answer in time")


class RoutingRule(models.Model):
    """Ordered, admin-editable: the first active rule whose conditions all hold wins.

    Every condition left empty holds for every claim. Saved only through
    ``refunds.services.routing_rule_save`` (validation: min ≤ max, known codes, an
    active queue). A rule with an ``auto_outcome`` decides the claim without a human
    when it fires as the claim enters review (``refunds.routing``)."""

    position = models.PositiveIntegerField(_("position"), default=100)
    name = models.CharField(_("name"), max_length=100)
    queue = models.ForeignKey(ReviewQueue, on_delete=models.PROTECT, related_name="rules")
    min_risk_score = models.PositiveSmallIntegerField(
        _("minimum risk score"), null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    max_risk_score = models.PositiveSmallIntegerField(
        _("maximum risk score"), null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    min_amount = models.DecimalField(_("minimum amount (CNY)"), null=True, blank=True, **MONEY)
    max_amount = models.DecimalField(_("maximum amount (CNY)"), null=True, blank=True, **MONEY)
    finding_codes = models.JSONField(
        _("has any finding code"),
        default=list,
        blank=True,
        help_text=_("Matches when any finding of the buyer's evidence has one of these codes."),
    )
    reasons = models.JSONField(
        _("claim reasons"), default=list, blank=True, help_text=_("Any of these reasons.")
    )
    merchants = models.ManyToManyField(
        "merchants.Merchant", blank=True, related_name="+", verbose_name=_("shops")
    )
    min_buyer_claims_90d = models.PositiveIntegerField(
        _("minimum earlier claims by the buyer in 90 days"), null=True, blank=True
    )
    max_buyer_claims_90d = models.PositiveIntegerField(
        _("maximum earlier claims by the buyer in 90 days"), null=True, blank=True
    )
    min_buyer_claims_365d = models.PositiveIntegerField(
        _("minimum earlier claims by the buyer in 365 days"), null=True, blank=True
    )
    max_buyer_claims_365d = models.PositiveIntegerField(
        _("maximum earlier claims by the buyer in 365 days"), null=True, blank=True
    )
    min_confirmed_forgeries = models.PositiveIntegerField(
        _("minimum confirmed forgeries by the buyer"), null=True, blank=True
    )
    max_confirmed_forgeries = models.PositiveIntegerField(
        _("maximum confirmed forgeries by the buyer"), null=True, blank=True
    )
    fraud_tier = models.CharField(
        _("buyer's fraud tier"),
        max_length=20,
        blank=True,
        choices=FraudTierCondition.choices,
        help_text=_("Amounts the buyer sought with evidence a reviewer confirmed as forged."),
    )
    photo_verdicts = models.JSONField(
        _("photo verdicts"),
        default=list,
        blank=True,
        help_text=_("Verdict codes of the automated checks on the buyer's photos."),
    )
    photo_verdicts_all = models.BooleanField(
        _("every photo has one of these verdicts"),
        default=False,
        help_text=_("Off: any photo has one of them. On: every photo does (and there is one)."),
    )
    merchant_answer = models.CharField(
        _("merchant's answer"), max_length=10, blank=True, choices=MerchantAnswerCondition.choices
    )
    auto_outcome = models.CharField(
        _("decide automatically"),
        max_length=20,
        blank=True,
        choices=outcome_choices,
        help_text=_(
            "When set, a claim this rule routes as it enters review is decided without a "
            "human, recorded as a system decision the parties may appeal."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} → {self.queue}"


class ClaimStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    CHECKING = "checking", _("Checking evidence")
    AWAITING_MERCHANT = "awaiting_merchant", _("Awaiting merchant")
    AWAITING_BUYER = "awaiting_buyer", _("Awaiting buyer evidence")
    IN_REVIEW = "in_review", _("In review")
    DECIDED = "decided", _("Decided")
    APPEALED = "appealed", _("Appealed")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Outcome(models.TextChoices):
    REFUND_APPROVED = "refund_approved", _("Refund approved")
    REFUND_DENIED = "refund_denied", _("Refund denied")
    RETURN_REQUIRED = "return_required", _("Return required")
    PARTIAL_REFUND = "partial_refund", _("Partial refund")


class ClaimReason(models.TextChoices):
    DAMAGED = "damaged", _("Arrived damaged")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    QUALITY = "quality", _("Quality problem")
    MISSING_PARTS = "missing_parts", _("Missing parts")
    WRONG_ITEM = "wrong_item", _("Wrong item")
    NOT_RECEIVED = "not_received", _("Not received")
    OTHER = "other", _("Other")


class RefundClaim(models.Model):
    """A buyer's refund-only claim (仅退款). Its status changes only in refunds.services."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="claims")
    # Denormalised from the order so every scoped query is a single indexed filter.
    # No single-column index: the inbox's indexes lead with merchant (claim_inbox and the
    # keyset ones) and serve every lookup by shop, the PROTECT check of a shop's deletion
    # included; one more index would be written by every insert and non-HOT update.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="claims", db_index=False
    )
    # No single-column index either: claim_buyer_history (buyer, -created_at) serves it.
    buyer = models.ForeignKey(
        Buyer, on_delete=models.PROTECT, related_name="claims", db_index=False
    )
    # Denormalised from the merchant (the services set it from the order's shop), so a
    # reviewer's and the policy's platform scoping is a column of the row they hold.
    tenant = models.ForeignKey(
        "merchants.Platform",
        on_delete=models.PROTECT,
        default=default_platform_pk,
        related_name="+",
        verbose_name=_("platform"),
    )
    platform_id = models.CharField(_("platform id"), max_length=64, blank=True)
    amount = models.DecimalField(_("amount claimed (CNY)"), **MONEY)
    order_total = models.DecimalField(_("order total at submission (CNY)"), **MONEY)
    reason = models.CharField(_("reason"), max_length=20, choices=ClaimReason.choices)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=ClaimStatus.choices, default=ClaimStatus.RECEIVED
    )
    risk_score = models.PositiveSmallIntegerField(
        _("risk score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    risk_reasons = models.JSONField(_("risk reasons"), default=list, blank=True)
    queue = models.ForeignKey(
        ReviewQueue, on_delete=models.PROTECT, null=True, blank=True, related_name="claims"
    )
    # Denormalised from the open Assignment (the services set both in one transaction,
    # under the claim's lock), so "waiting for a reviewer" is a plain indexed predicate
    # instead of a NOT EXISTS over assignments.
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("held by"),
    )
    merchant_response = models.CharField(_("merchant response"), max_length=20, blank=True)
    merchant_statement = models.TextField(_("merchant statement"), blank=True)
    merchant_offer_amount = models.DecimalField(
        _("merchant's partial refund offer (CNY)"), null=True, blank=True, **MONEY
    )
    merchant_deadline = models.DateTimeField(_("merchant deadline"), null=True, blank=True)
    buyer_deadline = models.DateTimeField(_("buyer evidence deadline"), null=True, blank=True)
    review_deadline = models.DateTimeField(_("review deadline"), null=True, blank=True)
    appeal_deadline = models.DateTimeField(_("appeal deadline"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, blank=True)
    refund_amount = models.DecimalField(_("refund granted (CNY)"), null=True, blank=True, **MONEY)
    confirmed_forgery = models.BooleanField(
        _("confirmed forgery"),
        default=False,
        help_text=_("Set by a reviewer's decision that the buyer's evidence was forged."),
    )
    # A member of the shop suspects the buyer's photo is AI-made (one click on the claim
    # page: refunds.services.claim_flag_ai_suspect); the claim goes to the forensic queue.
    ai_suspected_at = models.DateTimeField(_("AI-made suspected at"), null=True, blank=True)
    ai_suspected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("AI-made suspected by"),
    )
    ai_suspect_note = models.TextField(_("note on the AI-made suspicion"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    # Set once, when the SLA sweep moved the claim: nothing moves twice.
    sla_escalated_at = models.DateTimeField(_("escalated past its SLA"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund claim")
        verbose_name_plural = _("refund claims")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="claim_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount__lte=F("order_total")), name="claim_amount_within_order"
            ),
            models.CheckConstraint(
                condition=Q(risk_score__isnull=True)
                | (Q(risk_score__gte=0) & Q(risk_score__lte=100)),
                name="claim_risk_score_0_100",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ClaimStatus.values), name="claim_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome="") | Q(outcome__in=Outcome.values),
                name="claim_outcome_valid",
            ),
            models.CheckConstraint(
                condition=Q(refund_amount__isnull=True)
                | (Q(refund_amount__gte=0) & Q(refund_amount__lte=F("amount"))),
                name="claim_refund_within_amount",
            ),
            models.UniqueConstraint(
                fields=["merchant", "platform_id"],
                condition=~Q(platform_id=""),
                name="claim_unique_platform_id",
            ),
            # One live claim per order: a second submission is a duplicate, not a new case.
            models.UniqueConstraint(
                fields=["order"],
                condition=~Q(status__in=["closed", "withdrawn"]),
                name="claim_one_open_per_order",
            ),
        ]
        indexes = [
            # The merchant inbox: a shop's claims by status, newest first.
            models.Index(fields=["merchant", "status", "-created_at"], name="claim_inbox"),
            # No index names held_by, in its fields or in its condition: a take or a release
            # writes held_by alone, and PostgreSQL makes that UPDATE a HOT update (the new row
            # version on the same page, no index touched) only when no indexed column, key
            # or partial-index predicate, changes. Were held_by in one, every take and
            # release inserted into each of this table's indexes (~600 MB at 1M claims): the
            # slow statement of a take under I/O pressure (docs/performance.md, session 10).
            # The table keeps free space on its pages for those versions (fillfactor,
            # migration 0021).
            #
            # "Take next": the claims in review or appealed, per queue, in the order they
            # are handed out (the review deadline, then the oldest); one index range per
            # queue, so taking the head of a queue reads a few entries, whatever waits.
            # "Nobody holds it" (held_by IS NULL) is a filter on the rows the range yields:
            # it steps over the claims held now, a handful per queue (a reviewer holds at
            # most REVIEW_MAX_OPEN_LEASES).
            models.Index(
                fields=["queue", "review_deadline", "id"],
                condition=Q(status__in=["in_review", "appealed"]),
                name="claim_take_next",
            ),
            # The same for the claims in review only: what a reviewer who does not decide
            # appeals may take, read without stepping over a queue's waiting appeals. Its
            # predicate is the very one policy.takeable_condition composes (PostgreSQL
            # proves a partial index's predicate only from the same clauses).
            models.Index(
                fields=["queue", "review_deadline", "id"],
                condition=Q(status__in=["in_review", "appealed"]) & ~Q(status="appealed"),
                name="claim_take_next_in_review",
            ),
            # (No index for the queue page's counts: it reads QueueWaitingCount. One on
            # (queue, status, review_deadline) here made PostgreSQL sort a whole queue's
            # waiting claims for every "take next" instead of reading this one's head.)
            # ("My claims", the few claims somebody holds, are read through the open
            # assignments: Assignment's assignment_open_by_reviewer.)
            # The deadline sweeper reads only claims waiting on somebody.
            models.Index(
                fields=["merchant_deadline"],
                condition=Q(status="awaiting_merchant"),
                name="claim_merchant_due",
            ),
            models.Index(
                fields=["buyer_deadline"],
                condition=Q(status="awaiting_buyer"),
                name="claim_buyer_due",
            ),
            models.Index(
                fields=["appeal_deadline"],
                condition=Q(status="decided"),
                name="claim_appeal_due",
            ),
            models.Index(fields=["buyer", "-created_at"], name="claim_buyer_history"),
            models.Index(fields=["updated_at"], name="claim_updated"),
            # The inbox's keyset pages (refunds.selectors.merchant_inbox_page), one index
            # per sort: a shop's claims waiting for its answer, soonest deadline first...
            models.Index(
                fields=["merchant", "merchant_deadline", "id"],
                condition=Q(status="awaiting_merchant"),
                name="claim_inbox_awaiting",
            ),
            # ...its claims newest first, by amount, by risk score (scored ones).
            models.Index(fields=["merchant", "-created_at", "-id"], name="claim_inbox_by_date"),
            models.Index(fields=["merchant", "-amount", "-id"], name="claim_inbox_by_amount"),
            models.Index(
                fields=["merchant", "-risk_score", "-id"],
                condition=Q(risk_score__isnull=False),
                name="claim_inbox_by_risk",
            ),
            # The API's claim lists, keyset pages newest first: by status, and all.
            models.Index(fields=["status", "-created_at", "-id"], name="claim_api_by_status"),
            models.Index(fields=["-created_at", "-id"], name="claim_api_newest"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_reason_display()} ¥{self.amount}"


class Assignment(models.Model):
    """A reviewer holding a claim: a lease. At most one open assignment per claim.

    The lease ends when its holder decides, asks the buyer or releases the claim, or
    when ``expires_at`` passes without activity (``refunds.services.leases_expire``
    gives the claim back to its queue); activity moves ``expires_at`` forward by the
    queue's ``lease_minutes``. Assignments closed before leases existed have no expiry.
    """

    claim = models.ForeignKey(RefundClaim, on_delete=models.CASCADE, related_name="assignments")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    for_appeal = models.BooleanField(_("appeal review"), default=False)
    assigned_at = models.DateTimeField(_("assigned at"), auto_now_add=True)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(released_at__isnull=True),
                name="assignment_one_open_per_claim",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=False) | Q(expires_at__isnull=False),
                name="assignment_open_has_expiry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["reviewer"],
                condition=Q(released_at__isnull=True),
                name="assignment_open_by_reviewer",
            ),
            # The lease sweeper: open leases by expiry, read in bounded batches.
            models.Index(
                fields=["expires_at"],
                condition=Q(released_at__isnull=True),
                name="assignment_lease_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} ← claim {self.claim_id}"


class Decision(models.Model):
    claim = models.ForeignKey(RefundClaim, on_delete=models.PROTECT, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    decided_by_merchant = models.BooleanField(_("merchant accepted"), default=False)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    refund_amount = models.DecimalField(_("refund (CNY)"), **MONEY)
    rationale = models.TextField(_("rationale"))
    confirmed_forgery = models.BooleanField(_("evidence found forged"), default=False)
    on_appeal = models.BooleanField(_("appeal decision"), default=False)
    # A system decision: an active routing rule decided the claim without a human.
    automatic = models.BooleanField(_("decided by a rule"), default=False)
    routing_rule = models.ForeignKey(
        "RoutingRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("routing rule"),
    )
    # The findings (ids) the reviewer says the decision rests on.
    findings_relied_on = models.JSONField(_("findings relied on"), default=list, blank=True)
    created_at = models.DateTimeField(_("decided at"), auto_now_add=True)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(refund_amount__gte=0), name="decision_refund_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=Outcome.values), name="decision_outcome_valid"
            ),
        ]
        # The statistics' rollups recompute a day's decisions (reporting.services).
        indexes = [models.Index(fields=["created_at"], name="decision_by_time")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ¥{self.refund_amount}"


class RoutingRecord(models.Model):
    """Which rule routed the claim, and the inputs it saw: written each time the claim is
    routed (when its checks complete, when it enters review). The inputs are what the
    policy simulator replays a changed rule set on."""

    class Stage(models.TextChoices):
        CHECKS = "checks", _("Checks completed")
        REVIEW = "review", _("Entered review")

    claim = models.ForeignKey(RefundClaim, on_delete=models.CASCADE, related_name="routing_records")
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices)
    rule = models.ForeignKey(
        RoutingRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rule_name = models.CharField(_("rule"), max_length=100, blank=True)
    queue = models.ForeignKey(ReviewQueue, on_delete=models.PROTECT, related_name="+")
    inputs = models.JSONField(_("inputs"), default=dict)
    matched = models.JSONField(_("conditions that held"), default=list, blank=True)
    auto_outcome = models.CharField(_("decided automatically"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("routed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("routing record")
        verbose_name_plural = _("routing records")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["claim", "-id"], name="routing_by_claim"),
            # The simulator reads the records of the last N days.
            models.Index(fields=["created_at"], name="routing_by_time"),
        ]

    def __str__(self) -> str:
        return f"claim {self.claim_id}: {self.rule_name or '—'} → {self.queue_id}"


class RationaleTemplate(models.Model):
    """A rationale a reviewer starts from (admin-editable, in both languages). The text
    may hold placeholders, filled in when the decision is made: ``{claim}`` (the claim's
    number), ``{amount}`` (claimed), ``{refund}`` (granted), ``{shop}``, ``{findings}``
    (the codes of the findings relied on)."""

    PLACEHOLDERS = ("claim", "amount", "refund", "shop", "findings")

    name = models.CharField(_("name"), max_length=100, unique=True)
    outcome = models.CharField(
        _("for the outcome"), max_length=20, blank=True, choices=outcome_choices
    )
    text_en = models.TextField(_("text (English)"))
    text_zh = models.TextField(_("text (Chinese)"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("rationale template")
        verbose_name_plural = _("rationale templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PhotoVerdict(models.TextChoices):
    CONFIRMED_FORGED = "confirmed_forged", _("Confirmed forged")
    GENUINE = "genuine", _("Genuine")
    UNCLEAR = "unclear", _("Unclear")


class ReviewerPhotoVerdict(models.Model):
    """What the deciding reviewer confirmed about one of the buyer's files. A file
    confirmed forged is what the reuse check treats as a confirmed forgery when the same
    picture comes back on another claim (the latest verdict on the file counts)."""

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="photo_verdicts")
    evidence = models.ForeignKey(
        "evidence.EvidenceFile", on_delete=models.CASCADE, related_name="reviewer_verdicts"
    )
    verdict = models.CharField(_("verdict"), max_length=20, choices=PhotoVerdict.choices)
    created_at = models.DateTimeField(_("confirmed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reviewer's photo verdict")
        verbose_name_plural = _("reviewer's photo verdicts")
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "evidence"], name="photo_verdict_once_per_decision"
            ),
            models.CheckConstraint(
                condition=Q(verdict__in=PhotoVerdict.values), name="photo_verdict_valid"
            ),
        ]
        indexes = [models.Index(fields=["evidence", "-id"], name="photo_verdict_by_file")]

    def __str__(self) -> str:
        return f"{self.evidence_id}: {self.verdict}"


class EvidenceRequest(models.Model):
    """What a reviewer asked the buyer for: which photo is insufficient (or none: more
    evidence in general), what is wanted, by when; optionally a one-time code the buyer
    writes on paper and photographs beside the item (``evidence.checks.challenge_code``
    reads it in the new photos)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for the buyer")
        ANSWERED = "answered", _("Answered")
        MISSED = "missed", _("Window missed")

    claim = models.ForeignKey(
        RefundClaim, on_delete=models.CASCADE, related_name="evidence_requests"
    )
    evidence = models.ForeignKey(
        "evidence.EvidenceFile",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("insufficient photo"),
    )
    wanted = models.TextField(_("what is wanted"))
    challenge_code = models.CharField(_("one-time code"), max_length=12, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(_("asked at"))
    deadline = models.DateTimeField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    closed_at = models.DateTimeField(_("answered or missed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("evidence request")
        verbose_name_plural = _("evidence requests")
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["claim", "status"], name="evidence_request_by_claim")]

    def __str__(self) -> str:
        return f"claim {self.claim_id}: {self.wanted[:40]}"


class Appeal(models.Model):
    class Party(models.TextChoices):
        MERCHANT = "merchant", _("Merchant")
        BUYER = "buyer", _("Buyer")

    claim = models.ForeignKey(RefundClaim, on_delete=models.PROTECT, related_name="appeals")
    filed_by = models.CharField(_("filed by"), max_length=10, choices=Party.choices)
    filed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(_("reason"))
    original_decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+")
    appeal_decision = models.OneToOneField(
        Decision, on_delete=models.PROTECT, null=True, blank=True, related_name="appeal"
    )
    created_at = models.DateTimeField(_("filed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")
        constraints = [
            models.UniqueConstraint(fields=["original_decision"], name="appeal_once_per_decision"),
        ]

    def __str__(self) -> str:
        return f"appeal on claim {self.claim_id}"


class AuditEvent(models.Model):
    """Append-only, hash-chained record of every claim transition and decision, and of
    the custody of every evidence file (uploads, refusals, failed checks, exports).

    ``hash`` = SHA-256 over this event's canonical content and the previous event's
    hash, so editing, deleting or reordering any event breaks the chain at that point
    (``manage.py verify_audit``). Rows are written only by ``refunds.audit``; database
    triggers refuse UPDATE, DELETE and TRUNCATE of the table (``refunds.append_only``).
    Claims and users an event names are PROTECTed: deleting one is refused, never
    silently cascaded into the log.
    """

    seq = models.PositiveBigIntegerField(_("sequence"), unique=True)
    claim = models.ForeignKey(
        RefundClaim,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,  # audit_by_claim (claim, seq) serves every lookup by claim
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("actor"), max_length=100)
    action = models.CharField(_("action"), max_length=40)
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    # The evidence file a custody event is about. A plain number, not a foreign key: the
    # record must outlive the file's row (a deleted product takes its photos along) and
    # must never stand in the way of deleting it.
    evidence_id = models.PositiveBigIntegerField(_("evidence file"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"))
    # The chain the event belongs to (the claim's id; 0 for events about no claim) and its
    # place in it. NULL in both for the events written before per-claim chains (the legacy
    # global chain, ``refunds.audit``).
    chain_key = models.BigIntegerField(_("chain"), null=True, blank=True)
    chain_seq = models.PositiveIntegerField(_("place in chain"), null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    # No index: nothing looks an event up by its hash, and a fork is refused by
    # audit_chain_position. An index of random SHA-256 values takes every append to a
    # random page of it: at 6M events its two indexes (unique and LIKE) were 1.5 GB read
    # back from disk page by page, the audit INSERT's p95 155 ms (docs/performance.md).
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["seq"]
        constraints = [
            # Appending reads a chain's last place through this index; a fork is refused.
            models.UniqueConstraint(
                fields=["chain_key", "chain_seq"],
                condition=models.Q(chain_seq__isnull=False),
                name="audit_chain_position",
            ),
        ]
        indexes = [
            models.Index(fields=["claim", "seq"], name="audit_by_claim"),
            # The legacy chain's head (what every chain's first event links to).
            models.Index(
                fields=["seq"], name="audit_legacy_by_seq", condition=models.Q(chain_seq=None)
            ),
            # The evidence pack's chain of custody: the events of a claim's files.
            models.Index(
                fields=["evidence_id", "seq"],
                name="audit_custody_by_file",
                condition=models.Q(evidence_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.seq} {self.action} {self.from_status}→{self.to_status}"

    def save(self, *args, **kwargs):
        # Append-only is an invariant of the data, not a workflow: refuse updates.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class WebhookEndpoint(models.Model):
    """Where the platform wants decisions and status changes POSTed (HMAC-signed)."""

    client = models.ForeignKey(
        "merchants.PlatformClient", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100)
    event_types = models.JSONField(
        _("event types"), default=list, blank=True, help_text=_("Empty means every event.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: an outbox row, retried with backoff until delivered."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(_("event"), max_length=50)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_pending_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint}"


class WebhookAttempt(models.Model):
    """One try of a delivery, as the delivery task saw it: written by
    ``refunds.webhooks.deliver``, shown read-only in the admin. The response excerpt is
    bounded (``EXCERPT_CHARS``) and never includes the request (its signature)."""

    EXCERPT_CHARS = 500

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    response_excerpt = models.CharField(_("response excerpt"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("re-sent by"),
    )

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["delivery", "number"], name="webhook_attempt_log")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.status_code or self.error[:40]}"


class NetworkCreditContribution(models.Model):
    """What one platform of the buyer-credit network contributes about one of its buyers
    (``refunds.credit_network``; docs/security.md, "Buyer-credit network"): a keyed hash
    of the buyer's phone and the buyer's credit figures over 365 days. No name, phone,
    address, claim or order. ``buyer`` is the contributing platform's own row, used only
    to refresh it; other platforms read the figures by ``subject_hash`` alone."""

    tenant = models.ForeignKey(
        "merchants.Platform",
        on_delete=models.CASCADE,
        related_name="network_contributions",
        verbose_name=_("platform"),
    )
    buyer = models.OneToOneField(
        Buyer, on_delete=models.CASCADE, related_name="network_contribution"
    )
    subject_hash = models.CharField(_("identifier hash"), max_length=64)
    key_version = models.PositiveSmallIntegerField(_("network key version"))
    claims = models.PositiveIntegerField(_("claims (365 days)"))
    orders = models.PositiveIntegerField(_("orders (365 days)"))
    confirmed_forgeries = models.PositiveIntegerField(_("confirmed forgeries (365 days)"))
    forged_amount = models.DecimalField(
        _("amount sought with confirmed forgeries (CNY, 365 days)"), **MONEY
    )
    refreshed_at = models.DateTimeField(_("refreshed"))

    class Meta:
        verbose_name = _("credit-network contribution")
        verbose_name_plural = _("credit-network contributions")
        indexes = [
            models.Index(fields=["subject_hash", "key_version"], name="network_by_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.subject_hash[:12]}"

    @property
    def refund_only_rate(self) -> Decimal:
        """Claims per order over the window (0 when the buyer ordered nothing there)."""
        if not self.orders:
            return Decimal("0")
        return (Decimal(self.claims) / Decimal(self.orders)).quantize(Decimal("0.01"))


class ClaimStatusCount(models.Model):
    """How many claims of one shop are in one status: what the pages and the API show as
    counts, read from a few rows instead of counted over millions of claims.

    The rows are deltas, summed when read: a claim's creation appends +1 for its status,
    every transition (one claim or a batch) −1 and +1, in the transaction that moves it
    (``refunds.lifecycle``). Appending never updates a row, so no transition waits for
    another's counter row and none can deadlock on one; ``lifecycle.counts_compact``
    (beat, every minute) folds the rows into one per shop and status.
    ``manage.py claim_status_counts`` verifies or rebuilds them from the claims."""

    tenant = models.ForeignKey(
        "merchants.Platform", on_delete=models.PROTECT, related_name="+", verbose_name=_("platform")
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=20, choices=ClaimStatus.choices)
    count = models.BigIntegerField(_("claims"), default=0)

    class Meta:
        verbose_name = _("claim count by status")
        verbose_name_plural = _("claim counts by status")
        indexes = [
            models.Index(fields=["merchant", "status"], name="status_count_per_shop"),
            models.Index(fields=["tenant", "status"], name="status_count_per_platform"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.status}: {self.count:+d}"


class QueueWaitingCount(models.Model):
    """How many claims wait for a reviewer (in review or appealed, nobody holding them)
    in one queue, by status and by the hour their review deadline falls in: what the
    queues overview shows as each queue's waiting, appeals and overdue figures, read from
    a few rows instead of counted over every waiting claim.

    The rows are deltas, summed when read, as :class:`ClaimStatusCount`'s: every write of
    a claim's status, holder, queue or review deadline goes through
    ``refunds.lifecycle`` (``transition``, ``transition_many``, ``claim_change``), which
    appends −1 for where the claim waited and +1 for where it waits now.
    ``refunds.queue_counts.compact`` (beat) folds the rows, and the hours already past
    into one (``queue_counts.PAST``: overdue whatever the time now);
    ``manage.py queue_waiting_counts`` verifies or rebuilds them from the claims."""

    tenant = models.ForeignKey(
        "merchants.Platform", on_delete=models.PROTECT, related_name="+", verbose_name=_("platform")
    )
    queue = models.ForeignKey(
        ReviewQueue, on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=20, choices=ClaimStatus.choices)
    # The review deadline truncated to its hour (UTC); None: no deadline.
    deadline_hour = models.DateTimeField(_("review deadline (hour)"), null=True)
    count = models.BigIntegerField(_("claims"), default=0)

    class Meta:
        verbose_name = _("waiting claims by queue")
        verbose_name_plural = _("waiting claims by queue")
        indexes = [
            models.Index(fields=["queue", "status"], name="waiting_count_per_queue"),
            models.Index(fields=["tenant", "queue"], name="waiting_count_per_platform"),
        ]

    def __str__(self) -> str:
        return f"{self.queue_id} {self.status} {self.deadline_hour}: {self.count:+d}"
