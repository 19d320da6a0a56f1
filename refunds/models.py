"""Buyers, orders, refund-only claims and everything that decides them."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 12, "decimal_places": 2}


class Buyer(models.Model):
    """A marketplace customer. Phone and address are private: never shown to a merchant."""

    platform_id = models.CharField(_("platform id"), max_length=64, unique=True)
    display_name = models.CharField(_("display name"), max_length=100)
    account_created_at = models.DateTimeField(_("account created"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("buyer")
        verbose_name_plural = _("buyers")

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
    """A human review queue; routing rules send claims here."""

    slug = models.SlugField(_("slug"), unique=True)
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
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("review queue")
        verbose_name_plural = _("review queues")
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """Ordered, admin-editable: the first active rule whose conditions all hold wins."""

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
    finding_code = models.CharField(
        _("has finding code"),
        max_length=64,
        blank=True,
        help_text=_("Matches when any finding of the claim has this code."),
    )
    min_buyer_claims = models.PositiveIntegerField(
        _("minimum earlier claims by the buyer"), null=True, blank=True
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
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="claims"
    )
    buyer = models.ForeignKey(Buyer, on_delete=models.PROTECT, related_name="claims")
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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

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
            # "Take next": the claims waiting for a reviewer, per queue, in the order they
            # are handed out (the review deadline, then the oldest); one index range per
            # queue, so taking the head of a queue reads a few entries, whatever waits.
            models.Index(
                fields=["queue", "review_deadline", "id"],
                condition=Q(status__in=["in_review", "appealed"], held_by__isnull=True),
                name="claim_take_next",
            ),
            # The queue page's counts (waiting, appeals, overdue per queue): an index-only
            # scan of what waits, not of the table.
            models.Index(
                fields=["queue", "status", "review_deadline"],
                condition=Q(status__in=["in_review", "appealed"], held_by__isnull=True),
                name="claim_queue_waiting",
            ),
            # "My claims": the few claims somebody holds, by holder.
            models.Index(
                fields=["held_by", "review_deadline"],
                condition=Q(held_by__isnull=False),
                name="claim_held_by",
            ),
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

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ¥{self.refund_amount}"


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
        RefundClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
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
    hash = models.CharField(max_length=64, unique=True)

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
