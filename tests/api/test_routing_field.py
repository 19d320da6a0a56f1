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
