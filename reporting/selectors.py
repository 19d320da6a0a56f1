"""Reads of the daily rollups for the statistics page and its CSV: a handful of queries
over rollup rows, whatever the number of claims (docs/statistics.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from reporting.models import (
    DECISION_FIGURES,
    REVIEWER_FIGURES,
    ClaimDay,
    DecisionDay,
    ReviewerDay,
    RollupState,
    SignalDay,
    SignalKind,
)

OUTCOMES = ("refund_approved", "refund_denied", "return_required", "partial_refund")
TOP_SIGNALS = 12


def _share(part, whole) -> float | None:
    """A percentage, or None when there is nothing to divide by."""
    return 100 * part / whole if whole else None


@dataclass
class DayFigures:
    day: dt.date
    claims: int = 0
    with_signals: int = 0
    merchant_answered: int = 0
    merchant_missed: int = 0
    # Every decision of the day by outcome: reviewers', rules' and shops' acceptances.
    decided: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    decisions: int = 0  # reviewers' (first and on appeal)
    within_sla: int = 0
    money_protected: Decimal = Decimal("0")


@dataclass(frozen=True)
class SignalFigures:
    kind: str
    code: str
    claims: int
    occurrences: int
    share: float | None  # of the period's claims


@dataclass(frozen=True)
class QueueFigures:
    queue_id: int | None
    name: str
    decisions: int
    within_sla: int

    @property
    def sla_share(self) -> float | None:
        return _share(self.within_sla, self.decisions)


@dataclass(frozen=True)
class ReviewerFigures:
    reviewer_id: int
    username: str
    decisions: int
    appeal_decisions: int
    confirmed_forgeries: int
    within_sla: int
    overturned: int
    mean_take_to_decision: dt.timedelta | None


@dataclass(frozen=True)
class Statistics:
    start: dt.date
    end: dt.date
    days: list[DayFigures]
    # Totals of the period
    decisions_by_outcome: dict[str, int]  # reviewers' decisions
    decisions: int
    appeal_decisions: int
    appeals_overturned: int
    automatic: int
    merchant_acceptances: int
    confirmed_forgeries: int
    within_sla: int
    first_decisions: int
    first_decision_seconds: int
    money_protected: Decimal
    claims: int
    with_signals: int
    with_forgery_verdict: int
    merchant_answered: int
    merchant_missed: int
    signals: list[SignalFigures]
    queues: list[QueueFigures]
    reviewers: list[ReviewerFigures]
    refreshed_at: dt.datetime | None
    refresh_seconds: float

    @property
    def period_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def forgery_share(self) -> float | None:
        """Percentage of the reviewers' decisions that confirmed a forgery."""
        return _share(self.confirmed_forgeries, self.decisions)

    @property
    def signal_share(self) -> float | None:
        return _share(self.with_signals, self.claims)

    @property
    def sla_share(self) -> float | None:
        return _share(self.within_sla, self.decisions)

    @property
    def overturn_share(self) -> float | None:
        return _share(self.appeals_overturned, self.appeal_decisions)

    @property
    def merchant_answered_share(self) -> float | None:
        return _share(self.merchant_answered, self.merchant_answered + self.merchant_missed)

    @property
    def mean_claim_to_decision(self) -> dt.timedelta | None:
        if not self.first_decisions:
            return None
        return dt.timedelta(seconds=round(self.first_decision_seconds / self.first_decisions))


def _rows(model, *, platform_id, merchant_id, start, end, by_shop=True):
    rows = model.objects.filter(day__gte=start, day__lte=end)
    if platform_id is not None:
        rows = rows.filter(tenant_id=platform_id)
    if by_shop:
        rows = rows.filter(merchant_id=merchant_id) if merchant_id else rows.filter(merchant=None)
    return rows.order_by()


def _sums(*names: str) -> dict:
    return {name: Sum(name) for name in names}


def statistics_for(
    *, platform_id: int | None, start: dt.date, end: dt.date, merchant_id: int | None = None
) -> Statistics:
    """The figures of the days ``start``..``end`` (local, inclusive) of one platform (None:
    every platform), of one shop or of all: five queries over rollup rows. The per-reviewer
    figures cover every shop of the platform (the rollup keeps no shop per reviewer)."""
    scope = {"platform_id": platform_id, "merchant_id": merchant_id, "start": start, "end": end}
    days = {
        start + dt.timedelta(days=n): DayFigures(start + dt.timedelta(days=n))
        for n in range((end - start).days + 1)
    }
    # Counts; the money is summed apart, as a Decimal.
    totals = {name: 0 for name in DECISION_FIGURES if name != "money_protected"}
    by_outcome = dict.fromkeys(OUTCOMES, 0)
    money = Decimal("0")
    decided = (
        _rows(DecisionDay, **scope)
        .values("day", "outcome")
        .annotate(**_sums(*totals, "money_protected"))
    )
    for row in decided:
        figures = days[row["day"]]
        outcome = row["outcome"]
        figures.decided[outcome] = figures.decided.get(outcome, 0) + (
            row["decisions"] + row["automatic"] + row["merchant_accepted"]
        )
        figures.decisions += row["decisions"]
        figures.within_sla += row["within_sla"]
        figures.money_protected += row["money_protected"]
        by_outcome[outcome] = by_outcome.get(outcome, 0) + row["decisions"]
        money += row["money_protected"]
        for name in totals:
            totals[name] += row[name]

    queues = [
        QueueFigures(row["queue_id"], row["queue__name"] or "", row["decisions"], row["within_sla"])
        for row in _rows(DecisionDay, **scope)
        .filter(decisions__gt=0)
        .values("queue_id", "queue__name")
        .annotate(**_sums("decisions", "within_sla"))
        .order_by("-decisions", "queue__name")
    ]

    claim_totals = dict.fromkeys(
        ("claims", "with_signals", "with_forgery_verdict", "merchant_answered", "merchant_missed"),
        0,
    )
    for row in _rows(ClaimDay, **scope).values("day").annotate(**_sums(*claim_totals)):
        figures = days[row["day"]]
        figures.claims = row["claims"]
        figures.with_signals = row["with_signals"]
        figures.merchant_answered = row["merchant_answered"]
        figures.merchant_missed = row["merchant_missed"]
        for name in claim_totals:
            claim_totals[name] += row[name]

    signals = [
        SignalFigures(
            row["kind"],
            row["code"],
            row["claims"],
            row["occurrences"],
            _share(row["claims"], claim_totals["claims"]),
        )
        for row in _rows(SignalDay, **scope)
        .values("kind", "code")
        .annotate(**_sums("claims", "occurrences"))
        .order_by("kind", "-claims", "-occurrences", "code")
    ]
    findings = [s for s in signals if s.kind == SignalKind.FINDING][:TOP_SIGNALS]
    verdicts = [s for s in signals if s.kind == SignalKind.VERDICT]

    reviewers = [
        ReviewerFigures(
            reviewer_id=row["reviewer_id"],
            username=row["reviewer__username"],
            decisions=row["decisions"],
            appeal_decisions=row["appeal_decisions"],
            confirmed_forgeries=row["confirmed_forgeries"],
            within_sla=row["within_sla"],
            overturned=row["overturned"],
            mean_take_to_decision=(
                dt.timedelta(
                    seconds=round(row["take_to_decision_seconds"] / row["timed_decisions"])
                )
                if row["timed_decisions"]
                else None
            ),
        )
        for row in _rows(ReviewerDay, **scope, by_shop=False)
        .values("reviewer_id", "reviewer__username")
        .annotate(**_sums(*REVIEWER_FIGURES))
        .order_by("-decisions", "reviewer__username")
    ]

    state = RollupState.objects.filter(key="daily").values_list("watermark", flat=True).first()
    return Statistics(
        start=start,
        end=end,
        days=list(days.values()),
        decisions_by_outcome=by_outcome,
        decisions=totals["decisions"],
        appeal_decisions=totals["appeal_decisions"],
        appeals_overturned=totals["appeals_overturned"],
        automatic=totals["automatic"],
        merchant_acceptances=totals["merchant_accepted"],
        confirmed_forgeries=totals["confirmed_forgeries"],
        within_sla=totals["within_sla"],
        first_decisions=totals["first_decisions"],
        first_decision_seconds=totals["first_decision_seconds"],
        money_protected=money,
        signals=findings + verdicts,
        queues=queues,
        reviewers=reviewers,
        refreshed_at=state,
        refresh_seconds=refresh_interval_seconds(),
        **claim_totals,
    )


def refresh_interval_seconds() -> float:
    """How often the beat refreshes the rollups (the page's staleness, at most this
    plus one run)."""
    entry = settings.CELERY_BEAT_SCHEDULE.get("rollups-refresh", {})
    return float(entry.get("schedule", 0))


def shops_for_statistics(*, platform_id: int | None):
    """The shops the statistics can be narrowed to: the platform's (every shop for a
    superuser working for none), by name."""
    from merchants.models import Merchant

    shops = Merchant.objects.order_by("name", "pk").only("pk", "name")
    return shops if platform_id is None else shops.filter(tenant_id=platform_id)
