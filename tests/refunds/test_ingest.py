"""``claims_ingest``: many orders with their claims through the rules and writes of
``order_create`` and ``claim_submit`` (issue 13, ingestion)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from refunds import services
from refunds.audit import Actor
from refunds.models import Order, RefundClaim

ACTOR = Actor.platform("test")


def entry(shop, number: int, *, buyer="buyer-1", amount="50.00", claim_id=""):
    paid = timezone.now() - dt.timedelta(days=3)
    return (
        services.OrderInput(
            merchant=shop,
            platform_id=f"order-{number}",
            buyer=services.BuyerInput(platform_id=buyer, display_name=f"Buyer {number}"),
            items=[services.ItemInput(title="Mug", unit_price=Decimal("99.00"))],
            paid_at=paid,
        ),
        services.ClaimInput(amount=Decimal(amount), reason="damaged", platform_id=claim_id),
    )


def test_a_concurrent_write_of_one_id_keeps_the_other_entries(shop_a, monkeypatch):
    # given: another request records order-2 between the batch's check and its insert
    # (simulated: the check sees nothing recorded)
    other = services.order_create(
        merchant=shop_a,
        buyer=services.buyer_upsert(platform_id="buyer-x", display_name="X"),
        platform_id="order-2",
        items=[services.ItemInput(title="Mug", unit_price=Decimal("99.00"))],
        paid_at=timezone.now() - dt.timedelta(days=3),
    )
    monkeypatch.setattr(services, "_without_recorded", lambda entries, accepted, results: accepted)

    # when
    results = services.claims_ingest(
        entries=[entry(shop_a, n) for n in (1, 2, 3)], tenant=shop_a.tenant_id, actor=ACTOR
    )

    # then: the database refused the batch's insert; its entries went one by one
    assert [r.error is None for r in results] == [True, False, True]
    assert isinstance(results[1].error, services.AlreadyExists)
    assert Order.objects.filter(platform_id="order-2").get() == other
    assert not RefundClaim.objects.filter(order=other).exists()  # no claim on the other's order
    claimed = set(RefundClaim.objects.values_list("order__platform_id", flat=True))
    assert claimed == {"order-1", "order-3"}


def test_one_buyer_in_several_entries_is_one_buyer_and_each_order_keeps_its_name(shop_a):
    results = services.claims_ingest(
        entries=[entry(shop_a, 1), entry(shop_a, 2)], tenant=shop_a.tenant_id, actor=ACTOR
    )

    first, second = (r.order for r in results)
    assert first.buyer_id == second.buyer_id
    assert (first.buyer_name, second.buyer_name) == ("Buyer 1", "Buyer 2")
    first.buyer.refresh_from_db()
    assert first.buyer.display_name == "Buyer 2"  # as two orders one after the other


def test_an_entry_with_a_shop_of_another_platform_is_refused(shop_a, django_user_model):
    from tests.platforms import platform_world

    other = platform_world("other", django_user_model=django_user_model)

    results = services.claims_ingest(
        entries=[entry(other.shop, 1), entry(shop_a, 2)], tenant=shop_a.tenant_id, actor=ACTOR
    )

    assert isinstance(results[0].error, services.ClaimValidationError)
    assert results[1].error is None
    assert not Order.objects.filter(merchant=other.shop).exists()


def test_more_entries_than_allowed_are_refused_whole(shop_a):
    with pytest.raises(services.ClaimValidationError):
        services.claims_ingest(
            entries=[entry(shop_a, n) for n in range(services.MAX_INGEST_ENTRIES + 1)],
            tenant=shop_a.tenant_id,
            actor=ACTOR,
        )
    assert not Order.objects.exists()


def test_a_client_of_several_shops_in_one_batch_gets_one_delivery_per_claim(shop_a, shop_b):
    from merchants.services import platform_client_create
    from refunds.models import WebhookDelivery

    client, _token = platform_client_create(name="both", merchants=[shop_a, shop_b])
    services.webhook_endpoint_create(client=client, url="https://both.example/hook")

    results = services.claims_ingest(
        entries=[entry(shop_a, 1), entry(shop_b, 2), entry(shop_a, 3)],
        tenant=shop_a.tenant_id,
        actor=ACTOR,
    )

    claims = sorted(r.claim.pk for r in results)
    delivered = sorted(
        d.payload["claim"]["id"]
        for d in WebhookDelivery.objects.filter(event_type="claim.received")
    )
    assert delivered == claims


def test_buyers_created_meanwhile_by_another_request_are_taken_and_the_others_created(
    db, monkeypatch
):
    from refunds.models import Buyer

    # given: buyer-1 exists, but the upsert's first read does not see it (it was
    # committed by another request between that read and the insert)
    existing = services.buyer_upsert(platform_id="buyer-1", display_name="Old")
    real_filter = Buyer.objects.filter
    calls = []

    def first_read_misses(*args, **kwargs):
        calls.append(kwargs)
        return Buyer.objects.none() if len(calls) == 1 else real_filter(*args, **kwargs)

    monkeypatch.setattr(Buyer.objects, "filter", first_read_misses)

    # when
    buyers = services.buyers_upsert(
        buyers=[
            services.BuyerInput("buyer-1", "New name"),
            services.BuyerInput("buyer-2", "Second"),
        ]
    )

    # then
    assert buyers["buyer-1"].pk == existing.pk and buyers["buyer-1"].display_name == "New name"
    assert buyers["buyer-2"].pk is not None
    assert Buyer.objects.get(platform_id="buyer-1").display_name == "New name"
    assert Buyer.objects.filter(platform_id="buyer-2").count() == 1


def _recorded_order(shop, number: int) -> Order:
    return services.order_create(
        merchant=shop,
        buyer=services.buyer_upsert(
            platform_id=f"buyer-r{number}", display_name="R", tenant=shop.tenant_id
        ),
        platform_id=f"recorded-{number}",
        items=[services.ItemInput(title="Mug", unit_price=Decimal("99.00"))],
        paid_at=timezone.now() - dt.timedelta(days=3),
    )


def claim_on(order: Order, *, amount="50.00", claim_id=""):
    return (
        order,
        services.ClaimInput(amount=Decimal(amount), reason="damaged", platform_id=claim_id),
    )


def test_claims_on_recorded_orders_and_new_orders_are_written_together(shop_a):
    recorded = _recorded_order(shop_a, 1)

    results = services.claims_ingest(
        entries=[claim_on(recorded, claim_id="c-1"), entry(shop_a, 2)],
        tenant=shop_a.tenant_id,
        actor=ACTOR,
    )

    assert [r.error for r in results] == [None, None]
    assert results[0].order == recorded and results[0].claim.order_id == recorded.pk
    assert results[0].claim.buyer_id == recorded.buyer_id
    assert Order.objects.count() == 2  # the recorded order was not written again
    assert RefundClaim.objects.filter(order=recorded, platform_id="c-1").count() == 1


def test_a_concurrent_claim_on_a_recorded_order_keeps_the_other_entries(shop_a, monkeypatch):
    # given: another request opens a claim on the order between the batch's check and its
    # insert (simulated: the check sees nothing recorded)
    recorded = _recorded_order(shop_a, 1)
    services.claim_submit(order=recorded, amount=Decimal("10.00"), reason="damaged", actor=ACTOR)
    monkeypatch.setattr(services, "_without_recorded", lambda entries, accepted, results: accepted)

    # when
    results = services.claims_ingest(
        entries=[entry(shop_a, 1), claim_on(recorded), entry(shop_a, 3)],
        tenant=shop_a.tenant_id,
        actor=ACTOR,
    )

    # then: the one open claim per order held; the other entries were written one by one
    assert [r.error is None for r in results] == [True, False, True]
    assert isinstance(results[1].error, services.AlreadyExists)
    assert results[1].existing_order_id == recorded.pk
    assert RefundClaim.objects.filter(order=recorded).count() == 1


def test_a_recorded_order_of_another_platform_is_refused(shop_a, django_user_model):
    from tests.platforms import platform_world

    other = platform_world("other", django_user_model=django_user_model)

    results = services.claims_ingest(
        entries=[claim_on(_recorded_order(other.shop, 1))], tenant=shop_a.tenant_id, actor=ACTOR
    )

    assert isinstance(results[0].error, services.ClaimValidationError)
    assert not RefundClaim.objects.exists()
