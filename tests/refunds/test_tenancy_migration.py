"""The tenancy migrations (merchants 0003, refunds 0005) move existing data into the
default platform: shops, API clients, buyers, queues and claims, and give every existing
order the buyer's name and phone as its snapshot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("merchants", "0002_initial"), ("refunds", "0004_leases_and_take_next")]


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


@pytest.mark.django_db(transaction=True)
def test_existing_rows_move_into_the_default_platform():
    latest = _executor().loader.graph.leaf_nodes()
    executor = _executor()
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps

    # given: data as it was before platforms existed
    shop = old.get_model("merchants", "Merchant").objects.create(platform_id="s-1", name="Shop")
    client = old.get_model("merchants", "PlatformClient").objects.create(
        name="legacy", token_hash="0" * 64, token_prefix="cl_0000"
    )
    client.merchants.add(shop)
    buyer = old.get_model("refunds", "Buyer").objects.create(
        platform_id="b-1", display_name="李四", phone="13700000000"
    )
    queue = old.get_model("refunds", "ReviewQueue").objects.create(slug="legacy", name="Legacy")
    order = old.get_model("refunds", "Order").objects.create(
        merchant=shop,
        buyer=buyer,
        platform_id="o-1",
        total_amount=Decimal("50.00"),
        paid_at=timezone.now() - dt.timedelta(days=2),
    )
    claim = old.get_model("refunds", "RefundClaim").objects.create(
        order=order,
        merchant=shop,
        buyer=buyer,
        amount=Decimal("10.00"),
        order_total=Decimal("50.00"),
        reason="damaged",
        status="in_review",
        queue=queue,
    )

    # when
    _executor().migrate(latest)

    # then
    from merchants.models import Merchant, Platform, PlatformClient
    from refunds.models import Buyer, Order, RefundClaim, ReviewQueue

    default = Platform.objects.get(slug="default")
    assert Merchant.objects.get(pk=shop.pk).tenant == default
    assert PlatformClient.objects.get(pk=client.pk).tenant == default
    assert Buyer.objects.get(pk=buyer.pk).tenant == default
    assert ReviewQueue.objects.get(pk=queue.pk).tenant == default
    assert RefundClaim.objects.get(pk=claim.pk).tenant == default
    migrated = Order.objects.get(pk=order.pk)
    assert (migrated.buyer_name, migrated.buyer_phone) == ("李四", "13700000000")
    # and the ids are now unique per platform only
    other = Platform.objects.create(slug="other", name="Other")
    Merchant.objects.create(platform_id="s-1", name="Twin", tenant=other)
    Buyer.objects.create(platform_id="b-1", display_name="Twin", tenant=other)
    assert Merchant.objects.filter(platform_id="s-1").count() == 2
