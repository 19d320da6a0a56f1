"""The pages offer what refunds.policy allows, and a POST the page would not offer is
refused by the service behind it (nothing changes)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from refunds import services
from refunds.models import Assignment, AuditEvent, ClaimStatus, RefundClaim

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _in_review(claim, user):
    return services.claim_merchant_respond(
        claim=claim, user=user, response="contest", statement="裂痕是画上去的 painted cracks"
    )


def _held(claim):
    return Assignment.objects.filter(claim=claim, released_at__isnull=True).first()


def _page(client, claim):
    return client.get(reverse("review_claim", args=[claim.pk]), **EN).content.decode()


@pytest.fixture
def appealed(make_claim, shop_a, alice, charlie):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_decide(
        claim=claim, reviewer=charlie, outcome="refund_approved", rationale="损坏属实 genuine."
    )
    services.claim_appeal(
        claim=claim, filed_by="merchant", reason="图片是伪造的 forged", user=alice
    )
    return claim


# --- reviewers --------------------------------------------------------------------------


def test_request_evidence_on_a_claim_another_reviewer_holds_is_refused(
    client, alice, charlie, erin, shop_a, make_claim
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    client.force_login(erin)

    response = client.post(
        reverse("review_request_evidence", args=[claim.pk]),
        {"message": "请补充一张未经编辑的原图。"},
        **EN,
    )

    assert response.status_code == 200
    assert "Take this claim from the queue before asking for evidence." in (
        response.content.decode()
    )
    claim.refresh_from_db()
    assert claim.status == S.IN_REVIEW and _held(claim).reviewer == charlie


def test_request_evidence_in_the_merchants_answer_window_is_refused(
    client, charlie, shop_a, make_claim
):
    claim = make_claim(shop_a)
    client.force_login(charlie)

    response = client.post(
        reverse("review_request_evidence", args=[claim.pk]),
        {"message": "请补充一张未经编辑的原图。"},
        **EN,
    )

    assert "Only a claim in review can wait for the buyer&#x27;s evidence." in (
        response.content.decode()
    )
    assert RefundClaim.objects.get(pk=claim.pk).status == S.AWAITING_MERCHANT


def test_only_the_holder_sees_the_decision_and_request_forms(
    client, alice, charlie, erin, shop_a, make_claim
):
    claim = _in_review(make_claim(shop_a), alice)
    decide_url = reverse("review_decide", args=[claim.pk])
    request_url = reverse("review_request_evidence", args=[claim.pk])
    take_url = reverse("review_assign", args=[claim.pk])
    release_url = reverse("review_release", args=[claim.pk])
    client.force_login(charlie)
    before = _page(client, claim)
    services.claim_assign(claim=claim, reviewer=charlie)

    holder = _page(client, claim)
    client.force_login(erin)
    other = _page(client, claim)

    assert take_url in before and decide_url not in before
    assert decide_url in holder and request_url in holder and release_url in holder
    assert take_url not in holder
    for url in (decide_url, request_url, release_url, take_url):
        assert url not in other


def test_an_appeal_is_offered_to_a_senior_reviewer_only(client, charlie, erin, dora, appealed):
    take_url = reverse("review_assign", args=[appealed.pk])

    client.force_login(erin)
    junior = _page(client, appealed)
    client.force_login(charlie)
    first_decider = _page(client, appealed)
    client.force_login(dora)
    senior = _page(client, appealed)
    client.post(take_url)
    held = _page(client, appealed)

    assert take_url not in junior and "Appeals are decided by a senior reviewer." in junior
    assert take_url not in first_decider
    assert "An appeal must be decided by a different reviewer." in first_decider
    assert take_url in senior
    assert _held(appealed).reviewer == dora
    # An appeal is decided, never sent back to the buyer.
    assert reverse("review_decide", args=[appealed.pk]) in held
    assert reverse("review_request_evidence", args=[appealed.pk]) not in held


def test_a_reviewer_who_does_not_hold_the_claim_cannot_release_it(
    client, alice, charlie, erin, shop_a, make_claim
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    client.force_login(erin)

    response = client.post(reverse("review_release", args=[claim.pk]), follow=True, **EN)

    assert "Only the reviewer holding this claim can release it." in response.content.decode()
    assert _held(claim).reviewer == charlie
    assert not AuditEvent.objects.filter(claim=claim, action="released").exists()


# --- merchants --------------------------------------------------------------------------


def _upload(photo_bytes, seed=5):
    return {"files": [SimpleUploadedFile("box.jpg", photo_bytes(seed), content_type="image/jpeg")]}


def test_counter_evidence_posted_while_the_form_is_hidden_is_refused(
    client, alice, shop_a, make_claim, photo_bytes
):
    claim = make_claim(shop_a)
    services.enforce_deadlines(now=claim.merchant_deadline + dt.timedelta(minutes=1))
    client.force_login(alice)
    evidence_url = reverse("merchant_claim_evidence", args=[claim.pk])

    page = client.get(reverse("merchant_claim", args=[claim.pk]), **EN).content.decode()
    response = client.post(evidence_url, _upload(photo_bytes), **EN)

    assert evidence_url not in page  # the shop let its window pass: no form
    assert response.status_code == 200
    assert "does not accept counter-evidence from the shop now" in response.content.decode()
    assert not claim.evidence_files.exists()


def test_the_counter_evidence_form_is_offered_after_contesting(
    client, alice, shop_a, make_claim, photo_bytes
):
    claim = make_claim(shop_a)
    client.force_login(alice)
    claim_url = reverse("merchant_claim", args=[claim.pk])
    evidence_url = reverse("merchant_claim_evidence", args=[claim.pk])

    answering = client.get(claim_url, **EN).content.decode()
    client.post(claim_url, {"response": "contest", "statement": "这是我们的主图 painted cracks."})
    contested = client.get(claim_url, **EN).content.decode()

    assert 'class="answer-form"' in answering and evidence_url not in answering
    assert 'class="answer-form"' not in contested and evidence_url in contested
    assert client.post(evidence_url, _upload(photo_bytes)).status_code == 302
    assert claim.evidence_files.filter(submitted_by="merchant").count() == 1


def test_no_counter_evidence_after_accepting(client, alice, shop_a, make_claim, photo_bytes):
    claim = make_claim(shop_a)
    client.force_login(alice)
    client.post(
        reverse("merchant_claim", args=[claim.pk]),
        {"response": "accept", "confirmed": "1", "confirmed_amount": str(claim.amount)},
    )
    assert claim.decisions.exists()

    response = client.post(
        reverse("merchant_claim_evidence", args=[claim.pk]), _upload(photo_bytes), **EN
    )

    assert response.status_code == 200
    assert not claim.evidence_files.exists()


def test_the_appeal_form_goes_when_the_window_closes(client, alice, charlie, shop_a, make_claim):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_decide(
        claim=claim, reviewer=charlie, outcome="refund_approved", rationale="损坏属实 genuine."
    )
    client.force_login(alice)
    claim_url = reverse("merchant_claim", args=[claim.pk])
    appeal_url = reverse("merchant_claim_appeal", args=[claim.pk])

    open_window = client.get(claim_url, **EN).content.decode()
    RefundClaim.objects.filter(pk=claim.pk).update(
        appeal_deadline=timezone.now() - dt.timedelta(seconds=1)
    )
    closed = client.get(claim_url, **EN).content.decode()
    response = client.post(
        appeal_url, {"reason": "图片是伪造的 forged, see EXIF"}, follow=True, **EN
    )

    assert appeal_url in open_window
    assert appeal_url not in closed
    assert "The appeal window for this claim is closed." in response.content.decode()
    assert RefundClaim.objects.get(pk=claim.pk).status == S.DECIDED
