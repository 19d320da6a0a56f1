"""Shops and products in the admin are saved through ``merchants.services``; a shop's
platform and platform id, and a product's shop and platform id, are fixed once they
exist (the platform's systems refer to them by those ids)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from merchants.models import Merchant, Product
from merchants.services import product_create

pytestmark = pytest.mark.django_db


def _no_rows(prefix: str) -> dict[str, str]:
    """A read-only inline's management form, as the change page sends it (no rows)."""
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}


def test_a_shop_is_added_and_edited_in_the_admin_with_its_ids_fixed(admin_client, shop_a):
    response = admin_client.post(
        reverse("admin:merchants_merchant_add"),
        {
            "tenant": shop_a.tenant_id,
            "platform_id": "shop-new",
            "name": "New shop 新店",
            "contact_email": "new@shop.example",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    shop = Merchant.objects.get(platform_id="shop-new")
    assert (shop.tenant_id, shop.name, shop.is_active) == (shop_a.tenant_id, "New shop 新店", True)

    response = admin_client.post(
        reverse("admin:merchants_merchant_change", args=[shop.pk]),
        {
            "platform_id": "renamed-id",
            "name": "Renamed",
            "contact_email": "",
            **_no_rows("memberships"),
        },
    )
    assert response.status_code == 302, response.content
    shop.refresh_from_db()
    assert (shop.platform_id, shop.name, shop.contact_email, shop.is_active) == (
        "shop-new",
        "Renamed",
        "",
        False,
    )


def test_a_second_shop_with_the_same_platform_id_is_refused(admin_client, shop_a):
    response = admin_client.post(
        reverse("admin:merchants_merchant_add"),
        {"tenant": shop_a.tenant_id, "platform_id": shop_a.platform_id, "name": "Twin"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert Merchant.objects.filter(platform_id=shop_a.platform_id).count() == 1


def test_a_product_is_renamed_in_the_admin_and_keeps_its_shop_and_id(admin_client, shop_a, shop_b):
    product = product_create(merchant=shop_a, platform_id="mug-1", title="Mug")

    response = admin_client.post(
        reverse("admin:merchants_product_change", args=[product.pk]),
        {
            "merchant": shop_b.pk,
            "platform_id": "other",
            "title": "陶瓷杯 Ceramic mug",
            **_no_rows("photos"),
        },
    )

    assert response.status_code == 302, response.content
    product.refresh_from_db()
    assert (product.merchant, product.platform_id, product.title) == (
        shop_a,
        "mug-1",
        "陶瓷杯 Ceramic mug",
    )
    response = admin_client.post(
        reverse("admin:merchants_product_add"),
        {"merchant": shop_b.pk, "platform_id": "mug-1", "title": "Mug B"},
    )
    assert response.status_code == 302, response.content
    assert Product.objects.get(merchant=shop_b, platform_id="mug-1").title == "Mug B"
