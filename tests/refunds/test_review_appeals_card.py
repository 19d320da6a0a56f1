"""The appeals card on the queues page (issue 11, "Appeals"): it counts every waiting
appeal, and its take button is offered only to a reviewer who may take one of them; the
reviewer who decided a claim first never sees a take button for its appeal."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from refunds import services

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _appealed(make_claim, shop, owner, first_reviewer):
    claim = make_claim(shop)
    services.claim_merchant_respond(
        claim=claim, user=owner, response="contest", statement="The photo is our listing."
    )
    services.claim_assign(claim=claim, reviewer=first_reviewer)
    services.claim_decide(
        claim=claim,
        reviewer=first_reviewer,
        outcome="refund_approved",
        rationale="The photo is genuine.",
    )
    services.claim_appeal(
        claim=claim, filed_by="merchant", reason="The photo is forged.", user=owner
    )
    return claim


def _appeals_card(client, user) -> str:
    client.force_login(user)
    html = client.get(reverse("review_queues"), **EN).content.decode()
    cards = re.findall(r'<section class="card queue-card"[^>]*>.*?</section>', html, flags=re.S)
    return next(card for card in cards if "<h2>Appeals</h2>" in card)


def _count(card) -> int:
    return int(re.search(r'<div class="count">(\d+)</div>', card).group(1))


def _take_offered(card) -> bool:
    button = re.search(r"<button[^>]*>Take next from this queue</button>", card).group(0)
    return "disabled" not in button


def test_the_first_reviewer_sees_the_appeal_counted_but_no_take_button(
    client, make_claim, shop_a, alice, dora, fred, erin
):
    # given: dora (a senior) decided the claim first; the shop appealed
    _appealed(make_claim, shop_a, alice, dora)

    # then: the card counts the appeal for everybody
    for user in (dora, fred, erin):
        card = _appeals_card(client, user)
        assert _count(card) == 1, user
        assert "1 appeal" in card, user
    # and: only fred (another senior) is offered to take it
    assert not _take_offered(_appeals_card(client, dora))
    assert not _take_offered(_appeals_card(client, erin))  # not a senior reviewer
    assert _take_offered(_appeals_card(client, fred))


def test_the_card_counts_every_waiting_appeal_and_offers_the_ones_left(
    client, make_claim, shop_a, alice, charlie, dora, fred
):
    # given: two appeals, one of a claim charlie decided first, then one of dora's
    _appealed(make_claim, shop_a, alice, charlie)
    _appealed(make_claim, shop_a, alice, dora)

    # then: both are counted for dora, and she may take the one she did not decide
    card = _appeals_card(client, dora)
    assert _count(card) == 2
    assert _take_offered(card)

    # when: fred takes the one dora may take (the older: appeals come in deadline order)
    client.force_login(fred)
    client.post(reverse("review_take_next"), {"queue": _appeals_queue_pk()})

    # then: one appeal waits, counted, and dora is not offered her own claim's
    card = _appeals_card(client, dora)
    assert _count(card) == 1
    assert not _take_offered(card)


def _appeals_queue_pk() -> int:
    from refunds.models import ReviewQueue

    return ReviewQueue.objects.get(slug="appeals", tenant__slug="default").pk
