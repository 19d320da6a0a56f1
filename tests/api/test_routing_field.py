"""The claim's routing in the API: which rule fired and the inputs it saw."""

from decimal import Decimal

import pytest

from refunds.models import ReviewQueue, RoutingRule

pytestmark = pytest.mark.django_db


def test_claim_shows_the_rule_that_routed_it_and_its_inputs(api_a, make_claim, shop_a):
    RoutingRule.objects.all().delete()
    high = ReviewQueue.objects.get(slug="high-value")
    RoutingRule.objects.create(position=1, name="big", queue=high, min_amount=Decimal("150"))
    claim = make_claim(shop_a, amount=Decimal("180.00"))
    routing = api_a.get(f"/api/v1/claims/{claim.pk}/").json()["routing"]
    assert routing["rule"] == "big"
    assert routing["queue"] == "high-value"
    assert routing["stage"] == "checks"
    assert routing["conditions"] == ["amount"]
    assert routing["inputs"]["amount"] == "180.00"
    assert routing["inputs"]["buyer_claims_90d"] == 0
    assert routing["inputs"]["merchant_answered"] is None
    listed = api_a.get("/api/v1/claims/").json()["results"][0]["routing"]
    assert listed == routing


def test_claim_not_routed_yet_has_no_routing(api_a, make_claim, shop_a):
    claim = make_claim(shop_a, evaluate=False)
    assert api_a.get(f"/api/v1/claims/{claim.pk}/").json()["routing"] is None


def test_a_list_builds_the_routing_serializer_once_not_once_per_claim(
    api_a, make_claim, shop_a, monkeypatch
):
    from api import serializers

    for _n in range(3):
        make_claim(shop_a)
    built = []
    original = serializers.RoutingSerializer.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(serializers.RoutingSerializer, "__init__", counting)

    listed = api_a.get("/api/v1/claims/").json()["results"]

    assert len(listed) == 3 and all(claim["routing"] for claim in listed)
    assert len(built) == 1


def test_a_list_reads_one_routing_record_per_claim_the_latest_and_no_shop_row(
    api_a, make_claim, shop_a
):
    """A claim routed again (by the checks, then at review) has several routing
    records; a list page reads only each claim's latest, in one query, and no shop row
    (the API shows the shop's id, which the claim row holds)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from refunds import services
    from refunds.models import RoutingRecord

    claims = [make_claim(shop_a) for _n in range(3)]
    for claim in claims:
        services.claim_evaluate(claim_id=claim.pk)  # a second routing record
    assert all(RoutingRecord.objects.filter(claim=c).count() >= 2 for c in claims)

    connection.queries_log.clear()  # a full log (9,000) would capture nothing
    with CaptureQueriesContext(connection) as captured:
        listed = api_a.get("/api/v1/claims/").json()["results"]
    sql = [q["sql"] for q in captured]  # before the next request resets the log

    assert len(listed) == 3
    for claim in listed:
        latest = RoutingRecord.objects.filter(claim_id=claim["id"]).order_by("-id").first()
        assert claim["routing"]["rule_id"] == latest.rule_id
        assert (
            claim["routing"]["routed_at"]
            == api_a.get(f"/api/v1/claims/{claim['id']}/").json()["routing"]["routed_at"]
        )
        assert claim["merchant"] == shop_a.pk
    routing_reads = [q for q in sql if "refunds_routingrecord" in q]
    assert len(routing_reads) == 1
    assert "ROW_NUMBER" in routing_reads[0].upper()  # the latest per claim, not every one
    assert not any('"merchants_merchant"."name"' in q for q in sql)
