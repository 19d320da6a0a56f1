"""The reviewers' statistics (refunds.selectors.review_statistics): workload, decisions,
per-reviewer figures and automated checks, built through the real services."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from refunds import audit, services
from refunds.models import Assignment, ClaimStatus, Decision, RefundClaim
from refunds.selectors import review_statistics

S = ClaimStatus
THRESHOLDS = (40, 70)
RATIONALE = "买家图片为商家主图的编辑副本。Edited copy of the listing photo."


def _in_review(claim, merchant_user):
    return services.claim_merchant_respond(
        claim=claim, user=merchant_user, response="contest", statement="裂痕是画上去的 painted"
    )


def _take_and_decide(claim, reviewer, *, outcome, confirmed_forgery=False):
    assert services.claim_take_next(reviewer=reviewer).pk == claim.pk
    return services.claim_decide(
        claim=claim,
        reviewer=reviewer,
        outcome=outcome,
        rationale=RATIONALE,
        confirmed_forgery=confirmed_forgery,
    )


def _backdate(decision, *, submitted, taken, decided):
    """Move a decision, its claim's submission and the deciding assignment back in time
    (auto_now_add fields: only an update can set them), so durations are exact."""
    RefundClaim.objects.filter(pk=decision.claim_id).update(created_at=submitted)
    Assignment.objects.filter(claim_id=decision.claim_id, reviewer=decision.reviewer).update(
        assigned_at=taken
    )
    Decision.objects.filter(pk=decision.pk).update(created_at=decided)


@pytest.fixture
def decided_month(alice, charlie, dora, shop_a, make_claim):
    """A month of review work on shop A's claims (see the comments for what each is)."""
    now = timezone.now()
    hour = dt.timedelta(hours=1)
    # Forgery confirmed by charlie: submitted 10 h before the decision, taken 2 h before.
    forged = _in_review(make_claim(shop_a), alice)
    _take_and_decide(forged, charlie, outcome="refund_denied", confirmed_forgery=True)
    _backdate(
        forged.decisions.get(),
        submitted=now - 12 * hour,
        taken=now - 4 * hour,
        decided=now - 2 * hour,
    )
    # Approved by charlie (20 h after submission, 4 h after taking it), then appealed and
    # denied by dora 1 h after she took it: the appeal overturned the first outcome.
    appealed = _in_review(make_claim(shop_a), alice)
    _take_and_decide(appealed, charlie, outcome="refund_approved")
    _backdate(
        appealed.decisions.get(),
        submitted=now - 30 * hour,
        taken=now - 14 * hour,
        decided=now - 10 * hour,
    )
    services.claim_appeal(
        claim=appealed,
        filed_by="merchant",
        reason="买家照片是伪造的 the photo is forged",
        user=alice,
    )
    _take_and_decide(appealed, dora, outcome="refund_denied")
    Assignment.objects.filter(claim=appealed, reviewer=dora).update(
        assigned_at=appealed.decisions.get(on_appeal=True).created_at - hour
    )
    # Decided by charlie 40 days ago: outside a 30-day period, inside a 90-day one.
    old = _in_review(make_claim(shop_a), alice)
    _take_and_decide(old, charlie, outcome="return_required")
    _backdate(
        old.decisions.get(),
        submitted=now - dt.timedelta(days=41),
        taken=now - dt.timedelta(days=40, hours=1),
        decided=now - dt.timedelta(days=40),
    )
    # Accepted by the merchant: a decision, but not a reviewer's.
    services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    return {"forged": forged, "appealed": appealed, "old": old}


def test_decisions_of_the_period_are_counted_by_outcome(decided_month):
    stats = review_statistics(since=timezone.now() - dt.timedelta(days=30), thresholds=THRESHOLDS)

    assert stats.decisions == 3
    assert stats.decisions_by_outcome == {
        "refund_approved": 1,
        "refund_denied": 2,
        "return_required": 0,
        "partial_refund": 0,
    }
    assert stats.merchant_acceptances == 1


def test_forgery_share_and_appeals_are_computed_from_reviewer_decisions(decided_month):
    stats = review_statistics(since=timezone.now() - dt.timedelta(days=30), thresholds=THRESHOLDS)

    assert stats.confirmed_forgeries == 1
    assert stats.forgery_share == pytest.approx(100 / 3)
    assert stats.appeal_decisions == 1
    assert stats.appeals_overturned == 1


def test_an_appeal_with_the_same_outcome_is_not_an_overturn(
    alice, charlie, dora, shop_a, make_claim
):
    claim = _in_review(make_claim(shop_a), alice)
    _take_and_decide(claim, charlie, outcome="refund_denied")
    services.claim_appeal(claim=claim, filed_by="buyer", reason="我没有伪造照片 not forged")
    _take_and_decide(claim, dora, outcome="refund_denied")

    stats = review_statistics(since=timezone.now() - dt.timedelta(days=7), thresholds=THRESHOLDS)

    assert stats.appeal_decisions == 1
    assert stats.appeals_overturned == 0


def test_median_time_to_decision_counts_first_decisions_only(decided_month):
    stats = review_statistics(since=timezone.now() - dt.timedelta(days=30), thresholds=THRESHOLDS)

    # First decisions 10 h and 20 h after submission; dora's appeal decision is left out.
    assert stats.median_claim_to_decision == dt.timedelta(hours=15)


def test_each_reviewer_has_a_row_with_the_median_time_from_taking_to_deciding(
    decided_month, charlie, dora
):
    stats = review_statistics(since=timezone.now() - dt.timedelta(days=30), thresholds=THRESHOLDS)

    rows = {row.username: row for row in stats.reviewers}
    assert [row.username for row in stats.reviewers] == ["charlie", "dora"]
    assert rows["charlie"].decisions == 2
    assert rows["charlie"].appeal_decisions == 0
    assert rows["charlie"].confirmed_forgeries == 1
    assert rows["charlie"].median_take_to_decision == dt.timedelta(hours=3)  # 2 h and 4 h
    assert rows["dora"].decisions == 1
    assert rows["dora"].appeal_decisions == 1
    assert rows["dora"].median_take_to_decision == dt.timedelta(hours=1)


def test_a_longer_period_includes_older_decisions(decided_month):
    stats = review_statistics(since=timezone.now() - dt.timedelta(days=90), thresholds=THRESHOLDS)

    assert stats.decisions == 4
    assert stats.decisions_by_outcome["return_required"] == 1
    assert {row.username: row.decisions for row in stats.reviewers}["charlie"] == 3
    # 10 h, 20 h and 24 h from submission to the first decision.
    assert stats.median_claim_to_decision == dt.timedelta(hours=20)


def test_an_empty_period_has_no_share_and_no_median(charlie):
    stats = review_statistics(since=timezone.now() - dt.timedelta(days=7), thresholds=THRESHOLDS)

    assert stats.decisions == 0
    assert stats.forgery_share is None
    assert stats.median_claim_to_decision is None
    assert stats.reviewers == ()
    assert stats.oldest_waiting_since is None


def test_workload_counts_open_claims_and_unassigned_waiting_ones(
    alice, charlie, shop_a, make_claim, monkeypatch
):
    # It entered review a day ago (its audit event is what counts, not its submission):
    # the audit log's clock is set back for that one transition (events are append-only).
    entered = timezone.now() - dt.timedelta(days=1)
    claim = make_claim(shop_a)
    with monkeypatch.context() as past:
        past.setattr(audit, "timezone", SimpleNamespace(now=lambda: entered))
        _in_review(claim, alice)
    _in_review(make_claim(shop_a), alice)
    held = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=held, reviewer=charlie)
    make_claim(shop_a)  # with the merchant
    services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")

    stats = review_statistics(since=timezone.now() - dt.timedelta(days=7), thresholds=THRESHOLDS)

    assert stats.open_by_status == {
        "received": 0,
        "checking": 0,
        "awaiting_merchant": 1,
        "awaiting_buyer": 0,
        "in_review": 3,
        "appealed": 0,
    }
    assert stats.open_claims == 4
    assert stats.waiting_unassigned == 2
    assert stats.oldest_waiting_since == entered
    assert stats.oldest_waiting_age >= dt.timedelta(days=1)


def test_claims_of_the_period_are_counted_by_risk_band(alice, shop_a, make_claim):
    scores = [None, 10, 39, 40, 69, 70, 100]
    claims = [make_claim(shop_a) for _ in scores]
    # The score is the pipeline's output; set it directly to place claims on each border.
    for claim, score in zip(claims, scores, strict=True):
        RefundClaim.objects.filter(pk=claim.pk).update(risk_score=score)
    RefundClaim.objects.filter(pk=claims[-1].pk).update(
        created_at=timezone.now() - dt.timedelta(days=31)
    )

    stats = review_statistics(since=timezone.now() - dt.timedelta(days=30), thresholds=THRESHOLDS)

    assert stats.claims_by_risk_band == {"pending": 1, "low": 2, "medium": 2, "high": 1}


def test_top_finding_codes_count_signals_on_the_buyers_evidence(
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

    stats = review_statistics(since=timezone.now() - dt.timedelta(days=30), thresholds=THRESHOLDS)

    codes = {row.code: (row.claims, row.findings) for row in stats.top_finding_codes}
    assert codes["reference_copy"] == (1, 1)
    assert codes["reference_altered_region"] == (1, 1)
    assert codes["metadata_no_camera"] == (1, 1)  # the merchant's file is not counted
    assert "ela_heatmap" not in codes  # an aid for reviewers, not a signal
    assert [row.code for row in stats.top_finding_codes] == sorted(codes)  # ties by code
    assert len(stats.top_finding_codes) <= 10
