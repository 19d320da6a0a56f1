"""The policy simulator on a small history whose outcome is counted by hand."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from refunds import routing, services, simulator
from refunds.models import RoutingRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(shop_a, make_claim, alice, charlie):
    """Five claims by one buyer, as the demo's seeded rules route them:

    ========  ======  ===============  ==================  ==============================
    claim     amount  earlier claims   live queue          how it ended
    ========  ======  ===============  ==================  ==============================
    small     50      0                standard (review)   shop silent, still in review
    denied    80      1                standard (review)   shop silent, reviewer denied it
    middle    600     2                standard            waiting for the shop
    repeat    900     3                repeat-claimant     waiting for the shop
    big       3500    4                high-value          waiting for the shop
    ========  ======  ===============  ==================  ==============================
    """
    small = make_claim(shop_a, amount=Decimal("50"))
    denied = make_claim(shop_a, amount=Decimal("80"))
    services.enforce_deadlines(now=denied.merchant_deadline + dt.timedelta(minutes=1))
    services.claim_assign(claim=denied, reviewer=charlie)
    services.claim_decide(
        claim=denied,
        reviewer=charlie,
        outcome="refund_denied",
        rationale="The cup in the photo is another model.",
    )
    claims = {
        "small": small,
        "denied": denied,
        "middle": make_claim(shop_a, amount=Decimal("600"), total=Decimal("600")),
        "repeat": make_claim(shop_a, amount=Decimal("900"), total=Decimal("900")),
        "big": make_claim(shop_a, amount=Decimal("3500"), total=Decimal("3500")),
    }
    return claims


def _counts(report, side):
    return {row.queue.slug: getattr(row, side) for row in report.rows if getattr(row, side)}


def test_simulator_with_a_lower_high_value_limit_matches_the_hand_count(history):
    high_value = RoutingRule.objects.get(name="Amount at or above 3,000 CNY")
    high_value.min_amount = Decimal("500")
    proposed = simulator.with_rule_changed(
        routing.live_rules(), routing.RuleSpec.from_rule(high_value), active=True
    )

    report = simulator.simulate(proposed=proposed, days=30)

    assert report.claims == 5
    assert _counts(report, "live") == {"standard": 3, "repeat-claimant": 1, "high-value": 1}
    # 600 and 900 now reach the high-value rule (position 30) before the repeat rule (40).
    assert _counts(report, "proposed") == {"standard": 2, "high-value": 3}
    assert report.moved == 2
    assert report.live.auto_decided == report.proposed.auto_decided == 0
    # Nothing was written: the live rule is unchanged.
    high_value.refresh_from_db()
    assert high_value.min_amount == Decimal("3000")


def test_simulator_counts_auto_decisions_a_reviewer_later_overturned(history):
    auto = RoutingRule.objects.get(auto_outcome="refund_approved")
    auto.is_active = True
    auto.photo_verdicts, auto.photo_verdicts_all = [], False  # no verdicts exist yet
    auto.max_amount = Decimal("100")
    proposed = simulator.with_rule_changed(
        routing.live_rules(), routing.RuleSpec.from_rule(auto), active=True
    )

    report = simulator.simulate(proposed=proposed, days=30)

    # The two small claims entered review with the shop silent: both would be refunded
    # without a human; the reviewer denied one of them.
    assert report.proposed.auto_decided == 2
    assert report.proposed.auto_overturned == 1
    assert report.live.auto_decided == 0
    # Auto-decided claims still count in the queue that rule names.
    assert _counts(report, "proposed") == _counts(report, "live")


def test_simulator_leaves_out_claims_routed_before_the_period(history):
    report = simulator.simulate(
        proposed=routing.live_rules(),
        days=30,
        now=history["big"].created_at + dt.timedelta(days=31),
    )
    assert report.claims == 0


def test_simulate_routing_command(history):
    rule = RoutingRule.objects.get(name="Amount at or above 3,000 CNY")
    out = StringIO()
    call_command(
        "simulate_routing",
        "--days",
        "7",
        "--change",
        f"{rule.pk}:min_amount=500",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["claims"] == 5
    assert report["queues"]["high-value"] == {"live": 1, "proposed": 3}
    assert report["queues"]["repeat-claimant"] == {"live": 1, "proposed": 0}

    switched_off = StringIO()
    call_command("simulate_routing", "--change", f"{rule.pk}:is_active=false", stdout=switched_off)
    text = switched_off.getvalue()
    # Without the amount rule the big claim (4 earlier claims) is a repeat claimant's.
    assert "5 claims routed in the last 30 days; 1 would go to another queue." in text
    assert "repeat-claimant" in text


def test_admin_simulates_an_edited_rule_without_saving_it(admin_client, history):
    rule = RoutingRule.objects.get(name="Amount at or above 3,000 CNY")
    data = {
        "position": str(rule.position),
        "name": rule.name,
        "queue": str(rule.queue_id),
        "is_active": "on",
        "min_amount": "500",
        "_simulate": "1",
        "simulate_days": "30",
    }
    response = admin_client.post(
        f"/admin/refunds/routingrule/{rule.pk}/change/", data, HTTP_ACCEPT_LANGUAGE="en"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Policy simulator" in html
    assert (
        '<tr data-queue="high-value"><td>High value</td>'
        "<td data-live>1</td><td data-proposed>3</td>" in html
    )
    rule.refresh_from_db()
    assert rule.min_amount == Decimal("3000")
