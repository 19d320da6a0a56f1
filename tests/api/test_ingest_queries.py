"""Claim ingestion through the API (issue 13): an order and a claim cost a fixed,
pinned number of statements, and what was just created is answered, not read back."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from refunds.models import RefundClaim
from tests.api.test_endpoints import order_body


def _post(api, path, body):
    with CaptureQueriesContext(connection) as captured:
        response = api.post(path, body, format="json")
    assert response.status_code == 201, response.content
    return response.json(), [q["sql"] for q in captured.captured_queries]


def _statements(sql):
    return [q for q in sql if not q.startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))]


def test_an_order_and_its_claim_cost_a_pinned_number_of_statements(api_a, shop_a):
    # given: the buyer already known (the common case of a platform's traffic)
    api_a.post("/api/v1/orders/", order_body(shop_a.pk, platform_id="first"), format="json")
    body = order_body(shop_a.pk, platform_id="second")
    body["buyer"]["platform_id"] = "buyer-first"

    order, order_sql = _post(api_a, "/api/v1/orders/", body)
    claim, claim_sql = _post(
        api_a, "/api/v1/claims/", {"order": order["id"], "amount": "99.00", "reason": "damaged"}
    )

    # then: the answers are what was created
    assert order["buyer"]["platform_id"] == "buyer-first" and len(order["items"]) == 1
    assert claim["status"] == "received" and claim["routing"] is None
    assert claim["order_platform_id"] == "second" and claim["queue"] is None
    stored = RefundClaim.objects.get(pk=claim["id"])
    assert (stored.merchant_id, stored.tenant_id) == (shop_a.pk, shop_a.tenant_id)
    # client, shop, buyer, order + item inserts (the answer's items are the ones inserted)
    assert len(_statements(order_sql)) == 5
    # client, order, open-claim check, claim insert, counter, audit append of a new chain
    # (PostgreSQL: its place and the legacy head in one statement, then the insert;
    # SQLite: next seq, legacy head, insert), webhook endpoints
    assert len(_statements(claim_sql)) == (8 if connection.vendor == "postgresql" else 9)
    reads_back = [
        q for q in claim_sql if q.startswith("SELECT") and 'FROM "refunds_refundclaim"' in q
    ]
    assert len(reads_back) == 1  # the open-claim check only, no read of the new claim
