"""Reviewer pages: queues, take next, the review page, decisions, appeals, access."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from refunds import services
from refunds.models import Assignment, ClaimStatus, RefundClaim

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _in_review(claim, user):
    return services.claim_merchant_respond(
        claim=claim, user=user, response="contest", statement="裂痕是画上去的 painted cracks"
    )


def _decide(client, claim, **extra):
    data = {"outcome": "refund_denied", "rationale": "买家图片为商家主图的编辑副本。Edited copy."}
    data.update(extra)
    return client.post(reverse("review_decide", args=[claim.pk]), data, **EN)


REVIEWER_URLS = [
    ("get", "review_queues", False),
    ("post", "review_take_next", False),
    ("get", "review_mine", False),
    ("get", "review_claim", True),
    ("post", "review_assign", True),
    ("post", "review_decide", True),
    ("post", "review_request_evidence", True),
    ("post", "review_release", True),
]


@pytest.mark.parametrize(("method", "name", "needs_claim"), REVIEWER_URLS)
def test_merchants_cannot_use_reviewer_pages(
    client, alice, shop_a, make_claim, method, name, needs_claim
):
    claim = _in_review(make_claim(shop_a), alice)
    client.force_login(alice)
    url = reverse(name, args=[claim.pk]) if needs_claim else reverse(name)

    response = getattr(client, method)(url, {"outcome": "refund_approved", "rationale": "x" * 20})

    assert response.status_code == 404
    assert not Assignment.objects.filter(claim=claim).exists()


@pytest.mark.parametrize(("method", "name", "needs_claim"), REVIEWER_URLS)
def test_anonymous_is_sent_to_login_from_reviewer_pages(
    client, shop_a, make_claim, method, name, needs_claim
):
    claim = make_claim(shop_a)
    url = reverse(name, args=[claim.pk]) if needs_claim else reverse(name)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_queue_list_counts_waiting_claims(client, alice, charlie, shop_a, make_claim):
    for _ in range(3):
        _in_review(make_claim(shop_a), alice)
    make_claim(shop_a)  # still with the merchant: not waiting for review
    client.force_login(charlie)

    response = client.get(reverse("review_queues"), **EN)

    standard = next(q for q in response.context["queues"] if q.slug == "standard")
    assert standard.waiting == 3
    assert len(response.context["waiting"]) == 3
    assert "Take next claim" in response.content.decode()


@pytest.mark.parametrize("claims", [1, 6])
def test_queue_list_query_count_does_not_grow_with_claims(
    client, alice, charlie, shop_a, make_claim, django_assert_num_queries, claims
):
    for _ in range(claims):
        _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)

    # session, user, the reviewer's roles (groups, shops, platform: the reviewer check
    # and the platform scope alike), the queues with waiting claims, the head of each and
    # of the claims of no queue, the queues (each with its take probe), their waiting
    # counters, their claims due earlier this hour, held count, the scoring thresholds:
    # 12 plus one per queue holding waiting claims (a buyer's later claims are routed to
    # the repeat-claimant queue), never one per claim
    queues = RefundClaim.objects.filter(status="in_review").values("queue").distinct().count()
    with django_assert_num_queries(12 + queues):
        response = client.get(reverse("review_queues"), **EN)
    assert response.status_code == 200


def test_take_next_assigns_and_opens_the_claim(client, alice, charlie, shop_a, make_claim):
    claim = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)

    response = client.post(reverse("review_take_next"))

    assert response["Location"] == reverse("review_claim", args=[claim.pk])
    assert Assignment.objects.get(claim=claim, released_at__isnull=True).reviewer == charlie
    mine = client.get(reverse("review_mine"), **EN).content.decode()
    assert reverse("review_claim", args=[claim.pk]) in mine


def test_take_next_with_nothing_waiting_says_so(client, charlie):
    client.force_login(charlie)

    response = client.post(reverse("review_take_next"), follow=True, **EN)

    assert "There is no claim waiting in this queue." in response.content.decode()


def test_review_page_shows_findings_artifacts_and_buyer_credit(
    client, alice, charlie, forged_claim
):
    _in_review(forged_claim, alice)
    client.force_login(charlie)

    html = client.get(reverse("review_claim", args=[forged_claim.pk]), **EN).content.decode()

    assert "reference_copy" in html
    assert "This photo is a copy of your listing photo" in html
    assert 'data-artifact="overlay"' in html
    assert "Buyer credit" in html
    assert "Confirmed forgeries" in html
    assert "裂痕是画上去的" in html  # the merchant's statement
    assert "/original" in html  # reviewers may download the original


def test_review_page_flags_a_buyer_past_the_fraud_tier(client, alice, charlie, shop_a, make_claim):
    big = make_claim(shop_a, amount=Decimal("3500.00"), total=Decimal("3500.00"))
    _in_review(big, alice)
    services.claim_take_next(reviewer=charlie)
    services.claim_decide(
        claim=big,
        reviewer=charlie,
        outcome="refund_denied",
        rationale="Edited listing photo, forged.",
        confirmed_forgery=True,
    )
    current = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)

    html = client.get(reverse("review_claim", args=[current.pk]), **EN).content.decode()

    assert "Fraud threshold crossed" in html
    assert "¥3500.00" in html


def test_reviewer_decides_a_claim(client, alice, charlie, shop_a, make_claim):
    claim = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)
    client.post(reverse("review_take_next"))

    response = _decide(client, claim, confirmed_forgery="on")

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == S.DECIDED
    assert claim.outcome == "refund_denied"
    assert claim.confirmed_forgery


def test_decision_errors_are_shown_on_the_page(client, alice, charlie, shop_a, make_claim):
    claim = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)

    not_held = _decide(client, claim)
    client.post(reverse("review_take_next"))
    forged_but_refunded = _decide(client, claim, outcome="refund_approved", confirmed_forgery="on")

    assert "Take this claim from the queue before deciding it." in not_held.content.decode()
    assert "cannot be fully refunded" in forged_but_refunded.content.decode()
    claim.refresh_from_db()
    assert claim.status == S.IN_REVIEW


def test_appeal_must_be_decided_by_another_reviewer(
    client, alice, charlie, dora, shop_a, make_claim
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    services.claim_decide(
        claim=claim, reviewer=charlie, outcome="refund_approved", rationale="损坏属实 genuine."
    )
    services.claim_appeal(
        claim=claim, filed_by="merchant", reason="图片是伪造的 forged", user=alice
    )
    client.force_login(charlie)

    same = client.post(reverse("review_assign", args=[claim.pk]), follow=True, **EN)

    assert "An appeal must be decided by a different reviewer." in same.content.decode()
    client.force_login(dora)
    client.post(reverse("review_assign", args=[claim.pk]))
    assert _decide(client, claim).status_code == 302
    claim.refresh_from_db()
    assert claim.status == S.DECIDED
    assert claim.decisions.filter(on_appeal=True, reviewer=dora).exists()


def test_request_buyer_evidence_and_release(client, alice, charlie, shop_a, make_claim):
    first = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)
    client.post(reverse("review_assign", args=[first.pk]))

    response = client.post(
        reverse("review_request_evidence", args=[first.pk]),
        {"message": "请补充一张未经编辑的原图。"},
    )

    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == S.AWAITING_BUYER

    second = _in_review(make_claim(shop_a), alice)
    client.post(reverse("review_assign", args=[second.pk]))
    client.post(reverse("review_release", args=[second.pk]))
    assert not Assignment.objects.filter(claim=second, released_at__isnull=True).exists()
    assert RefundClaim.objects.get(pk=second.pk).status == S.IN_REVIEW


def test_reviewer_pages_render_in_chinese_by_default(
    client, alice, charlie, shop_a, make_claim, zh_catalogue
):
    claim = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)

    queues = client.get(reverse("review_queues")).content.decode()
    page = client.get(reverse("review_claim", args=[claim.pk])).content.decode()

    assert "审核队列" in queues
    assert "领取下一个申请" in queues
    assert "买家信用" in page
