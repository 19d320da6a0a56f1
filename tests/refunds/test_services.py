"""The business actions a merchant, a reviewer and the deadline sweeper perform."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from refunds import services
from refunds.audit import Actor
from refunds.exceptions import ClaimValidationError, IllegalTransition, NotAllowed, NothingToReview
from refunds.models import Appeal, AuditEvent, Decision, RefundClaim
from refunds.selectors import buyer_credit, claims_for_merchant_user


def _contest(claim, user):
    return services.claim_merchant_respond(
        claim=claim,
        user=user,
        response="contest",
        statement="The photo is our own listing picture with cracks painted on.",
    )


def test_a_claim_without_evidence_waits_for_the_merchant(make_claim, shop_a):
    claim = make_claim(shop_a)
    assert claim.status == "awaiting_merchant"
    assert claim.risk_score == 0
    assert claim.queue is not None
    window = claim.merchant_deadline - timezone.now()
    assert dt.timedelta(hours=47) < window <= dt.timedelta(hours=48)
    actions = list(claim.audit_events.values_list("action", flat=True))
    assert actions == ["claim_submitted", "checks_started", "checks_completed"]


def test_merchant_accepts_and_the_claim_is_decided_refunded(make_claim, shop_a, alice):
    claim = make_claim(shop_a)
    claim = services.claim_merchant_respond(claim=claim, user=alice, response="accept")
    assert (claim.status, claim.outcome, claim.refund_amount) == (
        "decided",
        "refund_approved",
        claim.amount,
    )
    assert Decision.objects.get(claim=claim).decided_by_merchant


def test_another_shops_merchant_cannot_answer(make_claim, shop_a, bob):
    claim = make_claim(shop_a)
    with pytest.raises(NotAllowed):
        services.claim_merchant_respond(claim=claim, user=bob, response="accept")
    assert RefundClaim.objects.get(pk=claim.pk).status == "awaiting_merchant"


def test_contest_needs_a_statement(make_claim, shop_a, alice):
    claim = make_claim(shop_a)
    with pytest.raises(ClaimValidationError):
        services.claim_merchant_respond(claim=claim, user=alice, response="contest", statement="no")
    contested = _contest(claim, alice)
    assert contested.status == "in_review" and contested.review_deadline is not None


def test_partial_offer_must_be_below_the_claim(make_claim, shop_a, alice):
    claim = make_claim(shop_a, amount=Decimal("80"))
    with pytest.raises(ClaimValidationError):
        services.claim_merchant_respond(
            claim=claim,
            user=alice,
            response="offer_partial",
            statement="We offer part of it back.",
            offer_amount=Decimal("80"),
        )
    claim = services.claim_merchant_respond(
        claim=claim,
        user=alice,
        response="offer_partial",
        statement="We offer part of it back.",
        offer_amount=Decimal("30"),
    )
    assert claim.merchant_offer_amount == Decimal("30")


def test_answering_twice_is_an_illegal_transition(make_claim, shop_a, alice):
    claim = make_claim(shop_a)
    _contest(claim, alice)
    with pytest.raises(IllegalTransition):
        services.claim_merchant_respond(claim=claim, user=alice, response="accept")


def test_take_next_gives_each_claim_to_one_reviewer(make_claim, shop_a, alice, charlie, dora):
    first = _contest(make_claim(shop_a), alice)
    second = _contest(make_claim(shop_a), alice)
    taken_by_charlie = services.claim_take_next(reviewer=charlie)
    taken_by_dora = services.claim_take_next(reviewer=dora)
    assert {taken_by_charlie.pk, taken_by_dora.pk} == {first.pk, second.pk}
    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=charlie)


def test_decide_requires_holding_the_claim(make_claim, shop_a, alice, charlie, dora):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    with pytest.raises(NotAllowed):
        services.claim_decide(
            claim=claim,
            reviewer=dora,
            outcome="refund_denied",
            rationale="Listing photo with painted cracks.",
        )
    decided = services.claim_decide(
        claim=claim,
        reviewer=charlie,
        outcome="refund_denied",
        rationale="Listing photo with painted cracks.",
        confirmed_forgery=True,
    )
    assert (decided.status, decided.outcome, decided.refund_amount) == (
        "decided",
        "refund_denied",
        Decimal("0"),
    )
    assert decided.confirmed_forgery and decided.appeal_deadline > timezone.now()
    assert not decided.assignments.filter(released_at__isnull=True).exists()


def _decided(make_claim, shop_a, alice, reviewer):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=reviewer)
    return services.claim_decide(
        claim=claim,
        reviewer=reviewer,
        outcome="refund_approved",
        rationale="The damage looks genuine to me.",
    )


def test_appeal_goes_to_a_different_reviewer(make_claim, shop_a, alice, charlie, dora):
    claim = _decided(make_claim, shop_a, alice, charlie)
    services.claim_appeal(
        claim=claim,
        filed_by="merchant",
        user=alice,
        reason="The photo was taken before delivery, see EXIF.",
    )
    assert RefundClaim.objects.get(pk=claim.pk).status == "appealed"
    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=charlie)  # the first reviewer never gets it
    taken = services.claim_take_next(reviewer=dora)
    assert taken.pk == claim.pk
    final = services.claim_decide(
        claim=claim,
        reviewer=dora,
        outcome="partial_refund",
        refund_amount=Decimal("20"),
        rationale="Some damage is real, most is not.",
    )
    assert final.status == "decided" and final.appeal_deadline is None
    appeal = Appeal.objects.get(claim=claim)
    assert appeal.appeal_decision.reviewer == dora and appeal.appeal_decision.on_appeal


def test_appeal_after_the_window_is_refused(make_claim, shop_a, alice, charlie):
    claim = _decided(make_claim, shop_a, alice, charlie)
    RefundClaim.objects.filter(pk=claim.pk).update(
        appeal_deadline=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(IllegalTransition, match="window"):
        services.claim_appeal(claim=claim, filed_by="buyer", reason="I want my money back now.")


def test_a_merchant_acceptance_cannot_be_appealed(make_claim, shop_a, alice):
    claim = services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    with pytest.raises(IllegalTransition):
        services.claim_appeal(claim=claim, filed_by="buyer", reason="Changed my mind now.")


def test_missed_merchant_deadline_goes_to_review_never_decided(make_claim, shop_a):
    claim = make_claim(shop_a)
    later = claim.merchant_deadline + dt.timedelta(minutes=1)
    moved = services.enforce_deadlines(now=later)
    claim.refresh_from_db()
    assert moved["merchant_missed"] == 1
    assert claim.status == "in_review" and claim.outcome == ""
    event = claim.audit_events.order_by("-seq").first()
    assert event.action == "merchant_deadline_missed" and "did not respond" in event.reason
    assert services.enforce_deadlines(now=later)["merchant_missed"] == 0  # idempotent


def test_buyer_evidence_request_and_missed_deadline(make_claim, shop_a, alice, charlie):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    claim = services.claim_request_buyer_evidence(
        claim=claim, reviewer=charlie, message="Please send an unedited photo."
    )
    assert claim.status == "awaiting_buyer" and claim.buyer_deadline
    services.enforce_deadlines(now=claim.buyer_deadline + dt.timedelta(seconds=1))
    claim.refresh_from_db()
    assert claim.status == "in_review"


def test_decided_claims_close_after_the_appeal_window(make_claim, shop_a, alice, charlie):
    claim = _decided(make_claim, shop_a, alice, charlie)
    services.enforce_deadlines(now=claim.appeal_deadline - dt.timedelta(minutes=1))
    assert RefundClaim.objects.get(pk=claim.pk).status == "decided"
    services.enforce_deadlines(now=claim.appeal_deadline + dt.timedelta(minutes=1))
    assert RefundClaim.objects.get(pk=claim.pk).status == "closed"


def test_withdrawn_claims_accept_nothing_more(make_claim, shop_a, alice):
    claim = make_claim(shop_a)
    services.claim_withdraw(claim=claim, actor=Actor.platform("t"), reason="buyer withdrew")
    with pytest.raises(IllegalTransition):
        services.claim_merchant_respond(claim=claim, user=alice, response="accept")
    assert AuditEvent.objects.filter(claim=claim, action="withdrawn").count() == 1


def test_merchant_sees_only_own_shop(make_claim, shop_a, shop_b, alice, bob):
    mine, theirs = make_claim(shop_a), make_claim(shop_b)
    assert list(claims_for_merchant_user(user=alice)) == [mine]
    assert list(claims_for_merchant_user(user=bob)) == [theirs]


def test_buyer_credit_flags_fraud_tiers(make_claim, shop_a, alice, charlie, buyer):
    for amount in (Decimal("1800"), Decimal("1500")):
        claim = _contest(make_claim(shop_a, amount=amount, total=amount), alice)
        services.claim_take_next(reviewer=charlie)
        services.claim_decide(
            claim=claim,
            reviewer=charlie,
            outcome="refund_denied",
            rationale="Edited listing photo.",
            confirmed_forgery=True,
        )
    credit = buyer_credit(buyer=buyer)
    assert credit.claims == 2 and credit.confirmed_forgeries == 2
    assert credit.amount_in_forged_claims == Decimal("3300")
    assert credit.tier == "relatively_large" and credit.crosses_fraud_tier
