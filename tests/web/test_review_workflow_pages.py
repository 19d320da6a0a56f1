"""The review workflow on the reviewer pages: why a claim is in its queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from refunds import services

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
pytestmark = pytest.mark.django_db


def test_review_page_shows_the_rule_that_routed_the_claim_and_its_inputs(
    client, alice, charlie, forged_claim
):
    services.claim_merchant_respond(
        claim=forged_claim, user=alice, response="contest", statement="裂痕是画上去的 painted"
    )
    client.force_login(charlie)

    html = client.get(reverse("review_claim", args=[forged_claim.pk]), **EN).content.decode()

    assert "Why this queue" in html
    assert "Copy of the merchant" in html  # the seeded rule on reference_copy
    assert "Conditions that held" in html and "finding_codes" in html
    assert "claims (90 / 365 days)" in html
    assert "Entered review" in html


def test_queues_page_flags_a_claim_past_its_sla(client, alice, charlie, shop_a, make_claim):
    import datetime as dt

    from django.utils import timezone

    from refunds.models import RefundClaim

    late, on_time = make_claim(shop_a), make_claim(shop_a)
    for claim in (late, on_time):
        services.claim_merchant_respond(
            claim=claim, user=alice, response="contest", statement="裂痕是画上去的 painted"
        )
    RefundClaim.objects.filter(pk=late.pk).update(
        review_deadline=timezone.now() - dt.timedelta(minutes=5)
    )
    client.force_login(charlie)

    html = client.get(reverse("review_queues"), **EN).content.decode()

    assert html.count("data-overdue") == 1
    row = html[html.index(f"#{late.pk}</a>") :]
    assert row.index("data-overdue") < row.index("</tr>")
