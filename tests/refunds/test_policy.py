"""Who may do what with a claim (refunds/policy.py), enforced by the services: every
refusal below goes through the service a view, the admin or the API calls, and leaves
the claim as it was."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from evidence.services import EvidenceRejected, evidence_add
from refunds import policy, services
from refunds.exceptions import IllegalTransition, NotAllowed, NothingToReview
from refunds.models import Assignment, AuditEvent, ClaimStatus, RefundClaim

S = ClaimStatus


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Counter-evidence tests store files: keep them in a temporary directory."""


def _contest(claim, user):
    return services.claim_merchant_respond(
        claim=claim, user=user, response="contest", statement="裂痕是画上去的 painted cracks"
    )


def _fresh(user):
    """The same user without the roles a previous call cached on the object."""
    return type(user).objects.get(pk=user.pk)


def _held(claim):
    return Assignment.objects.filter(claim=claim, released_at__isnull=True).first()


def _hold_around_the_services(claim, reviewer, **fields):
    """An open assignment written directly, not by a service (a lease must expire)."""
    return Assignment.objects.create(
        claim=claim, reviewer=reviewer, expires_at=timezone.now() + dt.timedelta(hours=1), **fields
    )


def _decide(claim, reviewer, outcome="refund_approved"):
    return services.claim_decide(
        claim=claim, reviewer=reviewer, outcome=outcome, rationale="The damage looks genuine."
    )


@pytest.fixture
def appealed(make_claim, shop_a, alice, charlie):
    """Shop A's claim decided by charlie, then appealed by the shop."""
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    _decide(claim, charlie)
    services.claim_appeal(
        claim=claim, filed_by="merchant", user=alice, reason="The photo is edited, see EXIF."
    )
    claim.refresh_from_db()
    assert claim.status == S.APPEALED
    return claim


# --- asking the buyer for evidence ------------------------------------------------------------


def test_reviewer_cannot_request_evidence_on_a_claim_another_reviewer_holds(
    make_claim, shop_a, alice, charlie, erin
):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)

    with pytest.raises(NotAllowed):
        services.claim_request_buyer_evidence(
            claim=claim, reviewer=erin, message="Please send an unedited photo."
        )

    claim.refresh_from_db()
    assert claim.status == S.IN_REVIEW
    assert _held(claim).reviewer == charlie
    assert not AuditEvent.objects.filter(claim=claim, action="buyer_evidence_requested").exists()


def test_reviewer_cannot_request_evidence_on_a_claim_nobody_holds(
    make_claim, shop_a, alice, charlie
):
    claim = _contest(make_claim(shop_a), alice)

    with pytest.raises(NotAllowed):
        services.claim_request_buyer_evidence(
            claim=claim, reviewer=charlie, message="Please send an unedited photo."
        )

    assert RefundClaim.objects.get(pk=claim.pk).status == S.IN_REVIEW


def test_reviewer_cannot_take_a_claim_out_of_the_merchants_answer_window(
    make_claim, shop_a, charlie
):
    claim = make_claim(shop_a)
    assert claim.status == S.AWAITING_MERCHANT

    with pytest.raises(IllegalTransition):
        services.claim_request_buyer_evidence(
            claim=claim, reviewer=charlie, message="Please send an unedited photo."
        )

    claim.refresh_from_db()
    assert claim.status == S.AWAITING_MERCHANT and claim.buyer_deadline is None


def test_the_holder_asks_the_buyer_and_gives_the_claim_back(make_claim, shop_a, alice, charlie):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)

    claim = services.claim_request_buyer_evidence(
        claim=claim, reviewer=charlie, message="Please send an unedited photo."
    )

    assert claim.status == S.AWAITING_BUYER
    assert _held(claim) is None


def test_a_merchant_cannot_ask_the_buyer_for_evidence(make_claim, shop_a, alice):
    claim = _contest(make_claim(shop_a), alice)
    with pytest.raises(NotAllowed):
        services.claim_request_buyer_evidence(
            claim=claim, reviewer=alice, message="Please send an unedited photo."
        )


# --- taking, releasing, deciding ----------------------------------------------------------------


def test_only_reviewers_take_claims(make_claim, shop_a, alice, bob):
    claim = _contest(make_claim(shop_a), alice)
    with pytest.raises(NotAllowed):
        services.claim_assign(claim=claim, reviewer=bob)
    with pytest.raises(NotAllowed):
        services.claim_take_next(reviewer=bob)
    assert _held(claim) is None


def test_a_reviewer_never_reviews_a_shop_they_act_for(make_claim, shop_a, alice, charlie):
    from merchants.services import membership_add

    claim = _contest(make_claim(shop_a), alice)
    membership_add(merchant=shop_a, user=charlie, role="agent")
    charlie = _fresh(charlie)

    with pytest.raises(NotAllowed, match="act for this claim's shop"):
        services.claim_assign(claim=claim, reviewer=charlie)
    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=charlie)
    assert _held(claim) is None


def test_an_appeal_is_taken_only_by_a_senior_who_did_not_decide_first(
    appealed, charlie, erin, dora
):
    for reviewer in (charlie, erin):  # charlie decided first; erin is not senior
        with pytest.raises(NothingToReview):
            services.claim_take_next(reviewer=reviewer)
        with pytest.raises(NotAllowed):
            services.claim_assign(claim=appealed, reviewer=reviewer)
    assert _held(appealed) is None

    assert services.claim_take_next(reviewer=dora).pk == appealed.pk
    assert _held(appealed).reviewer == dora and _held(appealed).for_appeal


def test_a_senior_who_decided_first_cannot_decide_the_appeal(make_claim, shop_a, alice, dora, fred):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=dora)
    _decide(claim, dora)
    services.claim_appeal(claim=claim, filed_by="buyer", reason="我没有伪造照片 not forged")

    with pytest.raises(NotAllowed, match="different reviewer"):
        services.claim_assign(claim=claim, reviewer=dora)
    # Even holding it (an assignment written around the services) she may not decide it.
    _hold_around_the_services(claim, dora, for_appeal=True)
    with pytest.raises(NotAllowed, match="different reviewer"):
        _decide(claim, dora, outcome="refund_denied")
    assert RefundClaim.objects.get(pk=claim.pk).status == S.APPEALED

    services.claim_release(claim=claim, reviewer=dora)
    services.claim_assign(claim=claim, reviewer=fred)
    assert _decide(claim, fred, outcome="refund_denied").status == S.DECIDED


def test_a_reviewer_who_is_not_senior_cannot_decide_an_appeal_even_holding_it(appealed, erin):
    _hold_around_the_services(appealed, erin, for_appeal=True)
    with pytest.raises(NotAllowed, match="senior reviewer"):
        _decide(appealed, erin, outcome="refund_denied")
    assert RefundClaim.objects.get(pk=appealed.pk).status == S.APPEALED


def test_only_the_holder_or_a_senior_releases_a_claim(
    make_claim, shop_a, alice, charlie, erin, dora
):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)

    with pytest.raises(NotAllowed):
        services.claim_release(claim=claim, reviewer=erin)
    with pytest.raises(NotAllowed):
        services.claim_release(claim=claim, reviewer=alice)
    assert _held(claim).reviewer == charlie

    services.claim_release(claim=claim, reviewer=dora)  # charlie is away: a senior frees it
    assert _held(claim) is None
    event = AuditEvent.objects.filter(claim=claim, action="released").get()
    assert event.actor_label == "user:dora" and event.data == {"holder": "charlie"}
    with pytest.raises(IllegalTransition):
        services.claim_release(claim=claim, reviewer=charlie)  # nobody holds it now


def test_the_holder_releases_their_claim(make_claim, shop_a, alice, charlie):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)

    services.claim_release(claim=claim, reviewer=charlie)

    assert _held(claim) is None
    assert AuditEvent.objects.get(claim=claim, action="released").data == {}


def test_decide_needs_the_claim_in_review(make_claim, shop_a, charlie):
    claim = make_claim(shop_a)  # awaiting the merchant
    _hold_around_the_services(claim, charlie)
    with pytest.raises(IllegalTransition):
        _decide(claim, charlie)
    assert RefundClaim.objects.get(pk=claim.pk).status == S.AWAITING_MERCHANT


# --- the merchant's answer, counter-evidence, appeal ----------------------------------------------


def test_merchant_cannot_answer_after_the_window(make_claim, shop_a, alice):
    claim = make_claim(shop_a)
    RefundClaim.objects.filter(pk=claim.pk).update(
        merchant_deadline=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(IllegalTransition, match="time to answer"):
        services.claim_merchant_respond(claim=claim, user=alice, response="accept")
    assert RefundClaim.objects.get(pk=claim.pk).status == S.AWAITING_MERCHANT


def test_a_reviewer_cannot_answer_for_the_merchant(make_claim, shop_a, charlie):
    claim = make_claim(shop_a)
    with pytest.raises(NotAllowed):
        services.claim_merchant_respond(claim=claim, user=charlie, response="accept")


def _counter(claim, user, photo_bytes, seed):
    return evidence_add(
        upload=photo_bytes(seed),
        submitted_by="merchant",
        original_name="box.jpg",
        claim=claim,
        uploaded_by=user,
    )


def test_counter_evidence_is_refused_when_the_merchant_let_the_window_pass(
    make_claim, shop_a, alice, photo_bytes
):
    claim = make_claim(shop_a)
    services.enforce_deadlines(now=claim.merchant_deadline + dt.timedelta(minutes=1))
    claim.refresh_from_db()
    assert claim.status == S.IN_REVIEW and claim.merchant_response == ""

    with pytest.raises(EvidenceRejected) as refused:
        _counter(claim, alice, photo_bytes, 1)

    assert refused.value.code == "claim_closed"
    assert not claim.evidence_files.exists()


def test_counter_evidence_is_refused_before_the_shop_is_asked(
    shop_a, alice, make_claim, photo_bytes
):
    claim = make_claim(shop_a, evaluate=False)
    assert claim.status == S.RECEIVED
    with pytest.raises(EvidenceRejected):
        _counter(claim, alice, photo_bytes, 1)
    assert not claim.evidence_files.exists()


def test_counter_evidence_is_refused_after_accepting_and_on_appeal(
    make_claim, shop_a, alice, appealed, photo_bytes
):
    accepted = services.claim_merchant_respond(
        claim=make_claim(shop_a), user=alice, response="accept"
    )
    for claim in (accepted, appealed):
        with pytest.raises(EvidenceRejected):
            _counter(claim, alice, photo_bytes, 1)
        assert not claim.evidence_files.filter(submitted_by="merchant").exists()


def test_counter_evidence_with_the_answer_and_after_contesting(
    make_claim, shop_a, alice, photo_bytes, django_capture_on_commit_callbacks
):
    claim = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        _counter(claim, alice, photo_bytes, 1)  # sent with the answer, in the window
        _contest(claim, alice)
        claim.refresh_from_db()
        _counter(claim, alice, photo_bytes, 2)  # more, while a reviewer looks at it
    assert claim.evidence_files.filter(submitted_by="merchant").count() == 2


def test_another_shop_cannot_send_counter_evidence(make_claim, shop_a, bob, photo_bytes):
    claim = make_claim(shop_a)
    with pytest.raises(EvidenceRejected) as refused:
        _counter(claim, bob, photo_bytes, 1)
    assert refused.value.code == "not_allowed"
    assert not claim.evidence_files.exists()


def test_the_buyer_sends_evidence_until_the_decision(
    make_claim, shop_a, alice, appealed, photo_bytes
):
    claim = _contest(make_claim(shop_a), alice)
    evidence_add(upload=photo_bytes(3), submitted_by="buyer", claim=claim)
    with pytest.raises(EvidenceRejected) as refused:
        evidence_add(upload=photo_bytes(4), submitted_by="buyer", claim=appealed)
    assert refused.value.code == "claim_closed"


def test_appeal_only_by_the_shop_within_the_window(make_claim, shop_a, alice, bob, charlie):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    _decide(claim, charlie)

    for outsider in (bob, charlie):
        with pytest.raises(NotAllowed):
            services.claim_appeal(
                claim=claim, filed_by="merchant", user=outsider, reason="Not fair at all, no."
            )
    RefundClaim.objects.filter(pk=claim.pk).update(
        appeal_deadline=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(IllegalTransition, match="window"):
        services.claim_appeal(
            claim=claim, filed_by="merchant", user=alice, reason="Not fair at all, no."
        )
    assert RefundClaim.objects.get(pk=claim.pk).status == S.DECIDED


# --- the evidence pack --------------------------------------------------------------------


def test_the_evidence_pack_goes_to_the_shop_and_reviewers_only(
    make_claim, shop_a, alice, bob, charlie
):
    claim = make_claim(shop_a)
    assert policy.evidence_pack_audience(alice, claim) == "merchant"
    assert policy.evidence_pack_audience(charlie, claim) == "reviewer"
    assert policy.evidence_pack_audience(bob, claim) is None
    with pytest.raises(NotAllowed):
        services.evidence_pack_export(claim=claim, user=bob)
    assert not AuditEvent.objects.filter(claim=claim, action="evidence_pack_exported").exists()


# --- the rules as the pages ask them -------------------------------------------------------------


def test_verdicts_say_why_not(make_claim, shop_a, alice, charlie, erin):
    claim = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)

    assert policy.can_decide(charlie, claim) and policy.can_request_evidence(charlie, claim)
    refused = policy.can_request_evidence(erin, claim)
    assert not refused and not refused.wrong_state
    assert refused.reason == "Take this claim from the queue before asking for evidence."
    not_now = policy.can_respond(alice, claim)
    assert not not_now and not_now.wrong_state
    assert not policy.can_take(erin, claim)


def test_take_next_picks_exactly_the_claims_can_take_allows(
    make_claim, shop_a, shop_b, alice, bob, charlie, erin, dora, appealed
):
    from merchants.services import membership_add

    waiting = _contest(make_claim(shop_a), alice)
    held = _contest(make_claim(shop_a), alice)
    services.claim_assign(claim=held, reviewer=erin)
    own_shop = _contest(make_claim(shop_b), bob)
    membership_add(merchant=shop_b, user=dora, role="agent")
    make_claim(shop_a, total=Decimal("10"), amount=Decimal("5"))  # with the merchant
    claims = RefundClaim.objects.all()

    for reviewer in (charlie, erin, _fresh(dora), alice):
        allowed = {c.pk for c in claims if policy.can_take(reviewer, c)}
        picked = set(policy.takeable_by(claims, reviewer).values_list("pk", flat=True))
        picked -= {held.pk}  # takeable_by leaves holding to claims_awaiting_review
        assert picked == allowed, reviewer.username
    assert {c.pk for c in claims if policy.can_take(charlie, c)} == {waiting.pk, own_shop.pk}
    assert {c.pk for c in claims if policy.can_take(_fresh(dora), c)} == {waiting.pk, appealed.pk}
