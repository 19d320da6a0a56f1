"""The claim page's actions as services: the AI-made flag, the confirmation a money answer
needs, and the shop's appeal of its own acceptance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from refunds import policy, services
from refunds.audit import Actor
from refunds.exceptions import ConfirmationRequired, IllegalTransition, NotAllowed
from refunds.models import AuditEvent, Decision, RefundClaim, ReviewQueue
from refunds.routing import FORENSIC_QUEUE_SLUG

pytestmark = pytest.mark.django_db


@pytest.fixture
def agnes(django_user_model, shop_a):
    """An agent (not an owner) of shop A."""
    from merchants.services import membership_add

    user = django_user_model.objects.create_user("agnes", password="pw-agnes-123")
    membership_add(merchant=shop_a, user=user, role="agent")
    return user


def _trail(claim) -> list[str]:
    return list(
        AuditEvent.objects.filter(claim=claim).order_by("seq").values_list("action", flat=True)
    )


# --- the AI-made flag -------------------------------------------------------------------


def test_the_forensic_queue_is_seeded_by_the_migration():
    assert ReviewQueue.objects.filter(slug=FORENSIC_QUEUE_SLUG, is_active=True).exists()


@pytest.mark.parametrize("who", ["alice", "agnes"])
def test_owner_and_agent_may_flag_and_the_claim_goes_to_the_forensic_queue(
    request, who, shop_a, make_claim
):
    # given
    user = request.getfixturevalue(who)
    claim = make_claim(shop_a)
    before = claim.queue

    # when
    flagged = services.claim_flag_ai_suspect(claim=claim, user=user, note="  影子方向不对 shadows ")

    # then: stored on the claim, routed, and both acts in the audit trail
    claim.refresh_from_db()
    assert claim.ai_suspected_at is not None and claim.ai_suspected_by == user
    assert claim.ai_suspect_note == "影子方向不对 shadows"
    assert claim.queue.slug == FORENSIC_QUEUE_SLUG and flagged.queue_id == claim.queue_id
    assert claim.status == "awaiting_merchant"  # a flag moves no status
    flag_event = AuditEvent.objects.get(claim=claim, action="ai_suspect_flagged")
    assert flag_event.actor == user and flag_event.reason == "影子方向不对 shadows"
    moved = AuditEvent.objects.get(claim=claim, action="queue_changed")
    assert moved.data == {
        "from": before.slug if before else None,
        "to": FORENSIC_QUEUE_SLUG,
        "by": "merchant",
    }
    assert moved.seq > flag_event.seq


def test_another_shop_cannot_flag(shop_a, make_claim, bob):
    claim = make_claim(shop_a)

    with pytest.raises(NotAllowed):
        services.claim_flag_ai_suspect(claim=claim, user=bob)

    claim.refresh_from_db()
    assert claim.ai_suspected_at is None
    assert "ai_suspect_flagged" not in _trail(claim)


def test_a_reviewer_cannot_flag(shop_a, make_claim, charlie):
    claim = make_claim(shop_a)
    assert not policy.can_flag_ai_suspect(charlie, claim)
    with pytest.raises(NotAllowed):
        services.claim_flag_ai_suspect(claim=claim, user=charlie)


@pytest.mark.parametrize("end", ["closed", "withdrawn"])
def test_a_closed_or_withdrawn_claim_cannot_be_flagged(end, shop_a, make_claim, alice):
    claim = make_claim(shop_a)
    if end == "withdrawn":
        services.claim_withdraw(claim=claim, actor=Actor.platform("test"), reason="gave up")
    else:
        services.claim_merchant_respond_confirmed(
            claim=claim, user=alice, response="accept", confirmed_amount=claim.amount
        )
        services.claim_close(claim=claim, actor=Actor.system("test"))
    claim.refresh_from_db()
    queue = claim.queue_id

    assert not policy.can_flag_ai_suspect(alice, claim)
    with pytest.raises(IllegalTransition):
        services.claim_flag_ai_suspect(claim=claim, user=alice)

    claim.refresh_from_db()
    assert claim.ai_suspected_at is None and claim.queue_id == queue


def test_a_claim_is_flagged_once(shop_a, make_claim, alice, agnes):
    claim = make_claim(shop_a)
    services.claim_flag_ai_suspect(claim=claim, user=alice)

    with pytest.raises(IllegalTransition):
        services.claim_flag_ai_suspect(claim=claim, user=agnes, note="me too")

    assert _trail(claim).count("ai_suspect_flagged") == 1


def test_a_long_note_is_refused(shop_a, make_claim, alice):
    from refunds.exceptions import ClaimValidationError

    claim = make_claim(shop_a)
    with pytest.raises(ClaimValidationError):
        services.claim_flag_ai_suspect(claim=claim, user=alice, note="x" * 1001)
    claim.refresh_from_db()
    assert claim.ai_suspected_at is None


def test_the_flag_keeps_the_claim_in_the_forensic_queue_through_its_answer_and_a_rescore(
    shop_a, make_claim, alice
):
    from evidence.scoring import ClaimScore
    from refunds import routing

    claim = make_claim(shop_a, amount=Decimal("99.00"))
    services.claim_flag_ai_suspect(claim=claim, user=alice)

    contested = services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="这张图是 AI 生成的 generated"
    )

    assert contested.status == "in_review" and contested.queue.slug == FORENSIC_QUEUE_SLUG
    # A rescore routes again: the routing rule for flagged claims wins over the others.
    score = ClaimScore(score=95, reasons=[], codes={"reference_copy"}, suspicious_threshold=40)
    queue, record = routing.route(contested, score)
    assert queue.slug == FORENSIC_QUEUE_SLUG
    assert record.matched == ["merchant_suspects_ai"]  # recorded as the reason


def test_the_reviewer_sees_the_flag_in_the_timeline_of_a_merchant(shop_a, make_claim, alice):
    from refunds.selectors import claim_timeline
    from refunds.views.common import timeline

    claim = make_claim(shop_a)
    services.claim_flag_ai_suspect(claim=claim, user=alice, note="garbled label")

    lines = timeline(claim_timeline(claim_id=claim.pk), for_merchant=True)

    flagged = [line for line in lines if "AI-made" in str(line["what"])]
    assert [str(line["who"]) for line in flagged] == ["Your shop"]
    moved = [line for line in lines if "another review queue" in str(line["what"])]
    assert [str(line["who"]) for line in moved] == ["Your shop"]


# --- money answers need their amount confirmed --------------------------------------------


def _state(claim):
    claim.refresh_from_db()
    return (
        claim.status,
        claim.merchant_response,
        claim.outcome,
        Decision.objects.filter(claim=claim).count(),
        AuditEvent.objects.filter(claim=claim).count(),
    )


@pytest.mark.parametrize(
    ("response", "offer", "confirmed"),
    [
        ("accept", None, None),
        ("accept", None, Decimal("1.00")),  # another amount than the claim's
        ("offer_return", None, None),
        ("offer_partial", Decimal("40"), None),
        ("offer_partial", Decimal("40"), Decimal("50")),  # the offer was edited since
    ],
)
def test_a_money_answer_without_its_confirmed_amount_changes_nothing(
    response, offer, confirmed, shop_a, make_claim, alice
):
    claim = make_claim(shop_a, amount=Decimal("99.00"))
    before = _state(claim)

    with pytest.raises(ConfirmationRequired):
        services.claim_merchant_respond_confirmed(
            claim=claim,
            user=alice,
            response=response,
            statement="可以退货 return it please",
            offer_amount=offer,
            confirmed_amount=confirmed,
        )

    assert _state(claim) == before


@pytest.mark.parametrize(
    ("response", "offer", "confirmed", "status"),
    [
        ("accept", None, Decimal("99"), "decided"),
        ("offer_return", None, Decimal("99.00"), "in_review"),
        ("offer_partial", Decimal("40"), Decimal("40.00"), "in_review"),
    ],
)
def test_a_money_answer_with_its_amount_confirmed_is_carried_out(
    response, offer, confirmed, status, shop_a, make_claim, alice
):
    claim = make_claim(shop_a, amount=Decimal("99.00"))

    answered = services.claim_merchant_respond_confirmed(
        claim=claim,
        user=alice,
        response=response,
        statement="可以退货 return it please",
        offer_amount=offer,
        confirmed_amount=confirmed,
    )

    assert answered.status == status and answered.merchant_response == response


def test_contesting_pays_nothing_and_needs_no_confirmation(shop_a, make_claim, alice):
    claim = make_claim(shop_a)
    answered = services.claim_merchant_respond_confirmed(
        claim=claim,
        user=alice,
        response="contest",
        statement="裂痕是画上去的 painted on",
        confirmed_amount=None,
    )
    assert answered.status == "in_review"


def test_an_answer_that_would_be_refused_is_refused_before_any_confirmation(
    shop_a, make_claim, alice, bob
):
    claim = make_claim(shop_a, amount=Decimal("99.00"))
    with pytest.raises(NotAllowed):
        services.claim_merchant_respond_confirmed(
            claim=claim, user=bob, response="accept", confirmed_amount=None
        )
    from refunds.exceptions import ClaimValidationError

    with pytest.raises(ClaimValidationError) as refused:
        services.claim_merchant_respond_confirmed(
            claim=claim,
            user=alice,
            response="offer_partial",
            statement="可以退一半 half back",
            offer_amount=Decimal("120"),
            confirmed_amount=None,
        )
    assert not isinstance(refused.value, ConfirmationRequired)


# --- the shop appeals its own acceptance -------------------------------------------------


def _accepted(claim, user):
    return services.claim_merchant_respond_confirmed(
        claim=claim, user=user, response="accept", confirmed_amount=claim.amount
    )


def test_accepting_opens_the_appeal_window(shop_a, make_claim, alice, settings):
    claim = _accepted(make_claim(shop_a), alice)

    window = claim.appeal_deadline - timezone.now()
    hours = settings.CLAIMLENS["APPEAL_WINDOW_HOURS"]
    assert dt.timedelta(hours=hours - 1) < window <= dt.timedelta(hours=hours)
    assert policy.can_appeal(alice, claim)


def test_the_shop_appeals_its_acceptance_and_a_senior_reviewer_decides(
    shop_a, make_claim, alice, charlie, dora
):
    # given: alice accepted by mistake
    claim = _accepted(make_claim(shop_a), alice)

    # when: she appeals within the window
    appeal = services.claim_appeal(
        claim=claim,
        filed_by="merchant",
        reason="点错了，照片是伪造的 clicked by mistake",
        user=alice,
    )

    # then: a senior reviewer, not a plain one, takes and decides it
    assert RefundClaim.objects.get(pk=claim.pk).status == "appealed"
    assert appeal.original_decision.decided_by_merchant
    assert not policy.can_take(charlie, RefundClaim.objects.get(pk=claim.pk))
    services.claim_assign(claim=claim, reviewer=dora)
    final = services.claim_decide(
        claim=claim, reviewer=dora, outcome="refund_denied", rationale="The photo is forged."
    )
    assert final.status == "decided" and final.outcome == "refund_denied"
    assert final.appeal_deadline is None  # an appeal's decision is final


def test_the_buyer_cannot_appeal_the_shops_acceptance(shop_a, make_claim, alice):
    claim = _accepted(make_claim(shop_a), alice)

    verdict = policy.can_appeal(None, claim, party="buyer")

    assert not verdict and verdict.wrong_state
    with pytest.raises(IllegalTransition):
        services.claim_appeal(claim=claim, filed_by="buyer", reason="I want more than all of it")


def test_the_acceptance_cannot_be_appealed_after_the_window(shop_a, make_claim, alice):
    claim = _accepted(make_claim(shop_a), alice)
    later = claim.appeal_deadline + dt.timedelta(minutes=1)

    assert not policy.can_appeal(alice, claim, now=later)
    RefundClaim.objects.filter(pk=claim.pk).update(appeal_deadline=timezone.now() - dt.timedelta(1))
    with pytest.raises(IllegalTransition):
        services.claim_appeal(
            claim=claim, filed_by="merchant", reason="too late, but trying", user=alice
        )
    assert RefundClaim.objects.get(pk=claim.pk).status == "decided"


def test_an_accepted_claim_closes_when_its_window_is_over(shop_a, make_claim, alice):
    claim = _accepted(make_claim(shop_a), alice)

    services.enforce_deadlines(now=claim.appeal_deadline - dt.timedelta(minutes=1))
    assert RefundClaim.objects.get(pk=claim.pk).status == "decided"
    services.enforce_deadlines(now=claim.appeal_deadline + dt.timedelta(minutes=1))
    assert RefundClaim.objects.get(pk=claim.pk).status == "closed"


def test_another_shop_cannot_appeal_the_acceptance(shop_a, make_claim, alice, bob):
    claim = _accepted(make_claim(shop_a), alice)
    with pytest.raises(NotAllowed):
        services.claim_appeal(
            claim=claim, filed_by="merchant", reason="not my claim at all", user=bob
        )
