"""Client A using client B's ids gets 404 (never data) on every endpoint, and lists show
only its own merchants' rows."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

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
