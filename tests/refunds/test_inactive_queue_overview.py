"""A queue an administrator deactivates gets no new claims (routing skips it), but the
claims already in it still wait for a reviewer: "take next" serves them after the active
queues. The queues page shows such a queue while anything waits in it, marked inactive,
and its "take next from this queue" hands them out; an inactive queue with nothing
waiting is not shown."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from refunds import selectors, services
from refunds.models import RefundClaim, ReviewQueue

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _retired_queue_holding(make_claim, shop, owner, admin) -> tuple[ReviewQueue, RefundClaim]:
    """A claim moved into a queue, then the queue deactivated (as in the admin)."""
    queue = services.review_queue_save(
        queue=ReviewQueue(slug="retired", name="Retired", priority=1)
    )
    claim = make_claim(shop)
    services.claim_merchant_respond(
        claim=claim, user=owner, response="contest", statement="裂痕是画上去的 painted"
    )
    services.claim_move_queue(claim=claim, queue=queue, user=admin, reason="test")
    queue.is_active = False
    services.review_queue_save(queue=queue)
    return queue, claim


def _cards(client, user) -> dict[str, str]:
    client.force_login(user)
    html = client.get(reverse("review_queues"), **EN).content.decode()
    cards = re.findall(r'<section class="card queue-card[^"]*"[^>]*>.*?</section>', html, re.S)
    return {re.search(r"<h2>(.*?)</h2>", card).group(1): card for card in cards}


def test_an_inactive_queue_holding_claims_is_shown_marked_and_can_be_taken_from(
    client, make_claim, shop_a, alice, charlie, dora
):
    retired, claim = _retired_queue_holding(make_claim, shop_a, alice, dora)

    overview = {q.slug: q for q in selectors.review_queue_overview(reviewer=charlie)}
    assert overview["retired"].waiting == 1 and overview["retired"].takeable
    # Active queues first, as "take next" serves them.
    assert list(overview)[-1] == "retired"

    card = _cards(client, charlie)["Retired"]
    assert "Inactive" in card and '<div class="count">1</div>' in card
    assert "disabled" not in re.search(r"<button[^>]*>", card).group(0)

    response = client.post(reverse("review_take_next"), {"queue": retired.pk})
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.held_by_id == charlie.pk


def test_an_inactive_queue_with_nothing_waiting_is_not_shown_nor_taken_from(
    client, make_claim, shop_a, alice, charlie
):
    retired = ReviewQueue.objects.create(
        slug="retired", name="Retired", priority=1, is_active=False
    )

    assert "retired" not in {q.slug for q in selectors.review_queue_overview(reviewer=charlie)}
    assert "Retired" not in _cards(client, charlie)

    client.force_login(charlie)
    response = client.post(reverse("review_take_next"), {"queue": retired.pk}, **EN)
    assert response.status_code == 302  # back to the queues, "nothing to review"
    assert not RefundClaim.objects.filter(held_by=charlie).exists()
