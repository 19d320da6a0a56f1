"""The daily rollups (reporting.services) and what the statistics read from them
(reporting.selectors.statistics_for), on review work built through the real services
and counted by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from refunds import services
from refunds.models import Decision, RefundClaim
from reporting.models import ClaimDay, DecisionDay, ReviewerDay, SignalDay
from reporting.selectors import statistics_for
from reporting.services import rollups_rebuild, rollups_refresh
from tests.reporting.conftest import in_review, take_and_decide


def _stats(days=30, **kwargs):
    today = timezone.localdate()
    rollups_rebuild()
    return statistics_for(
        platform_id=None, start=today - dt.timedelta(days=days - 1), end=today, **kwargs
    )


def _rows(model):
    """Every row of a rollup table, as comparable tuples without ids."""
    fields = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
    return sorted(model.objects.values_list(*fields), key=repr)


def test_decisions_of_the_period_are_counted_by_outcome(decided_month):
    stats = _stats()

    assert stats.decisions == 3
    assert stats.decisions_by_outcome == {
        "refund_approved": 1,
        "refund_denied": 2,
        "return_required": 0,
        "partial_refund": 0,
    }
    assert stats.merchant_acceptances == 1
    assert stats.automatic == 0


def test_claims_per_day_count_every_decider_by_outcome(decided_month):
    stats = _stats()

    decided = {o: sum(d.decided[o] for d in stats.days) for o in stats.decisions_by_outcome}
    # charlie's approval and the shop's acceptance; charlie's and dora's denials
    assert decided == {
        "refund_approved": 2,
        "refund_denied": 2,
        "return_required": 0,
        "partial_refund": 0,
    }


def test_forgery_share_and_appeals_are_computed_from_reviewer_decisions(decided_month):
    stats = _stats()

    assert stats.confirmed_forgeries == 1
    assert stats.forgery_share == pytest.approx(100 / 3)
    assert stats.appeal_decisions == 1
    assert stats.appeals_overturned == 1
    assert stats.overturn_share == 100


def test_an_appeal_with_the_same_outcome_is_not_an_overturn(
    alice, charlie, dora, shop_a, make_claim
):
    claim = in_review(make_claim(shop_a), alice)
    take_and_decide(claim, charlie, outcome="refund_denied")
    services.claim_appeal(claim=claim, filed_by="buyer", reason="我没有伪造照片 not forged")
    take_and_decide(claim, dora, outcome="refund_denied")

    stats = _stats(days=7)

    assert stats.appeal_decisions == 1
    assert stats.appeals_overturned == 0


def test_mean_time_to_decision_counts_first_decisions_only(decided_month):
    stats = _stats()

    # First decisions 10 h and 20 h after submission; dora's appeal decision is left out.
    assert stats.mean_claim_to_decision == dt.timedelta(hours=15)


def test_each_reviewer_has_a_row_with_the_mean_time_from_taking_to_deciding(decided_month):
    stats = _stats()

    rows = {row.username: row for row in stats.reviewers}
    assert [row.username for row in stats.reviewers] == ["charlie", "dora"]
    assert rows["charlie"].decisions == 2
    assert rows["charlie"].appeal_decisions == 0
    assert rows["charlie"].confirmed_forgeries == 1
    assert rows["charlie"].overturned == 1  # the approval dora's appeal decision changed
    assert rows["charlie"].mean_take_to_decision == dt.timedelta(hours=3)  # 2 h and 4 h
    assert rows["dora"].decisions == 1
    assert rows["dora"].appeal_decisions == 1
    assert rows["dora"].overturned == 0
    assert rows["dora"].mean_take_to_decision == dt.timedelta(hours=1)


def test_a_longer_period_includes_older_decisions(decided_month):
    stats = _stats(days=90)

    assert stats.decisions == 4
    assert stats.decisions_by_outcome["return_required"] == 1
    assert {row.username: row.decisions for row in stats.reviewers}["charlie"] == 3
    # 10 h, 20 h and 24 h from submission to the first decision.
    assert stats.mean_claim_to_decision == dt.timedelta(hours=18)


def test_an_empty_period_has_no_share_and_no_mean(charlie):
    stats = _stats(days=7)

    assert stats.decisions == 0
    assert stats.forgery_share is None
    assert stats.sla_share is None
    assert stats.mean_claim_to_decision is None
    assert stats.reviewers == []
    assert len(stats.days) == 7
    assert ClaimDay.objects.count() == DecisionDay.objects.count() == 0


def test_money_protected_is_the_claim_amount_of_a_standing_denial_on_a_forgery(
    decided_month, alice, dora
):
    # The forged claim (¥120) was denied on a confirmed forgery; dora's appeal denial
    # turned an approval into a denial without confirming a forgery: not counted.
    assert _stats().money_protected == Decimal("120.00")

    forged = decided_month["forged"]
    services.claim_appeal(claim=forged, filed_by="buyer", reason="我的照片是真的 it is real")
    take_and_decide(forged, dora, outcome="refund_approved")

    assert _stats().money_protected == Decimal("0")


def test_the_shops_answers_are_counted_in_time_or_missed(alice, shop_a, make_claim, settings):
    in_review(make_claim(shop_a), alice)  # answered
    services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    missed = make_claim(shop_a)
    RefundClaim.objects.filter(pk=missed.pk).update(
        merchant_deadline=timezone.now() - dt.timedelta(minutes=1)
    )
    services.enforce_deadlines()
    make_claim(shop_a)  # still within its window: neither

    stats = _stats(days=1)

    assert stats.claims == 4
    assert (stats.merchant_answered, stats.merchant_missed) == (2, 1)
    assert stats.merchant_answered_share == pytest.approx(200 / 3)


def test_reviewer_decisions_are_within_the_sla_of_the_queue_the_claim_waited_in(
    alice, charlie, shop_a, make_claim
):
    now = timezone.now()
    quick = in_review(make_claim(shop_a), alice)
    take_and_decide(quick, charlie, outcome="refund_approved")
    late = in_review(make_claim(shop_a), alice)
    decision = take_and_decide(late, charlie, outcome="refund_approved").decisions.get()
    sla = late.queue.sla_hours
    # It entered review longer ago than its queue's SLA allows.
    from tests.reporting.conftest import backdate

    backdate(
        decision,
        submitted=now - dt.timedelta(hours=sla + 3),
        entered=now - dt.timedelta(hours=sla + 2),
        taken=now - dt.timedelta(hours=1),
        decided=now,
    )

    stats = _stats(days=7)

    assert (stats.within_sla, stats.decisions) == (1, 2)
    assert [(q.name, q.decisions, q.within_sla) for q in stats.queues] == [(late.queue.name, 2, 1)]


def test_findings_on_the_buyers_evidence_are_counted_per_code(
    shop_a, listing_product, make_order, photo_bytes, django_capture_on_commit_callbacks
):
    from evidence.services import evidence_add
    from tests.web.conftest import _forged_claim

    forged = _forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks)
    # A merchant's counter-evidence on that claim: its findings are not the buyer's.
    with django_capture_on_commit_callbacks(execute=True):
        evidence_add(
            upload=photo_bytes(7),
            submitted_by="merchant",
            original_name="packing.jpg",
            claim=forged,
        )
    assert forged.findings.filter(
        evidence__submitted_by="merchant", code="metadata_no_camera"
    ).exists()

    stats = _stats()

    codes = {(s.kind, s.code): (s.claims, s.occurrences) for s in stats.signals}
    assert codes[("finding", "reference_copy")] == (1, 1)
    assert codes[("finding", "reference_altered_region")] == (1, 1)
    assert codes[("finding", "metadata_no_camera")] == (1, 1)  # the merchant's is not counted
    assert ("finding", "ela_heatmap") not in codes  # an aid for reviewers, not a signal
    assert codes[("verdict", "edited_copy")] == (1, 1)
    assert (stats.claims, stats.with_signals, stats.with_forgery_verdict) == (1, 1, 1)
    assert stats.signal_share == 100


# --- Incremental refresh ----------------------------------------------------------------


def _day_figures(model, day):
    return sorted(
        model.objects.filter(day=day, merchant=None).values_list(
            "outcome", "decisions", "appeals_overturned", "money_protected"
        )
    )


def test_a_refresh_after_a_new_decision_recomputes_only_its_day(alice, charlie, shop_a, make_claim):
    old = in_review(make_claim(shop_a), alice)
    take_and_decide(old, charlie, outcome="return_required")
    Decision.objects.filter(claim=old).update(created_at=timezone.now() - dt.timedelta(days=3))
    RefundClaim.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=4),
        updated_at=timezone.now() - dt.timedelta(days=3),
    )
    rollups_refresh()  # the first run builds everything
    before = {model: _rows(model) for model in (ClaimDay, DecisionDay, ReviewerDay)}
    old_rows = DecisionDay.objects.filter(day__lt=timezone.localdate()).count()
    assert old_rows == 2  # the shop's row and the all-shops row of that day

    # when: a new decision today
    new = in_review(make_claim(shop_a), alice)
    take_and_decide(new, charlie, outcome="refund_denied", confirmed_forgery=True)
    result = rollups_refresh()

    # then: today's rows appear, the older day's are untouched
    today = timezone.localdate()
    assert result.days == 1
    assert _day_figures(DecisionDay, today) == [("refund_denied", 1, 0, Decimal("99.00"))]
    assert [r for r in _rows(DecisionDay) if r[0] != today] == before[DecisionDay]
    assert _rows(ClaimDay) != before[ClaimDay]


def test_an_appeal_reversal_changes_the_first_decisions_day_and_the_appeals_day(
    alice, charlie, dora, shop_a, make_claim
):
    today = timezone.localdate()
    first_day = today - dt.timedelta(days=2)
    claim = in_review(make_claim(shop_a), alice)
    take_and_decide(claim, charlie, outcome="refund_denied", confirmed_forgery=True)
    Decision.objects.filter(claim=claim).update(created_at=timezone.now() - dt.timedelta(days=2))
    untouched = in_review(make_claim(shop_a), alice)
    take_and_decide(untouched, charlie, outcome="refund_approved")
    Decision.objects.filter(claim=untouched).update(
        created_at=timezone.now() - dt.timedelta(days=5)
    )
    rollups_refresh()
    assert _day_figures(DecisionDay, first_day) == [("refund_denied", 1, 0, Decimal("99.00"))]
    other_day = _day_figures(DecisionDay, today - dt.timedelta(days=5))

    # when: the buyer appeals and dora approves the refund today
    services.claim_appeal(claim=claim, filed_by="buyer", reason="我的照片是真的 it is real")
    take_and_decide(claim, dora, outcome="refund_approved")
    rollups_refresh()

    # then: the denial no longer protects money; today counts an overturned appeal
    assert _day_figures(DecisionDay, first_day) == [("refund_denied", 1, 0, Decimal("0.00"))]
    assert _day_figures(DecisionDay, today) == [("refund_approved", 1, 1, Decimal("0.00"))]
    assert _day_figures(DecisionDay, today - dt.timedelta(days=5)) == other_day
    assert ReviewerDay.objects.get(day=first_day, reviewer=charlie).overturned == 1


def test_a_rebuild_equals_the_incremental_refreshes(decided_month, alice, dora, shop_a, make_claim):
    rollups_refresh()
    forged = decided_month["forged"]
    services.claim_appeal(claim=forged, filed_by="buyer", reason="我的照片是真的 it is real")
    take_and_decide(forged, dora, outcome="refund_approved")
    services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    rollups_refresh()
    incremental = {m: _rows(m) for m in (ClaimDay, SignalDay, DecisionDay, ReviewerDay)}

    rollups_rebuild()

    assert {m: _rows(m) for m in incremental} == incremental
    assert incremental[DecisionDay]


def test_running_the_refresh_twice_counts_nothing_twice(decided_month):
    rollups_refresh()
    once = {m: _rows(m) for m in (ClaimDay, DecisionDay, ReviewerDay)}

    again = rollups_refresh()
    rollups_rebuild(since=timezone.localdate() - dt.timedelta(days=1))

    assert {m: _rows(m) for m in once} == once
    assert again.days >= 1  # the overlap reads the last minutes again: same figures


# --- Platforms ----------------------------------------------------------------------------


def test_a_platforms_figures_never_include_another_platforms(django_user_model):
    from tests.platforms import claim_in_review, platform_world

    a = platform_world("pa", django_user_model=django_user_model)
    b = platform_world("pb", django_user_model=django_user_model)
    for number in (1, 2):
        claim = claim_in_review(a, number)
        take_and_decide(claim, a.reviewer, outcome="refund_denied", confirmed_forgery=True)
    claim_in_review(b, 1)
    rollups_rebuild()
    today = timezone.localdate()

    seen_by_b = statistics_for(platform_id=b.platform.pk, start=today, end=today)
    seen_by_a = statistics_for(platform_id=a.platform.pk, start=today, end=today)
    shop_of_a = statistics_for(
        platform_id=b.platform.pk, start=today, end=today, merchant_id=a.shop.pk
    )

    assert (seen_by_a.claims, seen_by_a.decisions, seen_by_a.money_protected) == (
        2,
        2,
        Decimal("198.00"),
    )
    assert (seen_by_b.claims, seen_by_b.decisions, seen_by_b.reviewers) == (1, 0, [])
    assert (shop_of_a.claims, shop_of_a.decisions) == (0, 0)


# --- The beat and the command -------------------------------------------------------------


def test_the_beat_runs_the_refresh_task(settings, decided_month):
    from reporting.tasks import rollups_refresh_task

    entry = settings.CELERY_BEAT_SCHEDULE["rollups-refresh"]
    result = rollups_refresh_task.delay().get()

    assert entry["task"] == rollups_refresh_task.name
    assert result["skipped"] == 0 and result["days"] >= 2
    assert DecisionDay.objects.filter(merchant=None).aggregate(n=Sum("decisions"))["n"] == 4


def test_the_rebuild_command_rebuilds_from_a_day(decided_month):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("rebuild_rollups", stdout=out)
    everything = _rows(DecisionDay)
    DecisionDay.objects.all().delete()
    call_command(
        "rebuild_rollups", "--since", (timezone.localdate() - dt.timedelta(days=7)).isoformat()
    )

    assert "days rebuilt" in out.getvalue()
    assert (
        DecisionDay.objects.filter(day__lt=timezone.localdate() - dt.timedelta(days=7)).count() == 0
    )
    assert [r for r in everything if r[0] >= timezone.localdate() - dt.timedelta(days=7)] == _rows(
        DecisionDay
    )
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--since", "2026-13-01")


def test_the_nightly_rebuild_sees_a_change_that_did_not_save_the_claim(settings, decided_month):
    from reporting.tasks import rollups_rebuild_recent_task

    # given: the rollups up to date an hour after the claims last changed, then a decision
    # of today changed without its claim being saved (a data fix, an admin edit): its
    # claim's updated_at does not move
    RefundClaim.objects.update(updated_at=timezone.now() - dt.timedelta(hours=1))
    rollups_refresh()
    today = timezone.localdate()
    changed = Decision.objects.filter(outcome="refund_denied", on_appeal=False).get()

    def outcomes():
        return dict(
            DecisionDay.objects.filter(day=timezone.localtime(changed.created_at).date())
            .filter(merchant=None)
            .values_list("outcome")
            .annotate(n=Sum("decisions"))
        )

    # (the fixture's other approval may fall on the day before: it was decided 10 h ago)
    approved_before = outcomes().get("refund_approved", 0)
    Decision.objects.filter(pk=changed.pk).update(outcome="refund_approved")
    assert rollups_refresh().days == 0  # nothing the refresh can find
    assert outcomes().get("refund_approved", 0) == approved_before  # still the old figures

    # when: the beat's nightly entry
    entry = settings.CELERY_BEAT_SCHEDULE["rollups-rebuild-recent"]
    result = rollups_rebuild_recent_task.delay().get()

    # then: the last 7 days rebuilt, the change counted; the older day untouched
    assert entry["task"] == rollups_rebuild_recent_task.name
    assert settings.ROLLUPS_REBUILD_DAYS == 7 and result["days"] >= 1  # the days written
    assert outcomes()["refund_approved"] == approved_before + 1
    assert DecisionDay.objects.filter(day=today - dt.timedelta(days=40)).exists()
