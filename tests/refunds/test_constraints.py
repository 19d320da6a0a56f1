"""The database itself refuses impossible data, whatever code path writes it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from merchants.models import Merchant
from refunds.audit import Actor
from refunds.exceptions import ClaimValidationError
from refunds.models import Buyer, Order, RefundClaim
from refunds.services import ItemInput, claim_submit, order_create


def test_negative_order_total_is_rejected_by_the_database(shop_a, buyer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(
            merchant=shop_a,
            buyer=buyer,
            platform_id="o-neg",
            total_amount=Decimal("-1"),
            paid_at=timezone.now(),
        )


def test_claim_larger_than_its_order_is_rejected_by_the_database(make_claim, shop_a):
    claim = make_claim(shop_a, evaluate=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundClaim.objects.filter(pk=claim.pk).update(amount=claim.order_total + 1)


def test_negative_claim_amount_is_rejected_by_the_database(make_claim, shop_a):
    claim = make_claim(shop_a, evaluate=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundClaim.objects.filter(pk=claim.pk).update(amount=Decimal("-5"))


def test_risk_score_above_100_is_rejected(make_claim, shop_a):
    claim = make_claim(shop_a, evaluate=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundClaim.objects.filter(pk=claim.pk).update(risk_score=101)


def test_duplicate_platform_ids_are_rejected(db, shop_a, buyer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Merchant.objects.create(platform_id="shop-a", name="again")
    with pytest.raises(IntegrityError), transaction.atomic():
        Buyer.objects.create(platform_id="buyer-1", display_name="dup")


def test_duplicate_order_platform_id_is_a_clear_error(shop_a, buyer, make_order):
    order = make_order(shop_a)
    with pytest.raises(ClaimValidationError, match="already exists"):
        order_create(
            merchant=shop_a,
            buyer=buyer,
            platform_id=order.platform_id,
            items=[ItemInput("x", Decimal("1"))],
            paid_at=timezone.now(),
        )


def test_claim_service_refuses_more_than_the_order(make_order, shop_a):
    order = make_order(shop_a, total=Decimal("50"))
    with pytest.raises(ClaimValidationError, match="more than the order total"):
        claim_submit(
            order=order, amount=Decimal("50.01"), reason="damaged", actor=Actor.platform("t")
        )
    assert not RefundClaim.objects.exists()


def test_second_open_claim_on_one_order_is_refused(make_order, shop_a):
    order = make_order(shop_a)
    claim_submit(order=order, amount=Decimal("10"), reason="damaged", actor=Actor.platform("t"))
    with pytest.raises(ClaimValidationError, match="already has an open"):
        claim_submit(order=order, amount=Decimal("10"), reason="damaged", actor=Actor.platform("t"))
    assert RefundClaim.objects.filter(order=order).count() == 1


def test_order_cannot_be_delivered_before_it_ships(shop_a, buyer):
    now = timezone.now()
    with pytest.raises(ClaimValidationError):
        order_create(
            merchant=shop_a,
            buyer=buyer,
            platform_id="o-x",
            items=[ItemInput("x", Decimal("1"))],
            paid_at=now,
            shipped_at=now,
            delivered_at=now - dt.timedelta(hours=1),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(
            merchant=shop_a,
            buyer=buyer,
            platform_id="o-y",
            total_amount=1,
            paid_at=now,
            shipped_at=now - dt.timedelta(days=1),
        )
