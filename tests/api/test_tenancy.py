"""Client A using client B's ids gets 404 (never data) on every endpoint, and lists show
only its own merchants' rows."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.api.test_endpoints import order_body


@pytest.fixture
def b_objects(client_b, shop_b, product_b, make_claim, api_b):
    claim = make_claim(shop_b)
    endpoint = api_b.post(
        "/api/v1/webhook-endpoints/", {"url": "https://b.example/hook"}, format="json"
    ).json()
    return {
        "merchant": shop_b.pk,
        "product": product_b.pk,
        "order": claim.order_id,
        "claim": claim.pk,
        "webhook": endpoint["id"],
    }


READS = [
    ("get", "/api/v1/merchants/{merchant}/"),
    ("get", "/api/v1/products/{product}/"),
    ("get", "/api/v1/orders/{order}/"),
    ("get", "/api/v1/claims/{claim}/"),
    ("get", "/api/v1/claims/{claim}/evidence/"),
    ("get", "/api/v1/claims/{claim}/findings/"),
    ("get", "/api/v1/claims/{claim}/decisions/"),
    ("get", "/api/v1/webhook-endpoints/{webhook}/"),
]
WRITES = [
    ("post", "/api/v1/claims/{claim}/withdraw/", {}, "json"),
    ("patch", "/api/v1/webhook-endpoints/{webhook}/", {"is_active": False}, "json"),
    ("put", "/api/v1/webhook-endpoints/{webhook}/", {"url": "https://a.example/x"}, "json"),
    ("delete", "/api/v1/webhook-endpoints/{webhook}/", None, None),
]


@pytest.mark.parametrize("method,path", READS)
def test_client_cannot_read_other_clients_objects(api_a, b_objects, method, path):
    response = getattr(api_a, method)(path.format(**b_objects))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert str(b_objects["claim"]) not in response.json()["detail"]


@pytest.mark.parametrize("method,path,data,fmt", WRITES)
def test_client_cannot_change_other_clients_objects(
    api_a, api_b, b_objects, method, path, data, fmt
):
    from refunds.models import RefundClaim, WebhookEndpoint

    response = getattr(api_a, method)(path.format(**b_objects), data, format=fmt)
    assert response.status_code == 404
    assert RefundClaim.objects.get(pk=b_objects["claim"]).status != "withdrawn"
    endpoint = WebhookEndpoint.objects.get(pk=b_objects["webhook"])
    assert endpoint.is_active and endpoint.url == "https://b.example/hook"


@pytest.mark.parametrize(
    "path", ["/api/v1/products/{product}/photos/", "/api/v1/claims/{claim}/evidence/"]
)
def test_client_cannot_upload_to_other_clients_objects(api_a, b_objects, path, photo_bytes):
    from evidence.models import EvidenceFile

    response = api_a.post(
        path.format(**b_objects),
        {
            "file": SimpleUploadedFile("x.jpg", photo_bytes(1), "image/jpeg"),
            "submitted_by": "merchant",
        },
        format="multipart",
    )
    assert response.status_code == 404
    assert not EvidenceFile.objects.exists()


def test_references_to_other_clients_objects_in_bodies_do_not_exist(api_a, b_objects, shop_a):
    from merchants.models import Product
    from refunds.models import Order, RefundClaim

    product = api_a.post(
        "/api/v1/products/",
        {"merchant": b_objects["merchant"], "platform_id": "p", "title": "t"},
        format="json",
    )
    order = api_a.post("/api/v1/orders/", order_body(b_objects["merchant"]), format="json")
    item_of_b = api_a.post(
        "/api/v1/orders/", order_body(shop_a.pk, product=b_objects["product"]), format="json"
    )
    claim = api_a.post(
        "/api/v1/claims/",
        {"order": b_objects["order"], "amount": "1.00", "reason": "damaged"},
        format="json",
    )
    for response, field in [
        (product, "merchant"),
        (order, "merchant"),
        (item_of_b, "items.0.product"),
        (claim, "order"),
    ]:
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == field
    assert Product.objects.filter(platform_id="p").count() == 0
    assert Order.objects.filter(merchant_id=shop_a.pk).count() == 0
    assert RefundClaim.objects.count() == 1


@pytest.mark.parametrize(
    "path,kind",
    [
        ("/api/v1/merchants/", "merchant"),
        ("/api/v1/products/", "product"),
        ("/api/v1/orders/", "order"),
        ("/api/v1/claims/", "claim"),
        ("/api/v1/webhook-endpoints/", "webhook"),
    ],
)
def test_lists_show_only_own_rows(api_a, b_objects, path, kind):
    response = api_a.get(path)
    assert response.status_code == 200
    assert b_objects[kind] not in [row["id"] for row in response.json()["results"]]
    assert len(response.json()["results"]) == (1 if kind == "merchant" else 0)


def test_filtering_by_other_clients_merchant_finds_nothing(api_a, b_objects):
    response = api_a.get("/api/v1/claims/", {"merchant": b_objects["merchant"]})
    assert response.json()["results"] == []


def test_artifact_url_of_client_b_cannot_be_reused_for_a_after_unbinding(
    api_b, client_b, shop_b, b_objects, photo_bytes, finding_with_artifact, anonymous
):
    from refunds.models import RefundClaim

    finding_with_artifact(RefundClaim.objects.get(pk=b_objects["claim"]), photo_bytes(2))
    url = api_b.get(f"/api/v1/claims/{b_objects['claim']}/findings/").json()[0]["artifacts"][0][
        "url"
    ]
    assert anonymous.get(url).status_code == 200
    client_b.merchants.remove(shop_b)
    assert anonymous.get(url).status_code == 404


# --- Two platforms in one deployment (docs/tenancy.md) -------------------------------------
# Both platforms use the same platform ids for their shop ("shop-1") and buyer ("buyer-9").


@pytest.fixture
def two_platforms(django_user_model):
    from tests.platforms import platform_world

    return (
        platform_world("alpha", django_user_model=django_user_model),
        platform_world("beta", django_user_model=django_user_model),
    )


def _api_of(world):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {world.token}")
    return api


def _order_body(world, *, number=1, name="张三"):
    body = order_body(world.shop.pk, platform_id=f"order-{number}")
    body["buyer"] = {"platform_id": "buyer-9", "display_name": name, "phone": "13900000009"}
    return body


def test_second_platform_does_not_overwrite_first_platforms_buyer(two_platforms):
    from refunds.models import Buyer

    alpha, beta = two_platforms
    first = _api_of(alpha).post(
        "/api/v1/orders/", _order_body(alpha, name="Alpha's buyer"), format="json"
    )
    second = _api_of(beta).post(
        "/api/v1/orders/", _order_body(beta, name="Beta's buyer"), format="json"
    )
    assert first.status_code == second.status_code == 201, second.content
    assert Buyer.objects.filter(platform_id="buyer-9").count() == 2
    alpha_buyer = Buyer.objects.get(tenant=alpha.platform, platform_id="buyer-9")
    assert alpha_buyer.display_name == "Alpha's buyer"
    again = _api_of(alpha).get(f"/api/v1/orders/{first.json()['id']}/").json()
    assert again["buyer"] == {"platform_id": "buyer-9", "display_name": "Alpha's buyer"}


def test_same_merchant_platform_id_on_two_platforms(two_platforms):
    from merchants.models import Merchant
    from merchants.services import platform_client_create

    alpha, beta = two_platforms
    tokens = [
        platform_client_create(
            name=f"root-{w.platform.slug}", can_create_merchants=True, tenant=w.platform
        )[1]
        for w in (alpha, beta)
    ]
    for token in tokens:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        created = api.post(
            "/api/v1/merchants/", {"platform_id": "shop-2", "name": "Twin"}, format="json"
        )
        assert created.status_code == 201, created.content
        again = api.post(
            "/api/v1/merchants/", {"platform_id": "shop-2", "name": "Twin"}, format="json"
        )
        assert again.status_code == 409
    assert set(Merchant.objects.filter(platform_id="shop-2").values_list("tenant", flat=True)) == {
        alpha.platform.pk,
        beta.platform.pk,
    }


def test_order_snapshot_keeps_the_buyer_data_given_with_it(two_platforms):
    alpha, _ = two_platforms
    api = _api_of(alpha)
    first = api.post(
        "/api/v1/orders/", _order_body(alpha, number=1, name="Old name"), format="json"
    ).json()
    api.post("/api/v1/orders/", _order_body(alpha, number=2, name="New name"), format="json")
    from refunds.models import Order

    assert api.get(f"/api/v1/orders/{first['id']}/").json()["buyer"]["display_name"] == "Old name"
    assert Order.objects.get(pk=first["id"]).buyer_name == "Old name"
    assert Order.objects.get(pk=first["id"]).buyer.display_name == "New name"


@pytest.fixture
def beta_objects(two_platforms, make_claim_in):
    alpha, beta = two_platforms
    claim = make_claim_in(beta, 1)
    endpoint = _api_of(beta).post(
        "/api/v1/webhook-endpoints/", {"url": "https://beta.example/hook"}, format="json"
    )
    from merchants.services import product_create

    product = product_create(merchant=beta.shop, platform_id="p-1", title="Mug")
    return {
        "merchant": beta.shop.pk,
        "product": product.pk,
        "order": claim.order_id,
        "claim": claim.pk,
        "webhook": endpoint.json()["id"],
    }


@pytest.fixture
def make_claim_in():
    from tests.platforms import claim_in_review

    return claim_in_review


@pytest.mark.parametrize("method,path", READS)
def test_platform_cannot_read_other_platforms_objects(two_platforms, beta_objects, method, path):
    alpha, _ = two_platforms
    response = getattr(_api_of(alpha), method)(path.format(**beta_objects))
    assert response.status_code == 404


@pytest.mark.parametrize("method,path,data,fmt", WRITES)
def test_platform_cannot_change_other_platforms_objects(
    two_platforms, beta_objects, method, path, data, fmt
):
    alpha, _ = two_platforms
    response = getattr(_api_of(alpha), method)(path.format(**beta_objects), data, format=fmt)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path,kind",
    [
        ("/api/v1/merchants/", "merchant"),
        ("/api/v1/products/", "product"),
        ("/api/v1/orders/", "order"),
        ("/api/v1/claims/", "claim"),
        ("/api/v1/webhook-endpoints/", "webhook"),
    ],
)
def test_platform_lists_show_only_its_rows(two_platforms, beta_objects, make_claim_in, path, kind):
    alpha, _ = two_platforms
    own = make_claim_in(alpha, 1)  # the same order platform id as beta's
    response = _api_of(alpha).get(path)
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert beta_objects[kind] not in ids
    if kind in ("order", "claim"):
        assert ids == [own.order_id if kind == "order" else own.pk]


def test_platform_cannot_reference_other_platforms_shop(two_platforms, beta_objects):
    alpha, _ = two_platforms
    response = _api_of(alpha).post(
        "/api/v1/orders/", order_body(beta_objects["merchant"]), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "merchant"


def test_client_is_never_bound_to_another_platforms_shop(two_platforms):
    from merchants.services import platform_client_create
    from refunds.exceptions import ClaimValidationError

    alpha, beta = two_platforms
    with pytest.raises(ClaimValidationError):
        platform_client_create(name="mixed", merchants=[beta.shop], tenant=alpha.platform)


def test_order_refuses_a_buyer_of_another_platform(two_platforms):
    from refunds.exceptions import ClaimValidationError
    from tests.platforms import order_for

    alpha, beta = two_platforms
    with pytest.raises(ClaimValidationError):
        order_for(alpha, 5, buyer=beta.buyer)
