"""Each endpoint does its one job through the same services as the browser and admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.api.conftest import png_bytes

PROBLEM = "application/problem+json"


def order_body(merchant_id: int, *, platform_id="order-1", product=None, total="199.00"):
    paid = timezone.now() - dt.timedelta(days=5)
    return {
        "merchant": merchant_id,
        "platform_id": platform_id,
        "buyer": {
            "platform_id": f"buyer-{platform_id}",
            "display_name": "张三",
            "phone": "13800000000",
        },
        "items": [{"title": "陶瓷杯", "quantity": 1, "unit_price": total, "product": product}],
        "paid_at": paid.isoformat(),
        "shipped_at": (paid + dt.timedelta(days=1)).isoformat(),
        "delivered_at": (paid + dt.timedelta(days=3)).isoformat(),
        "shipping_address": "上海市浦东新区 XX 路 1 号",
    }


# --- merchants ---------------------------------------------------------------------------


def test_creator_client_creates_merchant_and_is_bound_to_it(api_creator, creator):
    response = api_creator.post(
        "/api/v1/merchants/", {"platform_id": "shop-new", "name": "New shop"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert creator.merchants.filter(pk=response.json()["id"]).exists()
    listed = api_creator.get("/api/v1/merchants/").json()
    assert [m["platform_id"] for m in listed["results"]] == ["shop-new"]


def test_client_without_permission_cannot_create_merchant(api_a):
    response = api_a.post("/api/v1/merchants/", {"platform_id": "x", "name": "X"}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM


def test_duplicate_merchant_platform_id_is_a_409(api_creator, shop_a):
    response = api_creator.post(
        "/api/v1/merchants/", {"platform_id": shop_a.platform_id, "name": "Again"}, format="json"
    )
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "already_exists"
    assert response.json()["detail"]  # the reason, in the request's language


def test_duplicate_product_platform_id_is_a_409_and_changes_nothing(api_a, shop_a, product_a):
    response = api_a.post(
        "/api/v1/products/",
        {"merchant": shop_a.pk, "platform_id": product_a.platform_id, "title": "Other title"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"
    product_a.refresh_from_db()
    assert product_a.title != "Other title"


# --- products and photos ------------------------------------------------------------------


def test_product_create_and_several_photos(api_a, shop_a, photo_bytes):
    response = api_a.post(
        "/api/v1/products/",
        {"merchant": shop_a.pk, "platform_id": "p1", "title": "Mug"},
        format="json",
    )
    assert response.status_code == 201, response.content
    product_id = response.json()["id"]
    files = [
        SimpleUploadedFile("a.jpg", photo_bytes(1), "image/jpeg"),
        SimpleUploadedFile("b.jpg", photo_bytes(2), "image/jpeg"),
    ]
    response = api_a.post(
        f"/api/v1/products/{product_id}/photos/", {"file": files}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [f["original_name"] for f in body["files"]] == ["a.jpg", "b.jpg"]
    assert body["files"][0]["submitted_by"] == "merchant"
    assert body["rejected"] == []
    assert api_a.get(f"/api/v1/products/{product_id}/").json()["photo_count"] == 2


def test_photo_that_is_not_an_image_is_415_with_code(api_a, product_a):
    response = api_a.post(
        f"/api/v1/products/{product_a.pk}/photos/",
        {"file": SimpleUploadedFile("x.jpg", b"not an image at all", "image/jpeg")},
        format="multipart",
    )
    assert response.status_code == 415
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "unsupported_type"


def test_some_files_rejected_some_accepted(api_a, product_a, photo_bytes):
    files = [
        SimpleUploadedFile("good.jpg", photo_bytes(3), "image/jpeg"),
        SimpleUploadedFile("empty.jpg", b"", "image/jpeg"),
    ]
    response = api_a.post(
        f"/api/v1/products/{product_a.pk}/photos/", {"file": files}, format="multipart"
    )
    assert response.status_code == 201
    rejected = response.json()["rejected"]
    assert [(r["index"], r["name"], r["code"]) for r in rejected] == [
        (1, "empty.jpg", "empty_file")
    ]
    assert [f["original_name"] for f in response.json()["files"]] == ["good.jpg"]


def test_oversized_upload_is_413(api_a, product_a, monkeypatch):
    from evidence import imaging

    monkeypatch.setattr(imaging, "MAX_BYTES", 100)
    response = api_a.post(
        f"/api/v1/products/{product_a.pk}/photos/",
        {"file": SimpleUploadedFile("big.png", png_bytes() + b"\0" * 200, "image/png")},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_request_body_over_the_limit_is_413_before_parsing(api_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    response = api_a.post("/api/v1/claims/", {"description": "x" * 100}, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


# --- orders ---------------------------------------------------------------------------------


def test_order_with_inline_buyer_and_items(api_a, shop_a, product_a):
    response = api_a.post(
        "/api/v1/orders/", order_body(shop_a.pk, product=product_a.pk), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["buyer"] == {"platform_id": "buyer-order-1", "display_name": "张三"}
    assert body["items"][0]["product"] == product_a.pk
    assert body["total_amount"] == "199.00"
    assert "phone" not in str(body)


def test_duplicate_order_platform_id_is_a_409(api_a, shop_a, product_a):
    body = order_body(shop_a.pk, product=product_a.pk)
    assert api_a.post("/api/v1/orders/", body, format="json").status_code == 201

    again = api_a.post("/api/v1/orders/", body, format="json")

    assert again.status_code == 409
    assert again.json()["code"] == "already_exists"
    from refunds.models import Order

    assert Order.objects.filter(platform_id=body["platform_id"]).count() == 1


def test_order_delivered_before_shipped_is_400(api_a, shop_a):
    body = order_body(shop_a.pk)
    body["delivered_at"] = body["paid_at"]
    response = api_a.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM


def test_order_field_errors_are_listed(api_a):
    response = api_a.post("/api/v1/orders/", {"items": [{"unit_price": "x"}]}, format="json")
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {
        "merchant",
        "platform_id",
        "buyer",
        "paid_at",
        "items.0.title",
        "items.0.unit_price",
    } <= fields


# --- claims ---------------------------------------------------------------------------------


def test_claim_submit_goes_through_the_service(
    api_a, make_order, shop_a, django_capture_on_commit_callbacks
):
    from refunds.models import AuditEvent

    order = make_order(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post(
            "/api/v1/claims/",
            {
                "order": order.pk,
                "amount": "99.00",
                "reason": "damaged",
                "description": "裂了",
                "platform_id": "c-1",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    claim_id = response.json()["id"]
    event = AuditEvent.objects.filter(claim_id=claim_id, action="claim_submitted").get()
    assert event.actor_label == "platform:platform-a"
    detail = api_a.get(f"/api/v1/claims/{claim_id}/").json()
    assert detail["status"] == "awaiting_merchant"
    assert 0 <= detail["risk_score"] <= 100
    assert detail["deadlines"]["merchant"] is not None
    assert detail["platform_id"] == "c-1"


def test_second_open_claim_on_one_order_is_a_409(api_a, make_claim, shop_a):
    claim = make_claim(shop_a)

    response = api_a.post(
        "/api/v1/claims/",
        {"order": claim.order_id, "amount": "1.00", "reason": "damaged"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"
    assert claim.order.claims.count() == 1


def test_claim_above_order_total_is_400(api_a, make_order, shop_a):
    order = make_order(shop_a)
    response = api_a.post(
        "/api/v1/claims/",
        {"order": order.pk, "amount": "9999.00", "reason": "damaged"},
        format="json",
    )
    assert response.status_code == 400
    assert "9999" in response.json()["detail"]


def test_claim_evidence_upload_and_list(api_a, make_claim, shop_a, photo_bytes):
    claim = make_claim(shop_a)
    response = api_a.post(
        f"/api/v1/claims/{claim.pk}/evidence/",
        {
            "file": [
                SimpleUploadedFile("1.jpg", photo_bytes(7), "image/jpeg"),
                SimpleUploadedFile("2.jpg", photo_bytes(8), "image/jpeg"),
            ],
            "submitted_by": "buyer",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    listed = api_a.get(f"/api/v1/claims/{claim.pk}/evidence/").json()
    assert [f["original_name"] for f in listed] == ["1.jpg", "2.jpg"]
    assert all(f["submitted_by"] == "buyer" for f in listed)


def test_same_evidence_file_twice_is_409(api_a, make_claim, shop_a, photo_bytes):
    claim = make_claim(shop_a)
    data = photo_bytes(9)
    for expected in (201, 409):
        response = api_a.post(
            f"/api/v1/claims/{claim.pk}/evidence/",
            {"file": SimpleUploadedFile("1.jpg", data, "image/jpeg"), "submitted_by": "buyer"},
            format="multipart",
        )
        assert response.status_code == expected
    assert response.json()["code"] == "duplicate_file"


def test_evidence_needs_a_known_submitter(api_a, make_claim, shop_a, photo_bytes):
    claim = make_claim(shop_a)
    response = api_a.post(
        f"/api/v1/claims/{claim.pk}/evidence/",
        {
            "file": SimpleUploadedFile("1.jpg", photo_bytes(1), "image/jpeg"),
            "submitted_by": "reviewer",
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "submitted_by"


def test_withdraw_then_withdraw_again_is_409(api_a, make_claim, shop_a):
    claim = make_claim(shop_a)
    response = api_a.post(f"/api/v1/claims/{claim.pk}/withdraw/", {"reason": "ok"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    again = api_a.post(f"/api/v1/claims/{claim.pk}/withdraw/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "illegal_transition"


def test_decisions_list_merchant_acceptance(api_a, make_claim, shop_a, alice):
    from refunds.services import claim_merchant_respond

    claim = make_claim(shop_a)
    claim_merchant_respond(claim=claim, user=alice, response="accept")
    decisions = api_a.get(f"/api/v1/claims/{claim.pk}/decisions/").json()
    assert decisions[0]["decided_by"] == "merchant"
    assert decisions[0]["outcome"] == "refund_approved"
    assert Decimal(decisions[0]["refund_amount"]) == claim.amount
    detail = api_a.get(f"/api/v1/claims/{claim.pk}/").json()
    assert detail["outcome"] == "refund_approved"
    assert detail["refund_amount"] == str(claim.amount)


def test_claims_list_filters_and_orders(api_a, make_claim, shop_a):
    first = make_claim(shop_a)
    second = make_claim(shop_a)
    from refunds.audit import Actor
    from refunds.services import claim_withdraw

    claim_withdraw(claim=first, actor=Actor.platform("t"))
    body = api_a.get("/api/v1/claims/", {"status": "withdrawn"}).json()
    assert [c["id"] for c in body["results"]] == [first.pk]
    body = api_a.get("/api/v1/claims/", {"ordering": "created_at"}).json()
    assert [c["id"] for c in body["results"]] == [first.pk, second.pk]
    since = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    assert api_a.get("/api/v1/claims/", {"updated_since": since}).json()["results"] == []
    assert len(api_a.get("/api/v1/claims/", {"merchant": shop_a.pk}).json()["results"]) == 2
    assert api_a.get("/api/v1/claims/", {"updated_since": "yesterday"}).status_code == 400


def test_claims_list_query_count_is_pinned(
    api_a, make_claim, shop_a, django_assert_max_num_queries
):
    for _ in range(5):
        make_claim(shop_a)
    with django_assert_max_num_queries(5):
        response = api_a.get("/api/v1/claims/")
    assert len(response.json()["results"]) == 5


def test_claims_list_pages_by_cursor_not_by_count(
    api_a, make_claim, shop_a, django_assert_max_num_queries
):
    """Keyset pages: no COUNT(*), and a later page is reached through ``next`` only."""
    made = [make_claim(shop_a).pk for _ in range(5)]
    seen, url = [], "/api/v1/claims/?page_size=2&status=awaiting_merchant"
    while url:
        with django_assert_max_num_queries(4) as captured:
            body = api_a.get(url).json()
        assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
        assert "count" not in body and "cursor=" in (body["next"] or "cursor=")
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
    assert seen == sorted(made, reverse=True)  # newest first, each claim once
    assert api_a.get("/api/v1/claims/", {"cursor": "garbage"}).status_code == 404
    assert api_a.get("/api/v1/claims/", {"page": "2"}).status_code == 400  # no page numbers
    assert api_a.get("/api/v1/claims/", {"ordering": "risk_score"}).status_code == 400
    body = api_a.get("/api/v1/claims/", {"ordering": "amount", "page_size": 3}).json()
    assert len(body["results"]) == 3 and body["next"]


# --- findings and artifacts --------------------------------------------------------------


def test_findings_in_requested_language_with_signed_artifact(
    api_a, make_claim, shop_a, photo_bytes, finding_with_artifact
):
    claim = make_claim(shop_a)
    finding, _artifact = finding_with_artifact(claim, photo_bytes(1))
    body = api_a.get(f"/api/v1/claims/{claim.pk}/findings/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body[0]["code"] == "metadata_editor_software"
    assert body[0]["msgid"] == "Image edited with %(software)s."
    assert body[0]["message"] == "Image edited with Photoshop."
    assert body[0]["evidence"] == finding.evidence_id
    url = body[0]["artifacts"][0]["url"]
    assert "/api/v1/artifacts/" in url
    download = api_a.get(url)
    assert download.status_code == 200
    assert download["Cache-Control"].startswith("private")
    assert b"".join(download.streaming_content) == png_bytes()


def test_artifact_url_expires_after_ten_minutes(
    api_a, make_claim, shop_a, photo_bytes, finding_with_artifact, monkeypatch
):
    claim = make_claim(shop_a)
    finding_with_artifact(claim, photo_bytes(1))
    url = api_a.get(f"/api/v1/claims/{claim.pk}/findings/").json()[0]["artifacts"][0]["url"]
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 601)
    response = api_a.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_tampered_artifact_url_is_404(api_a, anonymous):
    response = anonymous.get("/api/v1/artifacts/1:2:forged/")
    assert response.status_code == 404


def test_artifact_url_stops_working_when_client_is_revoked(
    api_a, client_a, make_claim, shop_a, photo_bytes, finding_with_artifact, anonymous
):
    claim = make_claim(shop_a)
    finding_with_artifact(claim, photo_bytes(1))
    url = api_a.get(f"/api/v1/claims/{claim.pk}/findings/").json()[0]["artifacts"][0]["url"]
    type(client_a).objects.filter(pk=client_a.pk).update(is_active=False, revoked_at=timezone.now())
    assert anonymous.get(url).status_code == 404


# --- webhook endpoints --------------------------------------------------------------------


def test_webhook_endpoint_crud_secret_shown_once(api_a):
    response = api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://platform.example/hooks", "event_types": ["claim.decided"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    url = f"/api/v1/webhook-endpoints/{created['id']}/"
    assert "secret" not in api_a.get(url).json()
    patched = api_a.patch(url, {"is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert api_a.delete(url).status_code == 204
    assert api_a.get(url).status_code == 404


def test_webhook_event_type_must_be_known(api_a):
    response = api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://platform.example/hooks", "event_types": ["claim.eaten"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "event_types.0"


@pytest.mark.parametrize("language,expected", [("en", "Not found."), ("zh-hans", None)])
def test_problem_detail_follows_accept_language(api_a, language, expected):
    response = api_a.get("/api/v1/claims/999999/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    if expected:
        assert response.json()["detail"] == expected
    else:
        assert response.json()["detail"] != "Not found."
