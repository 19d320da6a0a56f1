"""Review work built through the real services, with the times moved back where a test
needs exact days and durations (auto_now_add fields: only an update can set them)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from refunds import services
from refunds.models import Assignment, Decision, RefundClaim, RoutingRecord

RATIONALE = "买家图片为商家主图的编辑副本。Edited copy of the listing photo."


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


def in_review(claim, merchant_user):
    return services.claim_merchant_respond(
        claim=claim, user=merchant_user, response="contest", statement="裂痕是画上去的 painted"
    )


def take_and_decide(claim, reviewer, *, outcome, confirmed_forgery=False):
    assert services.claim_take_next(reviewer=reviewer).pk == claim.pk
    return services.claim_decide(
        claim=claim,
        reviewer=reviewer,
        outcome=outcome,
        rationale=RATIONALE,
        confirmed_forgery=confirmed_forgery,
    )


def backdate(decision, *, submitted, taken, decided, entered=None):
    """Move a decision, its claim's submission, its entry into review and the deciding
    assignment back in time, so that days and durations are exact."""
    RefundClaim.objects.filter(pk=decision.claim_id).update(created_at=submitted)
    RoutingRecord.objects.filter(claim_id=decision.claim_id, stage="review").update(
        created_at=entered or submitted
    )
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
    forged = in_review(make_claim(shop_a, amount=120), alice)
    take_and_decide(forged, charlie, outcome="refund_denied", confirmed_forgery=True)
    backdate(
        forged.decisions.get(),
        submitted=now - 12 * hour,
        taken=now - 4 * hour,
        decided=now - 2 * hour,
    )
    # Approved by charlie (20 h after submission, 4 h after taking it), then appealed and
    # denied by dora 1 h after she took it: the appeal overturned the first outcome.
    appealed = in_review(make_claim(shop_a), alice)
    take_and_decide(appealed, charlie, outcome="refund_approved")
    backdate(
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
    take_and_decide(appealed, dora, outcome="refund_denied")
    Assignment.objects.filter(claim=appealed, reviewer=dora).update(
        assigned_at=appealed.decisions.get(on_appeal=True).created_at - hour
    )
    # Decided by charlie 40 days ago: outside a 30-day period, inside a 90-day one.
    old = in_review(make_claim(shop_a), alice)
    take_and_decide(old, charlie, outcome="return_required")
    backdate(
        old.decisions.get(),
        submitted=now - dt.timedelta(days=41),
        taken=now - dt.timedelta(days=40, hours=1),
        decided=now - dt.timedelta(days=40),
    )
    # Accepted by the merchant: a decision, but not a reviewer's.
    services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    return {"forged": forged, "appealed": appealed, "old": old}
