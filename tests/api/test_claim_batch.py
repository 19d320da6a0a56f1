"""POST /api/v1/claims/batch/ (issue 13, ingestion): many orders with their claims in one
request, each item checked and answered on its own, written by the services of the
single endpoints, in a number of statements that does not grow with the batch."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from refunds.models import AuditEvent, ClaimStatusCount, Order, OrderItem, RefundClaim
from tests.api.test_endpoints import order_body

URL = "/api/v1/claims/batch/"


def item(shop_id: int, number: int, *, amount="99.00", claim_id=None, **order):
    body = order_body(shop_id, platform_id=f"order-{number}")
    body.update(order)
    claim = {"amount": amount, "reason": "damaged", "description": "裂了"}
    if claim_id is not None:
        claim["platform_id"] = claim_id
    return {"order": body, "claim": claim}


def post(api, items, **headers):
    return api.post(URL, {"items": items}, format="json", **headers)


def _statements(captured):
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))
    ]


def test_a_batch_writes_every_order_with_its_claim(
    api_a, shop_a, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api_a, [item(shop_a.pk, n, claim_id=f"c-{n}") for n in range(3)])

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["refused"]) == (3, 0)
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    for n, result in enumerate(body["results"]):
        assert result["status"] == 201 and result["claim_status"] == "received"
        claim = RefundClaim.objects.select_related("order").get(pk=result["claim"])
        assert claim.order_id == result["order"] and claim.order.platform_id == f"order-{n}"
        assert (claim.merchant_id, claim.tenant_id, claim.platform_id) == (
            shop_a.pk,
            shop_a.tenant_id,
            f"c-{n}",
        )
        assert claim.order.buyer_name == "张三" and claim.order.total_amount == 199
        assert OrderItem.objects.filter(order=claim.order).count() == 1
        # the claim's arrival is what claim_submit writes: its first audit event
        event = AuditEvent.objects.get(claim=claim)
        assert (event.action, event.to_status, event.chain_seq) == (
            "claim_submitted",
            "received",
            1,
        )
    counted = ClaimStatusCount.objects.filter(merchant=shop_a, status="received")
    assert sum(c.count for c in counted) == 3
    assert len(callbacks) == 1  # one evaluation message for the batch, after the commit


def test_the_claims_of_a_batch_are_evaluated_after_the_commit(
    api_a, shop_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = post(api_a, [item(shop_a.pk, n) for n in range(25)]).json()

    # no evidence: checked at once, waiting for the merchant (two messages of 20 and 5)
    ids = [r["claim"] for r in body["results"]]
    statuses = set(RefundClaim.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {"awaiting_merchant"}


def test_the_batch_audit_events_verify(api_a, shop_a):
    from refunds.audit import verify_chain

    post(api_a, [item(shop_a.pk, n) for n in range(2)])
    checked, broken = verify_chain()
    assert broken is None and checked == 2


def test_an_invalid_item_is_refused_alone_and_writes_nothing(api_a, shop_a):
    items = [
        item(shop_a.pk, 1),
        item(shop_a.pk, 2, amount="500.00"),  # more than the order's 199
        item(shop_a.pk, 3, paid_at="not a date"),
        {"order": "nonsense"},
        item(shop_a.pk, 5),
    ]

    body = post(api_a, items).json()

    statuses = [r["status"] for r in body["results"]]
    assert statuses == [201, 400, 400, 400, 201]
    assert (body["created"], body["refused"]) == (2, 3)
    amount, date, shape = body["results"][1], body["results"][2], body["results"][3]
    assert amount["code"] == "invalid" and "199" in amount["detail"]
    assert date["code"] == "validation_error"
    assert [e["field"] for e in date["errors"]] == ["order.paid_at"]
    assert shape["code"] == "validation_error" and shape["claim"] is None
    # nothing half-written: the refused items left neither an order nor a claim
    assert set(Order.objects.values_list("platform_id", flat=True)) == {"order-1", "order-5"}
    assert RefundClaim.objects.count() == 2


def test_an_item_naming_a_shop_or_product_of_another_client_is_refused(
    api_a, shop_a, shop_b, product_b
):
    body = post(
        api_a,
        [
            item(shop_b.pk, 1),
            item(
                shop_a.pk, 2, items=[{"title": "x", "unit_price": "10.00", "product": product_b.pk}]
            ),
            item(shop_a.pk, 3),
        ],
    ).json()

    first, second, third = body["results"]
    assert first["status"] == 400 and first["errors"][0]["field"] == "order.merchant"
    assert second["status"] == 400 and second["errors"][0]["field"] == "order.items.0.product"
    assert third["status"] == 201
    assert not Order.objects.filter(merchant=shop_b).exists()


def test_the_same_order_twice_in_a_batch_keeps_the_first(api_a, shop_a):
    body = post(api_a, [item(shop_a.pk, 1), item(shop_a.pk, 1, amount="10.00")]).json()

    first, second = body["results"]
    assert first["status"] == 201
    assert second["status"] == 409 and second["code"] == "already_exists"
    assert RefundClaim.objects.get().amount == 99


def test_the_same_claim_id_twice_in_a_batch_keeps_the_first(api_a, shop_a):
    body = post(
        api_a, [item(shop_a.pk, 1, claim_id="c-1"), item(shop_a.pk, 2, claim_id="c-1")]
    ).json()

    assert [r["status"] for r in body["results"]] == [201, 409]
    assert not Order.objects.filter(platform_id="order-2").exists()


def test_an_item_already_recorded_by_an_earlier_batch_names_what_is_recorded(api_a, shop_a):
    # given
    first = post(api_a, [item(shop_a.pk, 1, claim_id="c-1")]).json()["results"][0]

    # when: a second batch repeats the order, and reuses the claim id on a new order
    body = post(
        api_a, [item(shop_a.pk, 1), item(shop_a.pk, 2, claim_id="c-1"), item(shop_a.pk, 3)]
    ).json()

    # then
    again, reused, new = body["results"]
    assert again["status"] == 409 and (again["order"], again["claim"]) == (
        first["order"],
        first["claim"],
    )
    assert reused["status"] == 409 and reused["claim"] == first["claim"]
    assert new["status"] == 201
    assert RefundClaim.objects.count() == 2


def test_an_order_recorded_through_the_single_endpoint_is_a_409_in_a_batch(api_a, shop_a):
    order = api_a.post(
        "/api/v1/orders/", order_body(shop_a.pk, platform_id="order-1"), format="json"
    )
    assert order.status_code == 201

    result = post(api_a, [item(shop_a.pk, 1)]).json()["results"][0]

    assert result["status"] == 409 and result["order"] == order.json()["id"]
    assert result["claim"] is None


def recorded_orders(api, shop_id: int, count: int, first: int = 1) -> list[int]:
    """Orders sent before their claims, through ``POST /orders/``."""
    ids = []
    for n in range(first, first + count):
        response = api.post(
            "/api/v1/orders/", order_body(shop_id, platform_id=f"earlier-{n}"), format="json"
        )
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


def claim_on(order_id: int, *, amount="99.00", claim_id=None):
    claim = {"order": order_id, "amount": amount, "reason": "damaged"}
    if claim_id is not None:
        claim["platform_id"] = claim_id
    return {"claim": claim}


def test_a_batch_writes_claims_on_orders_recorded_before_beside_new_orders(api_a, shop_a):
    # given: two orders sent when they were placed
    earlier = recorded_orders(api_a, shop_a.pk, 2)

    # when: their claims come later, in one batch with a new order and its claim
    body = post(
        api_a,
        [claim_on(earlier[0], claim_id="c-1"), item(shop_a.pk, 9), claim_on(earlier[1])],
    ).json()

    # then
    assert [r["status"] for r in body["results"]] == [201, 201, 201]
    assert [body["results"][i]["order"] for i in (0, 2)] == earlier
    for result in body["results"]:
        claim = RefundClaim.objects.get(pk=result["claim"])
        assert claim.order_id == result["order"] and claim.status == "received"
        assert AuditEvent.objects.filter(claim=claim, action="claim_submitted").count() == 1
    assert Order.objects.count() == 3  # the recorded orders were not written again
    assert RefundClaim.objects.get(order_id=earlier[0]).platform_id == "c-1"


def test_a_recorded_order_with_an_open_claim_is_a_409_naming_it(api_a, shop_a):
    # given: an order with an open claim, and one whose claim was withdrawn
    busy, free = recorded_orders(api_a, shop_a.pk, 2)
    open_claim = post(api_a, [claim_on(busy)]).json()["results"][0]["claim"]
    withdrawn = post(api_a, [claim_on(free)]).json()["results"][0]["claim"]
    assert api_a.post(f"/api/v1/claims/{withdrawn}/withdraw/", {}, format="json").status_code == 200

    # when
    again, after_withdrawal = post(api_a, [claim_on(busy), claim_on(free)]).json()["results"]

    # then
    assert again["status"] == 409 and again["code"] == "already_exists"
    assert (again["order"], again["claim"]) == (busy, open_claim)
    assert after_withdrawal["status"] == 201  # a new claim once the last one is closed
    assert RefundClaim.objects.filter(order_id=busy).count() == 1


def test_a_recorded_order_twice_in_a_batch_keeps_the_first(api_a, shop_a):
    (order,) = recorded_orders(api_a, shop_a.pk, 1)

    first, second = post(api_a, [claim_on(order), claim_on(order, amount="10.00")]).json()[
        "results"
    ]

    assert (first["status"], second["status"]) == (201, 409)
    assert RefundClaim.objects.get().amount == 99


def test_claims_on_recorded_orders_are_checked_like_single_claims(api_a, api_b, shop_a, shop_b):
    (mine,) = recorded_orders(api_a, shop_a.pk, 1)
    (theirs,) = recorded_orders(api_b, shop_b.pk, 1, first=5)
    both = item(shop_a.pk, 7)
    both["claim"]["order"] = mine

    body = post(
        api_a,
        [
            claim_on(mine, amount="500.00"),  # more than the order's 199
            claim_on(theirs),  # another client's order does not exist for this one
            claim_on(10**9),
            both,  # a new order and a recorded one for one claim
            {"claim": {"amount": "1.00", "reason": "damaged"}},  # no order at all
        ],
    ).json()

    over, foreign, unknown, twice, neither = body["results"]
    assert over["status"] == 400 and over["code"] == "invalid" and "199" in over["detail"]
    for refused in (foreign, unknown):
        assert refused["status"] == 400 and refused["code"] == "validation_error"
        assert [e["field"] for e in refused["errors"]] == ["claim.order"]
        assert refused["order"] is None
    for refused in (twice, neither):
        assert refused["status"] == 400 and [e["field"] for e in refused["errors"]] == ["order"]
    assert not RefundClaim.objects.exists()
    assert not Order.objects.filter(platform_id="order-7").exists()


def test_claims_on_recorded_orders_cost_the_same_statements_for_10_and_for_50(api_a, shop_a):
    orders = recorded_orders(api_a, shop_a.pk, 60)

    counts = []
    for chunk in (orders[:10], orders[10:]):
        with CaptureQueriesContext(connection) as captured:
            body = post(api_a, [claim_on(pk, claim_id=f"c-{pk}") for pk in chunk]).json()
        assert body["created"] == len(chunk)
        counts.append(len(_collapsed(_statements(captured))))

    assert counts[0] == counts[1]


def test_a_batch_replays_with_its_idempotency_key(api_a, shop_a):
    items = [item(shop_a.pk, n) for n in range(2)]

    first = post(api_a, items, HTTP_IDEMPOTENCY_KEY="batch-1")
    again = post(api_a, items, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert RefundClaim.objects.count() == 2
    other = post(api_a, items[:1], HTTP_IDEMPOTENCY_KEY="batch-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_a_batch_of_more_than_100_items_is_a_413(api_a, shop_a):
    response = post(api_a, [item(shop_a.pk, n) for n in range(101)])

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "batch_too_large"
    assert not Order.objects.exists()


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": "x"}, []])
def test_a_batch_without_items_is_a_400(api_a, body):
    response = api_a.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_batches_have_their_own_rate_limit(api_a, shop_a, monkeypatch):
    from api.throttling import PlatformClientRateThrottle

    monkeypatch.setattr(
        PlatformClientRateThrottle,
        "THROTTLE_RATES",
        {"platform_client": "100/min", "platform_client_batch": "1/min"},
    )
    assert post(api_a, [item(shop_a.pk, 1)]).status_code == 200
    refused = post(api_a, [item(shop_a.pk, 2)])
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert api_a.get("/api/v1/claims/").status_code == 200  # the other endpoints still answer


def test_a_batch_needs_a_client_token(anonymous, shop_a):
    assert post(anonymous, [item(shop_a.pk, 1)]).status_code == 401


def test_another_platforms_client_cannot_touch_this_platforms_data(django_user_model):
    from tests.platforms import platform_world

    alpha = platform_world("alpha", django_user_model=django_user_model)
    beta = platform_world("beta", django_user_model=django_user_model)
    api_alpha, api_beta = APIClient(), APIClient()
    api_alpha.credentials(HTTP_AUTHORIZATION=f"Token {alpha.token}")
    api_beta.credentials(HTTP_AUTHORIZATION=f"Token {beta.token}")
    written = post(api_alpha, [item(alpha.shop.pk, 1, claim_id="c-1")]).json()["results"][0]
    assert written["status"] == 201

    # beta names alpha's shop: refused, nothing written there
    foreign = post(api_beta, [item(alpha.shop.pk, 2)]).json()["results"][0]
    assert foreign["status"] == 400 and foreign["errors"][0]["field"] == "order.merchant"
    # beta's own shop with the same order, claim and buyer ids: its own rows, and no
    # hint of alpha's (no 409, no id of alpha's)
    own = post(api_beta, [item(beta.shop.pk, 1, claim_id="c-1")]).json()["results"][0]
    assert own["status"] == 201 and own["claim"] != written["claim"]
    claim = RefundClaim.objects.select_related("order__buyer").get(pk=own["claim"])
    assert claim.tenant_id == beta.platform.pk and claim.order.buyer.tenant_id == beta.platform.pk
    alphas = RefundClaim.objects.select_related("order__buyer").get(pk=written["claim"])
    assert alphas.order.buyer.tenant_id == alpha.platform.pk
    assert alphas.order.buyer.display_name == "张三"  # the batch's name, not overwritten
    assert api_beta.get(f"/api/v1/claims/{written['claim']}/").status_code == 404


def _batch_statements(api, shop, first: int, size: int) -> list[str]:
    items = [item(shop.pk, first + n, claim_id=f"c-{first + n}") for n in range(size)]
    for n, body in enumerate(items):  # half of the buyers are new, half known
        body["order"]["buyer"]["platform_id"] = f"buyer-{n % 2}-{first + n if n % 2 else 0}"
    with CaptureQueriesContext(connection) as captured:
        response = post(api, items)
    assert response.json()["created"] == size
    return _statements(captured)


def _collapsed(statements: list[str]) -> list[str]:
    """SQLite takes at most 999 parameters a statement, so Django splits a bulk INSERT of
    50 claims in two: one INSERT into a table, however many pieces it was sent in."""
    out: list[str] = []
    for sql in statements:
        table = sql.split('"')[1] if sql.startswith("INSERT") else None
        if table and out and out[-1] == f"INSERT {table}":
            continue
        out.append(f"INSERT {table}" if table else sql)
    return out


def test_a_batch_costs_the_same_statements_for_10_and_for_50_items(api_a, shop_a):
    # given: one buyer already known
    post(api_a, [item(shop_a.pk, 0)])

    ten = _batch_statements(api_a, shop_a, 100, 10)
    fifty = _batch_statements(api_a, shop_a, 200, 50)

    assert len(_collapsed(ten)) == len(_collapsed(fifty))
    if connection.vendor == "postgresql":
        assert len(ten) == len(fifty)
    # client; shops; recorded orders, claim ids; buyers read, new buyers; orders, items;
    # claims; counters; audit (PostgreSQL: places and legacy head in one statement;
    # SQLite: next seq, legacy head); events; webhook endpoints
    expected = 13 if connection.vendor == "postgresql" else 14
    assert len(ten) == expected, "\n".join(ten)


def test_a_batch_with_a_webhook_endpoint_still_costs_a_fixed_number(api_a, shop_a, client_a):
    from refunds.models import WebhookDelivery
    from refunds.services import webhook_endpoint_create

    webhook_endpoint_create(client=client_a, url="https://a.example/hook")
    ten = _batch_statements(api_a, shop_a, 100, 10)
    fifty = _batch_statements(api_a, shop_a, 200, 50)

    assert len(_collapsed(ten)) == len(_collapsed(fifty))
    assert WebhookDelivery.objects.filter(event_type="claim.received").count() == 60
