"""Daily rollups of the claims, decisions and checks: what the statistics page and its
CSV read instead of scanning claims (docs/statistics.md).

Every table is one row per local day (``TIME_ZONE``) × platform × shop × its own
dimensions, plus, for each day and platform, the same figures summed over all shops in
rows whose ``merchant`` is empty ("all shops"): an unfiltered page then reads a few
hundred rows for a year, a filtered one the shop's own rows, never the per-shop rows of
every shop. All figures are additive, so any date range is a sum of days.

Rows are written only by :mod:`reporting.services`, which recomputes whole days
(delete and insert), so running it twice never counts anything twice."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2, "default": 0}


class SignalKind(models.TextChoices):
    FINDING = "finding", _("Finding code")
    VERDICT = "verdict", _("Photo verdict")


def _shop_indexes(table: str) -> list:
    """The page's reads: one shop's days, or the all-shops rows of a platform's days;
    and the refresh's delete of whole days."""
    return [
        models.Index(fields=["tenant", "merchant", "day"], name=f"{table}_by_shop"),
        models.Index(
            fields=["tenant", "day"], condition=Q(merchant__isnull=True), name=f"{table}_all_shops"
        ),
        models.Index(fields=["day"], name=f"{table}_by_day"),
    ]


def _unique(table: str, *fields: str) -> list:
    """One row per day and dimensions, per shop and once for all shops."""
    return [
        models.UniqueConstraint(
            fields=["day", "tenant", "merchant", *fields],
            condition=Q(merchant__isnull=False),
            name=f"{table}_unique_shop",
        ),
        models.UniqueConstraint(
            fields=["day", "tenant", *fields],
            condition=Q(merchant__isnull=True),
            name=f"{table}_unique_all",
        ),
    ]


class RollupRow(models.Model):
    day = models.DateField(_("day"))
    tenant = models.ForeignKey(
        "merchants.Platform", on_delete=models.CASCADE, related_name="+", verbose_name=_("platform")
    )
    # Empty: the day's figures summed over all the platform's shops.
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("shop"),
    )

    class Meta:
        abstract = True


class ClaimDay(RollupRow):
    """The claims submitted on the day: how many, with forgery signals, and how their
    shops answered (in time, or the window missed)."""

    claims = models.PositiveIntegerField(_("claims submitted"), default=0)
    amount_claimed = models.DecimalField(_("amount claimed (CNY)"), **MONEY)
    with_signals = models.PositiveIntegerField(_("with forgery signals"), default=0)
    with_forgery_verdict = models.PositiveIntegerField(_("with a forgery verdict"), default=0)
    merchant_answered = models.PositiveIntegerField(_("shop answered in time"), default=0)
    merchant_missed = models.PositiveIntegerField(_("shop missed its window"), default=0)

    class Meta:
        verbose_name = _("claims of a day")
        verbose_name_plural = _("claims per day")
        constraints = _unique("claim_day")
        indexes = _shop_indexes("claim_day")

    def __str__(self) -> str:
        return f"{self.day} {self.merchant_id or 'all'}: {self.claims}"


class SignalDay(RollupRow):
    """Per finding code (on the buyer's evidence, signals only) or per-photo verdict of
    the buyer's files: the claims submitted on the day that show it."""

    kind = models.CharField(_("kind"), max_length=10, choices=SignalKind.choices)
    code = models.CharField(_("code"), max_length=64)
    claims = models.PositiveIntegerField(_("claims"), default=0)
    occurrences = models.PositiveIntegerField(_("findings or files"), default=0)

    class Meta:
        verbose_name = _("signal of a day")
        verbose_name_plural = _("signals per day")
        constraints = _unique("signal_day", "kind", "code")
        indexes = _shop_indexes("signal_day")

    def __str__(self) -> str:
        return f"{self.day} {self.kind}:{self.code}: {self.claims}"


class DecisionDay(RollupRow):
    """The decisions made on the day, per queue and outcome: by reviewers (first and on
    appeal), by routing rules, by shops accepting; the reviewers' SLA, the appeals that
    changed the outcome, and the money protected (refunds denied on a confirmed
    forgery, while no appeal has overturned the denial)."""

    queue = models.ForeignKey(
        "refunds.ReviewQueue",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("queue"),
    )
    outcome = models.CharField(_("outcome"), max_length=20)
    decisions = models.PositiveIntegerField(_("reviewer decisions"), default=0)
    appeal_decisions = models.PositiveIntegerField(_("appeal decisions"), default=0)
    appeals_overturned = models.PositiveIntegerField(
        _("appeals that changed the outcome"), default=0
    )
    automatic = models.PositiveIntegerField(_("decided by a rule"), default=0)
    merchant_accepted = models.PositiveIntegerField(_("accepted by the shop"), default=0)
    confirmed_forgeries = models.PositiveIntegerField(_("forgery confirmed"), default=0)
    within_sla = models.PositiveIntegerField(_("reviewer decisions within the SLA"), default=0)
    first_decisions = models.PositiveIntegerField(_("first reviewer decisions"), default=0)
    first_decision_seconds = models.PositiveBigIntegerField(
        _("submission to first decision (seconds, summed)"), default=0
    )
    money_protected = models.DecimalField(_("money protected (CNY)"), **MONEY)

    class Meta:
        verbose_name = _("decisions of a day")
        verbose_name_plural = _("decisions per day")
        constraints = _unique("decision_day", "queue", "outcome")
        indexes = _shop_indexes("decision_day")

    def __str__(self) -> str:
        return f"{self.day} {self.merchant_id or 'all'} {self.outcome}: {self.decisions}"


# The summed figures of each row (everything but its day and dimensions).
DECISION_FIGURES = (
    "decisions",
    "appeal_decisions",
    "appeals_overturned",
    "automatic",
    "merchant_accepted",
    "confirmed_forgeries",
    "within_sla",
    "first_decisions",
    "first_decision_seconds",
    "money_protected",
)
REVIEWER_FIGURES = (
    "decisions",
    "appeal_decisions",
    "confirmed_forgeries",
    "within_sla",
    "overturned",
    "timed_decisions",
    "take_to_decision_seconds",
)


class ReviewerDay(models.Model):
    """One reviewer's decisions on the day (every shop of the platform: the page's shop
    filter does not narrow this table, docs/statistics.md says why)."""

    day = models.DateField(_("day"))
    tenant = models.ForeignKey(
        "merchants.Platform", on_delete=models.CASCADE, related_name="+", verbose_name=_("platform")
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    decisions = models.PositiveIntegerField(_("decisions"), default=0)
    appeal_decisions = models.PositiveIntegerField(_("appeal decisions"), default=0)
    confirmed_forgeries = models.PositiveIntegerField(_("forgery confirmed"), default=0)
    within_sla = models.PositiveIntegerField(_("within the SLA"), default=0)
    overturned = models.PositiveIntegerField(_("later overturned on appeal"), default=0)
    timed_decisions = models.PositiveIntegerField(_("decisions with a take time"), default=0)
    take_to_decision_seconds = models.PositiveBigIntegerField(
        _("take to decision (seconds, summed)"), default=0
    )

    class Meta:
        verbose_name = _("reviewer's day")
        verbose_name_plural = _("reviewers' days")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "tenant", "reviewer"], name="reviewer_day_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "day"], name="reviewer_day_by_platform"),
            models.Index(fields=["day"], name="reviewer_day_by_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.reviewer_id}: {self.decisions}"


class RollupState(models.Model):
    """The one row the refresh locks (two beats never refresh at once) and the watermark
    it reads changes from: every claim updated since ``watermark`` (less an overlap) has
    its days recomputed."""

    key = models.CharField(max_length=20, unique=True, default="daily")
    watermark = models.DateTimeField(_("changes read up to"), null=True, blank=True)
    last_refresh_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    last_rebuild_at = models.DateTimeField(_("last rebuilt"), null=True, blank=True)
    last_days = models.PositiveIntegerField(_("days recomputed by the last run"), default=0)

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup state")

    def __str__(self) -> str:
        return f"{self.key}: {self.watermark}"
