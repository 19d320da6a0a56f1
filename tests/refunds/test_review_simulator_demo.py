"""The policy simulator on the demo data with one rule changed, checked against a count
made in this test from the claims' recorded routing (issue 11, "Done when")."""

from __future__ import annotations

import json
import os
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from refunds import routing, simulator
from refunds.models import RefundClaim, RoutingRecord, RoutingRule

# The seeded rules in position order (refunds/0008_review_seed_queues): legal (5),
# forensic (10, 20), high-value (30), repeat-claimant (40); nothing else is active.
# Lowering the high-value limit reaches claims only the rules after it would catch.
AFTER_HIGH_VALUE = {"repeat-claimant", "standard"}
NEW_LIMIT = Decimal("250")


@pytest.fixture
def demo(media_in_tmp):
    """``load_demo`` commits (its claims are checked after each commit): a transactional
    database, with the rows the migrations seed put back after earlier flushes."""
    from tests.conftest import reseed_reference_data

    reseed_reference_data()
    with open(os.devnull, "w") as quiet:
        call_command("load_demo", stdout=quiet)


def _hand_count():
    """Per queue, from each claim's latest recorded routing (the queue live routing
    chose and the amount it saw), without the simulator: live, and with the limit
    lowered to ``NEW_LIMIT``."""
    latest = {}
    for record in RoutingRecord.objects.select_related("queue").order_by("claim_id", "id"):
        latest[record.claim_id] = record
    live, proposed = Counter(), Counter()
    for record in latest.values():
        live[record.queue.slug] += 1
        amount = Decimal(record.inputs["amount"])
        moves = record.queue.slug in AFTER_HIGH_VALUE and amount >= NEW_LIMIT
        proposed["high-value" if moves else record.queue.slug] += 1
    return latest, live, proposed


@pytest.mark.django_db(transaction=True)
def test_simulator_on_the_demo_data_matches_the_hand_count(demo):
    # given: every demo claim that went through routing recorded its inputs
    latest, live, proposed = _hand_count()
    # (tests run the worker's tasks eagerly: the loader's two fresh claims are checked too)
    assert set(latest) == set(RefundClaim.objects.values_list("pk", flat=True))
    assert len(latest) == 34
    for record in latest.values():
        assert {"risk_score", "amount", "buyer_claims_90d", "photo_verdicts"} <= set(record.inputs)
    # The demo as loaded, counted by hand from the loader's plan (claim amounts 39 +
    # 37·i mod 400 CNY, the serial refunder's 1,899): nothing is high value yet, six
    # routed claims of 250 CNY or more wait in standard or repeat-claimant (claim-007,
    # -008, -010, -017, -019 and -028: 298, 335, 409, 268, 342 and 275 CNY).
    assert live == {"forensic": 19, "standard": 12, "legal": 2, "repeat-claimant": 1}
    assert proposed == {"forensic": 19, "standard": 7, "high-value": 6, "legal": 2}

    # when: the high-value limit is lowered from 3,000 to 250 CNY, in the simulator only
    rule = RoutingRule.objects.get(name="Amount at or above 3,000 CNY")
    rule.min_amount = NEW_LIMIT
    changed = simulator.with_rule_changed(
        routing.live_rules(tenant_id=rule.queue.tenant_id),
        routing.RuleSpec.from_rule(rule),
        active=True,
    )
    report = simulator.simulate(proposed=changed, days=30, tenant_id=rule.queue.tenant_id)

    # then: the report's per-queue counts are the hand count
    assert report.claims == 34
    assert {r.queue.slug: r.live for r in report.rows if r.live} == live
    assert {r.queue.slug: r.proposed for r in report.rows if r.proposed} == proposed
    assert report.moved == 6
    assert report.live.auto_decided == report.proposed.auto_decided == 0

    # and: the management command reports the same
    out = StringIO()
    call_command("simulate_routing", "--change", f"{rule.pk}:min_amount=250", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["claims"] == 34
    assert printed["moved"] == 6
    assert {slug: row["live"] for slug, row in printed["queues"].items() if row["live"]} == live
    assert {
        slug: row["proposed"] for slug, row in printed["queues"].items() if row["proposed"]
    } == proposed

    # and: nothing was saved
    rule.refresh_from_db()
    assert rule.min_amount == Decimal("3000")
