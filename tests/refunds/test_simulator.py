"""The policy simulator on a small history whose outcome is counted by hand."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refunds import routing, services, simulator
from refunds.models import RoutingRule

pytestmark = pytest.mark.django_db
# The default platform's rules (every platform has rules of the same names: refunds.seed).
DEFAULTS = {"queue__tenant__slug": "default"}


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


# --- One platform at a time -------------------------------------------------------------


@pytest.fixture
def other_platform(history, django_user_model):
    """A second platform with two claims of the same amounts as the history's middle and
    big claims; its own seed rules (``refunds.seed``) send the big one to its own
    high-value queue and the middle one to its own standard queue."""
    from tests.platforms import claim_in_review, platform_world

    world = platform_world("market-b", django_user_model=django_user_model)
    claims = [
        claim_in_review(world, 1, amount=Decimal("600"), total=Decimal("600")),
        claim_in_review(world, 2, amount=Decimal("3500"), total=Decimal("3500")),
    ]
    return world, claims


def test_simulator_replays_one_platform_with_its_own_rules(other_platform):
    world, _claims = other_platform
    high_value = RoutingRule.objects.get(name="Amount at or above 3,000 CNY", **DEFAULTS)
    high_value.min_amount = Decimal("500")
    default_id = high_value.queue.tenant_id
    proposed = simulator.with_rule_changed(
        routing.live_rules(tenant_id=default_id),
        routing.RuleSpec.from_rule(high_value),
        active=True,
    )

    report = simulator.simulate(proposed=proposed, days=30, tenant_id=default_id)

    # The default platform's five claims only: the other platform's 600 and 3,500 CNY
    # claims are not sent to the default platform's high-value queue.
    assert report.claims == 5
    assert _counts(report, "proposed") == {"standard": 2, "high-value": 3}
    assert {row.queue.tenant_id for row in report.rows} == {default_id}

    theirs = simulator.simulate(
        proposed=routing.live_rules(tenant_id=world.platform.pk),
        days=30,
        tenant_id=world.platform.pk,
    )
    assert theirs.claims == 2
    rows = {(row.queue.tenant_id, row.queue.slug, row.live, row.proposed) for row in theirs.rows}
    assert rows == {(world.platform.pk, "standard", 1, 1), (world.platform.pk, "high-value", 1, 1)}


def test_simulate_routing_command_takes_the_platform(other_platform):
    world, _claims = other_platform
    out = StringIO()
    call_command("simulate_routing", "--platform", "market-b", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["platform"] == "market-b"
    assert report["claims"] == 2
    assert report["queues"] == {
        "high-value": {"live": 1, "proposed": 1},
        "standard": {"live": 1, "proposed": 1},
    }

    # A rule of another platform cannot be changed in this platform's simulation.
    rule = RoutingRule.objects.get(name="Amount at or above 3,000 CNY", **DEFAULTS)
    with pytest.raises(CommandError, match="another platform"):
        call_command(
            "simulate_routing",
            "--platform",
            "market-b",
            "--change",
            f"{rule.pk}:min_amount=500",
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="no platform"):
        call_command("simulate_routing", "--platform", "nowhere", stdout=StringIO())

    # Without --platform: the default platform, as before.
    default = StringIO()
    call_command("simulate_routing", "--json", stdout=default)
    assert json.loads(default.getvalue())["claims"] == 5


def test_admin_simulation_replays_the_rules_platform(admin_client, other_platform):
    world, _claims = other_platform
    from refunds.models import ReviewQueue

    theirs = ReviewQueue.objects.get(tenant=world.platform, slug="standard")
    data = {
        "position": "25",  # before its high-value rule (30)
        "name": "Market B: 500 CNY and more",
        "queue": str(theirs.pk),
        "is_active": "on",
        "min_amount": "500",
        "_simulate": "1",
        "simulate_days": "30",
    }
    response = admin_client.post("/admin/refunds/routingrule/add/", data, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert "2 claims routed in the last 30 days" in html
    # its own queues only: both claims to its standard queue, none left in its high-value
    assert '<tr data-queue="standard"><td>Standard</td><td data-live>1</td>' in html
    assert "<td data-live>1</td><td data-proposed>2</td>" in html
    assert html.count('<tr data-queue="high-value">') == 1
    assert "<td data-live>1</td><td data-proposed>0</td>" in html
    assert not RoutingRule.objects.filter(name__startswith="Market B").exists()


def test_simulator_replays_the_shops_ai_flag_as_routing_does(history, alice):
    """A claim the shop flagged as AI-made goes to the forensic queue whatever the rules
    say, in the replay as live."""
    claim = history["big"]
    services.claim_flag_ai_suspect(claim=claim, user=alice)
    # Routed again as it enters review: the flag is in the recorded inputs.
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="An AI-made picture."
    )
    assert routing.latest_record(claim_id=claim.pk).inputs["merchant_suspects_ai"] is True

    report = simulator.simulate(proposed=routing.live_rules(), days=30)

    # Not the high-value queue its amount would reach, in both replays.
    assert _counts(report, "live") == {"standard": 3, "repeat-claimant": 1, "forensic": 1}
    assert _counts(report, "proposed") == _counts(report, "live")
