"""Writes of the daily rollups (docs/statistics.md): the incremental refresh the beat
runs and the full rebuild of ``manage.py rebuild_rollups``. Both recompute whole days
from the claims, decisions, findings and verdicts (delete the days' rows, insert them
again) under the lock of the one :class:`~reporting.models.RollupState` row, so a run is
idempotent and two runs never interleave."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

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

STATE_KEY = "daily"
# A change committed by a transaction that started before the previous run's start has
# an ``updated_at`` older than that run's watermark: read this far back again.
OVERLAP = dt.timedelta(minutes=5)
# The buyer's side (every file the shop did not send) and the findings that are signals
# (not aids such as ELA heatmaps, "info", nor failed checks, "error"), as on the review page.
BUYER_SIDE = ("buyer", "platform")
SIGNAL_SEVERITIES = ("low", "medium", "high", "critical")
FORGERY_VERDICTS = ("edited_copy", "screen_copy", "copy", "ai_labelled", "reused")
# A claim that moved on from these without the shop's answer missed the shop's window.
NOT_YET_ANSWERABLE = ("received", "checking", "awaiting_merchant", "withdrawn")
BATCH = 2000


@dataclass(frozen=True)
class RefreshResult:
    days: int  # distinct days recomputed
    skipped: bool = False  # another refresh held the lock


def rollups_refresh(*, now: dt.datetime | None = None) -> RefreshResult:
    """Recompute the days touched since the last run: the submission days of every claim
    updated since the watermark (less :data:`OVERLAP`, through the ``claim_updated``
    index) and the days of those claims' decisions. Skips (``skipped``) when another
    refresh or a rebuild holds the lock; a first run (no watermark) rebuilds everything."""
    started = now or timezone.now()
    RollupState.objects.get_or_create(key=STATE_KEY)
    with transaction.atomic():
        state = RollupState.objects.select_for_update(skip_locked=True).filter(key=STATE_KEY)
        state = state.first()
        if state is None:
            return RefreshResult(days=0, skipped=True)
        if state.watermark is None:
            days = _recompute(since=None)
        else:
            claim_days, decision_days = _touched_days(state.watermark - OVERLAP)
            days = _recompute(claim_days=claim_days, decision_days=decision_days)
        state.watermark = started
        state.last_refresh_at = started
        state.last_days = days
        state.save(update_fields=["watermark", "last_refresh_at", "last_days"])
    return RefreshResult(days=days)


def rollups_rebuild(*, since: dt.date | None = None) -> int:
    """Recompute every day (or every day from ``since``) from the source rows; waits for a
    running refresh. Returns the number of days written. A full rebuild moves the
    watermark to its start, so the next refresh reads only what changed after."""
    started = timezone.now()
    RollupState.objects.get_or_create(key=STATE_KEY)
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(key=STATE_KEY)
        days = _recompute(since=since)
        if since is None or state.watermark is None:
            state.watermark = started
        state.last_rebuild_at = started
        state.last_days = days
        state.save(update_fields=["watermark", "last_rebuild_at", "last_days"])
    return days


def rollups_rebuild_recent(*, days: int, today: dt.date | None = None) -> int:
    """:func:`rollups_rebuild` of the last ``days`` local days (today included): what the
    nightly beat entry runs, so that a change the refresh cannot see (one that does not
    save the claim: a late finding leaving its score and status as they were, a queue's
    SLA edited in the admin) is in the figures by the next morning."""
    today = today or timezone.localdate()
    return rollups_rebuild(since=today - dt.timedelta(days=max(days, 1) - 1))


# --- Which days -------------------------------------------------------------------------


def _touched_days(since: dt.datetime) -> tuple[set[dt.date], set[dt.date]]:
    from refunds.models import Decision, RefundClaim

    touched = RefundClaim.objects.filter(updated_at__gte=since)
    claim_days = set(
        touched.annotate(day=TruncDate("created_at"))
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )
    decision_days = set(
        Decision.objects.filter(claim_id__in=touched.values("pk"))
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )
    return claim_days, decision_days


class _Window:
    """Whole local days, as timestamp ranges: explicit days, or every day from one on."""

    def __init__(
        self, *, days: Iterable[dt.date] = (), since: dt.date | None = None, everything=False
    ):
        self.days = sorted(set(days))
        self.since = since
        self.everything = everything

    @property
    def empty(self) -> bool:
        return not (self.everything or self.since or self.days)

    def rows(self, model):
        if self.everything:
            return model.objects.all()
        if self.since:
            return model.objects.filter(day__gte=self.since)
        return model.objects.filter(day__in=self.days)

    def q(self, field: str) -> Q:
        if self.everything:
            return Q()
        if self.since:
            return Q(**{f"{field}__gte": _start_of(self.since)})
        condition = Q(pk__in=[])
        for first, last in _runs(self.days):
            condition |= Q(
                **{
                    f"{field}__gte": _start_of(first),
                    f"{field}__lt": _start_of(last + dt.timedelta(days=1)),
                }
            )
        return condition


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as (first, last) runs of consecutive days: one range each."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and day - runs[-1][1] == dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _recompute(
    *,
    since: dt.date | None = None,
    claim_days: Iterable[dt.date] | None = None,
    decision_days: Iterable[dt.date] | None = None,
) -> int:
    """Delete and write again the rows of the given days (``claim_days`` for the claims'
    and signals' tables, ``decision_days`` for the decisions' and reviewers'), or of
    every day from ``since``, or of every day when nothing is given."""
    if claim_days is None and decision_days is None:
        claims = decisions = _Window(since=since, everything=since is None)
    else:
        claims, decisions = _Window(days=claim_days or ()), _Window(days=decision_days or ())
    written: set[dt.date] = set()
    if not claims.empty:
        for model in (ClaimDay, SignalDay):
            claims.rows(model).delete()
        written |= _write(ClaimDay, _claim_rows(claims))
        written |= _write(SignalDay, _signal_rows(claims))
        written |= set(claims.days)
    if not decisions.empty:
        for model in (DecisionDay, ReviewerDay):
            decisions.rows(model).delete()
        decision_rows, reviewer_rows = _decision_rows(decisions)
        written |= _write(DecisionDay, decision_rows)
        written |= _write(ReviewerDay, reviewer_rows)
        written |= set(decisions.days)
    return len(written)


def _write(model, rows: Iterable) -> set[dt.date]:
    rows = list(rows)
    model.objects.bulk_create(rows, batch_size=BATCH)
    return {row.day for row in rows}


def _with_all_shops(per_shop: dict[tuple, dict]) -> dict[tuple, dict]:
    """Add, for every (day, platform, …) key, the sum over its shops under shop None.
    Keys are (day, tenant, merchant, *dimensions)."""
    totals: dict[tuple, dict] = {}
    for (day, tenant, _merchant, *rest), figures in per_shop.items():
        total = totals.setdefault((day, tenant, None, *rest), dict.fromkeys(figures, 0))
        for name, value in figures.items():
            total[name] += value
    return {**per_shop, **totals}


# --- The tables -------------------------------------------------------------------------


def _claim_rows(window: _Window):
    from evidence.models import EvidenceVerdict, Finding
    from refunds.models import RefundClaim

    signal = Finding.objects.filter(
        claim=OuterRef("pk"), evidence__submitted_by__in=BUYER_SIDE, severity__in=SIGNAL_SEVERITIES
    )
    forged = EvidenceVerdict.objects.filter(
        evidence__claim=OuterRef("pk"),
        evidence__submitted_by__in=BUYER_SIDE,
        is_current=True,
        verdict__in=FORGERY_VERDICTS,
    )
    missed = Q(merchant_response="", merchant_deadline__isnull=False) & ~Q(
        status__in=NOT_YET_ANSWERABLE
    )
    rows = (
        RefundClaim.objects.filter(window.q("created_at"))
        .annotate(day=TruncDate("created_at"), signal=Exists(signal), forged=Exists(forged))
        .order_by()
        .values("day", "tenant_id", "merchant_id")
        .annotate(
            claims=Count("pk"),
            amount_claimed=Sum("amount"),
            with_signals=Count("pk", filter=Q(signal=True)),
            with_forgery_verdict=Count("pk", filter=Q(forged=True)),
            merchant_answered=Count("pk", filter=~Q(merchant_response="")),
            merchant_missed=Count("pk", filter=missed),
        )
    )
    per_shop = {(row.pop("day"), row.pop("tenant_id"), row.pop("merchant_id")): row for row in rows}
    for (day, tenant, merchant), figures in _with_all_shops(per_shop).items():
        yield ClaimDay(day=day, tenant_id=tenant, merchant_id=merchant, **figures)


def _signal_rows(window: _Window):
    from evidence.models import EvidenceVerdict, Finding

    findings = (
        Finding.objects.filter(
            window.q("claim__created_at"),
            evidence__submitted_by__in=BUYER_SIDE,
            severity__in=SIGNAL_SEVERITIES,
        )
        .annotate(day=TruncDate("claim__created_at"))
        .order_by()
        .values_list("day", "claim__tenant_id", "claim__merchant_id", "code")
        .annotate(claims=Count("claim_id", distinct=True), occurrences=Count("pk"))
    )
    verdicts = (
        EvidenceVerdict.objects.filter(
            window.q("evidence__claim__created_at"),
            evidence__submitted_by__in=BUYER_SIDE,
            is_current=True,
        )
        .annotate(day=TruncDate("evidence__claim__created_at"))
        .order_by()
        .values_list("day", "evidence__claim__tenant_id", "evidence__claim__merchant_id", "verdict")
        .annotate(claims=Count("evidence__claim_id", distinct=True), occurrences=Count("pk"))
    )
    per_shop = {}
    for kind, rows in ((SignalKind.FINDING, findings), (SignalKind.VERDICT, verdicts)):
        for day, tenant, merchant, code, claims, occurrences in rows:
            per_shop[(day, tenant, merchant, kind, code)] = {
                "claims": claims,
                "occurrences": occurrences,
            }
    for (day, tenant, merchant, kind, code), figures in _with_all_shops(per_shop).items():
        yield SignalDay(
            day=day, tenant_id=tenant, merchant_id=merchant, kind=kind, code=code, **figures
        )


def _seconds(duration: dt.timedelta) -> int:
    """Whole seconds, never negative (a clock moved back must not make a sum negative)."""
    return max(int(duration.total_seconds()), 0)


def _decision_rows(window: _Window) -> tuple[list[DecisionDay], list[ReviewerDay]]:
    """One pass over the window's decisions (streamed), summed per day × shop × queue ×
    outcome and per day × reviewer. Durations and the SLA are compared here, not in SQL,
    so the same code runs on SQLite and PostgreSQL."""
    from refunds.models import Appeal, Assignment, Decision, ReviewQueue, RoutingRecord

    sla_hours = dict(ReviewQueue.objects.values_list("pk", "sla_hours"))
    # The review a first decision ended began when the claim last entered review before
    # it (its routing record); an appeal's when the appeal was filed.
    routed = RoutingRecord.objects.filter(
        claim=OuterRef("claim_id"), stage="review", created_at__lte=OuterRef("created_at")
    ).order_by("-created_at", "-id")
    taken = (
        Assignment.objects.filter(
            claim=OuterRef("claim_id"),
            reviewer=OuterRef("reviewer_id"),
            assigned_at__lte=OuterRef("created_at"),
        )
        .order_by("-assigned_at")
        .values("assigned_at")[:1]
    )
    overturned_later = Appeal.objects.filter(
        original_decision=OuterRef("pk"), appeal_decision__isnull=False
    ).exclude(appeal_decision__outcome=OuterRef("outcome"))
    rows = (
        Decision.objects.filter(window.q("created_at"))
        .annotate(
            entered_at=Subquery(routed.values("created_at")[:1]),
            routed_queue=Subquery(routed.values("queue_id")[:1]),
            taken_at=Subquery(taken),
            overturned_later=Exists(overturned_later),
        )
        .order_by()
        .values_list(
            "created_at",
            "claim__tenant_id",
            "claim__merchant_id",
            "claim__queue_id",
            "claim__created_at",
            "claim__amount",
            "claim__review_deadline",
            "outcome",
            "reviewer_id",
            "on_appeal",
            "automatic",
            "decided_by_merchant",
            "confirmed_forgery",
            "appeal__created_at",
            "appeal__original_decision__outcome",
            "appeal__original_decision__confirmed_forgery",
            "entered_at",
            "routed_queue",
            "taken_at",
            "overturned_later",
        )
    )
    per_shop: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(DECISION_FIGURES, 0))
    per_reviewer: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(REVIEWER_FIGURES, 0))
    for (
        decided_at,
        tenant,
        merchant,
        claim_queue,
        submitted_at,
        amount,
        review_deadline,
        outcome,
        reviewer,
        on_appeal,
        automatic,
        by_merchant,
        forgery,
        appeal_filed_at,
        original_outcome,
        original_forgery,
        entered_at,
        routed_queue,
        taken_at,
        overturned,
    ) in rows.iterator(chunk_size=BATCH):
        day = timezone.localdate(decided_at)
        queue = claim_queue if on_appeal else (routed_queue or claim_queue)
        figures = per_shop[(day, tenant, merchant, queue, outcome)]
        denied_on_forgery = outcome == "refund_denied" and forgery
        if on_appeal:
            # Counted once per claim: an appeal protects money only when it turned the
            # first outcome into a denial on a forgery; otherwise the first decision did.
            protects = denied_on_forgery and not (
                original_outcome == "refund_denied" and original_forgery
            )
        else:
            protects = denied_on_forgery and not overturned
        if protects:
            figures["money_protected"] += amount
        if by_merchant:
            figures["merchant_accepted"] += 1
            continue
        if reviewer is None:
            figures["automatic"] += int(automatic)
            continue
        began = appeal_filed_at if on_appeal else entered_at
        if began is not None and queue in sla_hours:
            within = decided_at <= began + dt.timedelta(hours=sla_hours[queue])
        else:  # no record of when the review began: the deadline the claim holds
            within = review_deadline is not None and decided_at <= review_deadline
        figures["decisions"] += 1
        figures["confirmed_forgeries"] += int(forgery)
        figures["within_sla"] += int(within)
        if on_appeal:
            figures["appeal_decisions"] += 1
            figures["appeals_overturned"] += int(original_outcome not in (None, outcome))
        else:
            figures["first_decisions"] += 1
            figures["first_decision_seconds"] += _seconds(decided_at - submitted_at)
        mine = per_reviewer[(day, tenant, reviewer)]
        mine["decisions"] += 1
        mine["appeal_decisions"] += int(on_appeal)
        mine["confirmed_forgeries"] += int(forgery)
        mine["within_sla"] += int(within)
        mine["overturned"] += int(overturned and not on_appeal)
        if taken_at is not None:
            mine["timed_decisions"] += 1
            mine["take_to_decision_seconds"] += _seconds(decided_at - taken_at)
    decision_rows = [
        DecisionDay(
            day=day,
            tenant_id=tenant,
            merchant_id=merchant,
            queue_id=queue,
            outcome=outcome,
            **figures,
        )
        for (day, tenant, merchant, queue, outcome), figures in _with_all_shops(per_shop).items()
    ]
    reviewer_rows = [
        ReviewerDay(day=day, tenant_id=tenant, reviewer_id=reviewer, **figures)
        for (day, tenant, reviewer), figures in per_reviewer.items()
    ]
    return decision_rows, reviewer_rows
