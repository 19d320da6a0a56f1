"""The deadline sweep routes a batch of claims entering review at once (issue 13): the
same inputs, rules and records as routing one claim, in a fixed number of queries."""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from refunds import routing, services
from refunds.models import AuditEvent, RefundClaim, RoutingRecord
from tests.refunds.test_routing import add_finding


def _history(make_claim, shop, buyer_claims):
    """Claims of one buyer: earlier ones (one confirmed forged), then the due ones."""
    first = make_claim(shop)
    RefundClaim.objects.filter(pk=first.pk).update(
        status="closed", confirmed_forgery=True, created_at=first.created_at - dt.timedelta(days=40)
    )
    old = make_claim(shop)
    RefundClaim.objects.filter(pk=old.pk).update(
        status="closed", created_at=old.created_at - dt.timedelta(days=200)
    )
    return [make_claim(shop, amount=Decimal("150.00")) for _ in range(buyer_claims)]


def test_batch_inputs_are_what_routing_one_claim_reads(make_claim, shop_a, shop_b):
    due = _history(make_claim, shop_a, 3) + [make_claim(shop_b)]
    add_finding(due[0], "reference_copy", 90, "critical")
    claims = list(RefundClaim.objects.filter(pk__in=[c.pk for c in due]).order_by("pk"))
    answered = {claims[0].pk: True, claims[1].pk: False}

    many = routing.gather_inputs_many(claims, merchant_answered=answered)

    for claim in claims:
        one = routing.gather_inputs(claim, merchant_answered=answered.get(claim.pk))
        assert many[claim.pk] == one
    assert many[claims[0].pk].finding_codes == ("reference_copy",)
    assert many[claims[1].pk].buyer_confirmed_forgeries == 1
    # earlier only: the forged one and the first sibling; the old one within a year
    assert many[claims[1].pk].buyer_claims_90d == 2
    assert many[claims[1].pk].buyer_claims_365d == 3


def test_the_sweep_routes_and_records_each_claim_with_a_fixed_number_of_queries(make_claim, shop_a):
    def tick(count):
        claims = [make_claim(shop_a) for _ in range(count)]
        later = max(c.merchant_deadline for c in claims) + dt.timedelta(minutes=1)
        with CaptureQueriesContext(connection) as captured:
            moved = services.enforce_deadlines(now=later, batch_size=50)
        assert moved["merchant_missed"] == count
        # The audit append reads each chain's head: one query for all on PostgreSQL,
        # one per chain on SQLite (refunds.audit.record_many); the rest is per batch.
        return claims, sum(
            1 for q in captured.captured_queries if "refunds_auditevent" not in q["sql"]
        )

    _few, small = tick(2)
    claims, large = tick(12)

    # then: the same statements for 2 or 12 claims, nothing per claim (the later claims of
    # one buyer go to the repeat-claimant queue: one more queue read, once per batch)
    assert small <= large <= small + 1
    for claim in claims:
        record = RoutingRecord.objects.filter(claim=claim).latest("id")
        assert record.stage == RoutingRecord.Stage.REVIEW
        assert record.inputs["merchant_answered"] is False
        claim.refresh_from_db()
        assert claim.status == "in_review" and claim.queue_id == record.queue_id
        assert claim.review_deadline is not None
        event = AuditEvent.objects.filter(claim=claim).latest("seq")
        assert event.action == "merchant_deadline_missed"
        assert event.data == {"queue": record.queue.slug, "rule": record.rule_name or None}
