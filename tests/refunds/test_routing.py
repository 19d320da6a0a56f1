"""Routing rules v2: conditions on the claim's recorded inputs, validation on save, the
record of which rule fired, and rules that decide by themselves as a claim enters review."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from refunds import routing, services
from refunds.models import (
    AuditEvent,
    Decision,
    ReviewQueue,
    RoutingRecord,
    RoutingRule,
)
from refunds.routing import RoutingInputs, RuleSpec, first_match, rule_conditions

pytestmark = pytest.mark.django_db


def add_finding(claim, code: str, weight: int, severity: str = "low"):
    """A checked buyer photo with one finding, as the checks would have stored it."""
    from evidence.models import CheckRun, EvidenceFile, Finding

    evidence = EvidenceFile(
        attached_to="claim",
        claim=claim,
        submitted_by="buyer",
        sha256=f"{claim.pk:064d}",
        content_type="image/jpeg",
        size=10,
        status="checked",
    )
    evidence.original.name = "never-read.jpg"
    evidence.save()
    run = CheckRun.objects.create(
        evidence=evidence,
        check_name="metadata",
        check_version=1,
        status="done",
        started_at=timezone.now(),
    )
    return Finding.objects.create(
        check_run=run,
        evidence=evidence,
        claim=claim,
        code=code,
        severity=severity,
        weight=weight,
        message=code,
    )


@pytest.fixture
def forensic():
    return ReviewQueue.objects.get_or_create(
        slug="forensic-test", defaults={"name": "Forensic (test)", "priority": 5}
    )[0]


def inputs(**overrides) -> RoutingInputs:
    values = {
        "risk_score": 10,
        "finding_codes": (),
        "amount": Decimal("100"),
        "reason": "damaged",
        "merchant_id": 1,
    }
    values.update(overrides)
    return RoutingInputs(**values)


def test_zero_weight_finding_code_routes_the_claim(shop_a, make_claim, forensic):
    # given a rule on a code that adds nothing to the score
    RoutingRule.objects.all().delete()
    RoutingRule.objects.create(
        position=1, name="stripped metadata", queue=forensic, finding_codes=["check_error"]
    )
    claim = make_claim(shop_a, evaluate=False)
    add_finding(claim, "check_error", weight=0, severity="error")
    # when the claim is evaluated
    services.claim_evaluate(claim_id=claim.pk)
    claim.refresh_from_db()
    # then the rule fired although the score did not move
    assert claim.risk_score == 0
    assert claim.queue == forensic
    record = routing.latest_record(claim_id=claim.pk)
    assert record.rule_name == "stripped metadata"
    assert record.inputs["finding_codes"] == ["check_error"]
    assert record.matched == ["finding_codes"]


def test_every_condition_is_a_range_or_a_set():
    rule = RuleSpec(
        pk=1,
        name="r",
        queue_id=1,
        min_risk_score=40,
        max_risk_score=69,
        min_amount=Decimal("50"),
        max_amount=Decimal("500"),
        reasons=frozenset({"damaged"}),
        merchant_ids=frozenset({1}),
    )
    assert rule_conditions(rule, inputs(risk_score=40)) == [
        "risk_score",
        "amount",
        "reason",
        "merchant",
    ]
    assert rule_conditions(rule, inputs(risk_score=70)) is None
    assert rule_conditions(rule, inputs(risk_score=50, amount=Decimal("501"))) is None
    assert rule_conditions(rule, inputs(risk_score=50, reason="quality")) is None
    assert rule_conditions(rule, inputs(risk_score=50, merchant_id=2)) is None


def test_buyer_credit_conditions():
    repeat = RuleSpec(pk=1, name="repeat", queue_id=1, min_buyer_claims_90d=3)
    assert rule_conditions(repeat, inputs(buyer_claims_90d=3)) == ["buyer_claims_90d"]
    assert rule_conditions(repeat, inputs(buyer_claims_90d=2, buyer_claims_365d=9)) is None
    legal = RuleSpec(pk=2, name="legal", queue_id=1, fraud_tier="relatively_large")
    assert rule_conditions(legal, inputs(buyer_fraud_tier="")) is None
    assert rule_conditions(legal, inputs(buyer_fraud_tier="huge")) == ["fraud_tier"]
    huge = RuleSpec(pk=3, name="huge", queue_id=1, fraud_tier="huge")
    assert rule_conditions(huge, inputs(buyer_fraud_tier="relatively_large")) is None
    good = RuleSpec(pk=4, name="good", queue_id=1, fraud_tier="none", max_confirmed_forgeries=0)
    assert rule_conditions(good, inputs()) == ["confirmed_forgeries", "fraud_tier"]
    assert rule_conditions(good, inputs(buyer_confirmed_forgeries=1)) is None


def test_photo_verdicts_any_or_every():
    any_copy = RuleSpec(pk=1, name="copy", queue_id=1, photo_verdicts=frozenset({"copy"}))
    assert rule_conditions(any_copy, inputs(photo_verdicts=("clean", "copy"))) is not None
    assert rule_conditions(any_copy, inputs(photo_verdicts=("clean",))) is None
    all_clean = RuleSpec(
        pk=2, name="clean", queue_id=1, photo_verdicts=frozenset({"clean"}), photo_verdicts_all=True
    )
    assert rule_conditions(all_clean, inputs(photo_verdicts=("clean", "clean"))) is not None
    assert rule_conditions(all_clean, inputs(photo_verdicts=("clean", "copy"))) is None
    # No verdicts yet: "every photo is clean" does not hold.
    assert rule_conditions(all_clean, inputs(photo_verdicts=())) is None


def test_routing_reads_each_buyer_photos_current_verdict(shop_a, make_claim, forensic):
    """The verdicts the checks stored (evidence.verdicts) are routing's photo verdicts:
    a rule on "edited copy" fires, and the record shows the verdict it saw."""
    from evidence.pipeline import record_verdict

    claim = make_claim(shop_a)
    assert routing.photo_verdicts(claim_id=claim.pk) == []  # nothing checked yet
    finding = add_finding(claim, "reference_altered_region", 90, severity="critical")
    assert record_verdict(finding.evidence_id) == "edited_copy"
    RoutingRule.objects.create(
        name="edited copies", queue=forensic, position=1, photo_verdicts=["edited_copy"]
    )

    queue, record = routing.route(claim)

    assert routing.photo_verdicts(claim_id=claim.pk) == ["edited_copy"]
    assert queue == forensic
    assert record.inputs["photo_verdicts"] == ["edited_copy"]
    assert record.matched == ["photo_verdicts"]


def test_deciding_rules_are_passed_over_before_review():
    auto = RuleSpec(pk=1, name="auto", queue_id=1, auto_outcome="refund_approved")
    plain = RuleSpec(pk=2, name="plain", queue_id=2)
    assert first_match([auto, plain], inputs(), allow_auto=False).rule == plain
    assert first_match([auto, plain], inputs(), allow_auto=True).rule == auto


def test_buyer_figures_count_earlier_claims_by_window(shop_a, make_claim, buyer):
    old = make_claim(shop_a)
    recent = make_claim(shop_a)
    from refunds.models import RefundClaim

    RefundClaim.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=200),
        confirmed_forgery=True,
        status="closed",
    )
    RefundClaim.objects.filter(pk=recent.pk).update(status="closed")
    claim = make_claim(shop_a, amount=Decimal("50"))
    figures = routing.buyer_figures(claim)
    assert figures["buyer_claims_90d"] == 1
    assert figures["buyer_claims_365d"] == 2
    assert figures["buyer_confirmed_forgeries"] == 1
    assert figures["buyer_amount_in_forged_claims"] == old.amount
    assert figures["buyer_fraud_tier"] == ""


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"min_risk_score": 80, "max_risk_score": 20}, "max_risk_score"),
        ({"min_amount": Decimal("10"), "max_amount": Decimal("5")}, "max_amount"),
        ({"min_buyer_claims_90d": 5, "max_buyer_claims_90d": 1}, "max_buyer_claims_90d"),
        ({"finding_codes": ["no_such_code"]}, "finding_codes"),
        ({"reasons": ["bored"]}, "reasons"),
        ({"photo_verdicts": ["forged"]}, "photo_verdicts"),
        ({"photo_verdicts_all": True}, "photo_verdicts"),
        ({"auto_outcome": "partial_refund"}, "auto_outcome"),
    ],
)
def test_routing_rule_save_refuses_a_broken_rule(changes, field):
    queue = routing.default_queue()
    rule = RoutingRule(name="broken", queue=queue, **changes)
    with pytest.raises(ValidationError) as refused:
        services.routing_rule_save(rule=rule)
    assert field in refused.value.message_dict
    assert not RoutingRule.objects.filter(name="broken").exists()


def test_routing_rule_save_refuses_an_inactive_queue():
    closed = ReviewQueue.objects.create(slug="closed", name="Closed", is_active=False)
    with pytest.raises(ValidationError) as refused:
        services.routing_rule_save(rule=RoutingRule(name="to nowhere", queue=closed))
    assert "queue" in refused.value.message_dict


def test_routing_rule_save_keeps_a_valid_rule(shop_a, forensic):
    rule = services.routing_rule_save(
        rule=RoutingRule(
            name="shop A copies",
            queue=forensic,
            finding_codes=["reference_copy", "check_error"],
            reasons=["damaged"],
        ),
        merchants=[shop_a],
    )
    assert list(rule.merchants.all()) == [shop_a]
    assert RuleSpec.from_rule(rule).merchant_ids == {shop_a.pk}


def test_silent_merchant_rule_decides_as_the_claim_enters_review(shop_a, make_claim, alice):
    # given a rule that refunds small claims of buyers in good standing when the shop is
    # silent
    RoutingRule.objects.all().delete()
    standard = routing.default_queue()
    rule = services.routing_rule_save(
        rule=RoutingRule(
            position=1,
            name="small, silent shop",
            queue=standard,
            max_amount=Decimal("100"),
            max_confirmed_forgeries=0,
            fraud_tier="none",
            merchant_answer="silent",
            auto_outcome="refund_approved",
        )
    )
    claim = make_claim(shop_a, amount=Decimal("80"))
    assert claim.status == "awaiting_merchant"  # never decided before the shop may answer
    # when the merchant's window passes
    services.enforce_deadlines(now=claim.merchant_deadline + dt.timedelta(minutes=1))
    claim.refresh_from_db()
    # then a system decision names the rule and the conditions
    assert claim.status == "decided"
    assert claim.outcome == "refund_approved"
    decision = Decision.objects.get(claim=claim)
    assert decision.automatic and decision.reviewer is None
    assert decision.routing_rule == rule
    event = AuditEvent.objects.get(claim=claim, action="auto_decided")
    assert event.actor_label == "system:routing"
    assert event.data["rule"] == "small, silent shop"
    assert event.data["conditions"] == [
        "amount",
        "confirmed_forgeries",
        "fraud_tier",
        "merchant_answer",
    ]
    record = routing.latest_record(claim_id=claim.pk)
    assert record.stage == RoutingRecord.Stage.REVIEW
    assert record.inputs["merchant_answered"] is False
    # and the merchant may appeal it like any decision
    appeal = services.claim_appeal(
        claim=claim, filed_by="merchant", reason="我们没有收到通知 we were not notified", user=alice
    )
    assert appeal.original_decision == decision


def test_answering_merchant_is_not_auto_decided(shop_a, make_claim, alice):
    RoutingRule.objects.all().delete()
    services.routing_rule_save(
        rule=RoutingRule(
            position=1,
            name="silent only",
            queue=routing.default_queue(),
            merchant_answer="silent",
            auto_outcome="refund_approved",
        )
    )
    claim = make_claim(shop_a)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="the photo is our listing photo"
    )
    claim.refresh_from_db()
    assert claim.status == "in_review"
    record = routing.latest_record(claim_id=claim.pk)
    assert record.inputs["merchant_answered"] is True
    assert record.rule is None


def _rule_form(queue, **changes):
    data = {
        "position": "10",
        "name": "from the admin",
        "queue": str(queue.pk),
        "is_active": "on",
        "finding_codes": ["reference_copy"],
        "reasons": ["damaged"],
    }
    data.update(changes)
    return data


def test_admin_saves_a_rule_through_the_validating_service(admin_client, forensic):
    url = "/admin/refunds/routingrule/add/"
    refused = admin_client.post(
        url,
        _rule_form(forensic, min_risk_score="90", max_risk_score="10"),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 200
    assert "The maximum is below the minimum." in refused.content.decode()
    assert not RoutingRule.objects.filter(name="from the admin").exists()

    saved = admin_client.post(url, _rule_form(forensic), HTTP_ACCEPT_LANGUAGE="en")
    assert saved.status_code == 302
    rule = RoutingRule.objects.get(name="from the admin")
    assert rule.finding_codes == ["reference_copy"]
    assert rule.reasons == ["damaged"]


def test_seed_queues_and_rules_are_there_and_seeding_again_changes_nothing():
    import importlib

    from django.apps import apps

    seed = importlib.import_module("refunds.migrations.0008_review_seed_queues").seed
    slugs = set(ReviewQueue.objects.values_list("slug", flat=True))
    assert {"standard", "forensic", "high-value", "repeat-claimant", "legal", "appeals"} <= slugs
    before = (ReviewQueue.objects.count(), RoutingRule.objects.count())
    legal = RoutingRule.objects.get(name="Buyer past a fraud tier")
    legal.position = 7
    legal.save()
    seed(apps, None)
    assert (ReviewQueue.objects.count(), RoutingRule.objects.count()) == before
    assert RoutingRule.objects.get(name="Buyer past a fraud tier").position == 7
    # The deciding rule is seeded switched off: deciding without a human is opted into.
    assert not RoutingRule.objects.get(auto_outcome="refund_approved").is_active
    copy_rule = RoutingRule.objects.get(name="Copy of the merchant's listing photo")
    assert copy_rule.finding_codes == ["reference_copy"]
    assert copy_rule.queue.slug == "forensic"


def test_an_appeal_waits_in_the_appeals_queue(
    shop_a, make_claim, alice, charlie, contest_and_decide
):
    claim = make_claim(shop_a)
    contest_and_decide(claim, alice, charlie)
    services.claim_appeal(
        claim=claim, filed_by="merchant", reason="the crack was painted on", user=alice
    )
    claim.refresh_from_db()
    assert claim.queue.slug == "appeals"


# --- SLA --------------------------------------------------------------------------------


def test_a_claim_past_its_sla_moves_once_to_the_escalation_queue(shop_a, make_claim, alice):
    standard = routing.default_queue()
    senior = ReviewQueue.objects.create(slug="senior-desk", name="Senior desk", sla_hours=4)
    standard.sla_escalate_to = senior
    standard.save()
    claim = make_claim(shop_a)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="the photo is our listing photo"
    )
    claim.refresh_from_db()
    assert claim.queue == standard
    # not yet due
    assert services.claims_escalate_overdue(now=claim.review_deadline) == 0
    later = claim.review_deadline + dt.timedelta(minutes=1)
    assert services.claims_escalate_overdue(now=later) == 1
    claim.refresh_from_db()
    assert claim.queue == senior
    assert claim.sla_escalated_at == later
    assert claim.review_deadline == later + dt.timedelta(hours=4)
    event = AuditEvent.objects.get(claim=claim, action="sla_escalated")
    assert event.actor_label == "system:sla"
    assert (event.data["from"], event.data["to"]) == (standard.slug, "senior-desk")
    # Past the new queue's SLA too, and the senior desk escalating further: never twice.
    senior.sla_escalate_to = standard
    senior.save()
    assert services.claims_escalate_overdue(now=later + dt.timedelta(days=2)) == 0


def test_a_held_claim_or_a_queue_without_target_is_not_moved(shop_a, make_claim, alice, charlie):
    claim = make_claim(shop_a)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="the photo is our listing photo"
    )
    claim.refresh_from_db()
    due = claim.review_deadline + dt.timedelta(hours=1)
    assert services.claims_escalate_overdue(now=due) == 0  # standard has no target
    standard = routing.default_queue()
    standard.sla_escalate_to = ReviewQueue.objects.get(slug="forensic")
    standard.save()
    services.claim_assign(claim=claim, reviewer=charlie)
    assert services.claims_escalate_overdue(now=due) == 0  # the holder is on it
