"""Periodic work in bounded batches (issue 13): the deadline sweep takes every due claim
in batches, through its index, and stops at its time budget."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from refunds import services
from refunds.audit import verify_chain
from refunds.models import AuditEvent, RefundClaim


def _due(make_claim, shop, count):
    claims = [make_claim(shop) for _ in range(count)]
    return claims, max(c.merchant_deadline for c in claims) + dt.timedelta(minutes=1)


def test_a_tick_moves_every_due_claim_in_bounded_batches(make_claim, shop_a):
    claims, later = _due(make_claim, shop_a, 5)
    moved = services.enforce_deadlines(now=later, batch_size=2)
    assert moved["merchant_missed"] == 5 and moved["more_due"] == 0
    # 3 batches of merchant claims (2 + 2 + 1), then one empty batch per other kind.
    assert moved["batches"] == 5
    assert set(RefundClaim.objects.values_list("status", flat=True)) == {"in_review"}
    assert services.enforce_deadlines(now=later)["merchant_missed"] == 0
    # every claim's move recorded in its own chain, which verifies
    for claim in claims:
        event = AuditEvent.objects.filter(claim=claim).order_by("-chain_seq").first()
        assert event.action == "merchant_deadline_missed" and event.to_status == "in_review"
    assert verify_chain() == (AuditEvent.objects.count(), None)
    assert RefundClaim.objects.filter(review_deadline__isnull=True).count() == 0


def test_a_tick_stops_at_its_budget_and_the_next_one_continues(make_claim, shop_a):
    _claims, later = _due(make_claim, shop_a, 3)
    moved = services.enforce_deadlines(now=later, batch_size=1, budget_seconds=0)
    assert moved["more_due"] == 1 and moved["merchant_missed"] == 0
    assert services.enforce_deadlines(now=later)["merchant_missed"] == 3


def test_claims_not_yet_due_are_not_read(make_claim, shop_a):
    claims, _later = _due(make_claim, shop_a, 2)
    with CaptureQueriesContext(connection) as captured:
        moved = services.enforce_deadlines(now=claims[0].merchant_deadline - dt.timedelta(hours=1))
    assert moved["merchant_missed"] == 0
    # One batch query per kind, nothing per claim.
    assert sum(1 for q in captured.captured_queries if "refunds_refundclaim" in q["sql"]) == 3


def test_a_batch_sends_the_status_webhook_of_each_claim_whose_shop_listens(
    make_claim, shop_a, shop_b
):
    from merchants.services import platform_client_create
    from refunds.models import WebhookDelivery
    from refunds.services import webhook_endpoint_create

    client, _token = platform_client_create(name="platform-a", merchants=[shop_a])
    webhook_endpoint_create(client=client, url="https://platform.example/claimlens")
    listened, _later = _due(make_claim, shop_a, 2)
    quiet, later = _due(make_claim, shop_b, 1)
    before = set(WebhookDelivery.objects.values_list("pk", flat=True))

    services.enforce_deadlines(now=later)

    sent = WebhookDelivery.objects.exclude(pk__in=before).filter(event_type="claim.status_changed")
    assert sorted(d.payload["claim"]["id"] for d in sent) == sorted(c.pk for c in listened)
    assert all(d.payload["data"] == {"from": "awaiting_merchant", "to": "in_review"} for d in sent)
    assert quiet[0].pk not in [d.payload["claim"]["id"] for d in sent]
