"""Bulk decisions: each claim decided alone, a refusal refuses only its claim."""

from __future__ import annotations

import pytest
from django.urls import reverse

from refunds import services
from refunds.models import AuditEvent, Decision
from tests.refunds.test_routing import add_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def reused(shop_a, make_claim, alice):
    """Three claims by one buyer, each with the same reused photo, waiting for review."""
    claims = []
    for _ in range(3):
        claim = make_claim(shop_a, evaluate=False)
        add_finding(claim, "reuse_same_buyer", weight=50, severity="high")
        services.claim_evaluate(claim_id=claim.pk)
        services.claim_merchant_respond(
            claim=claim, user=alice, response="contest", statement="the same photo again"
        )
        claim.refresh_from_db()
        claims.append(claim)
    return claims


def test_each_claim_is_decided_alone_and_a_held_one_is_refused(reused, charlie, erin):
    services.claim_assign(claim=reused[1], reviewer=erin)  # taken after the preview

    results = services.claims_decide_bulk(
        reviewer=charlie,
        claim_ids=[c.pk for c in reused],
        outcome="refund_denied",
        rationale="The same photo was sent for three orders.",
        confirmed_forgery=True,
    )

    assert [(r.claim_id, r.done) for r in results] == [
        (reused[0].pk, True),
        (reused[1].pk, False),
        (reused[2].pk, True),
    ]
    assert results[1].reason
    assert Decision.objects.filter(claim__in=[reused[0], reused[2]], reviewer=charlie).count() == 2
    assert not Decision.objects.filter(claim=reused[1]).exists()
    for claim in (reused[0], reused[2]):
        assert AuditEvent.objects.filter(claim=claim, action="decided").count() == 1
    reused[1].refresh_from_db()
    assert reused[1].status == "in_review" and reused[1].held_by == erin


def test_bulk_page_previews_then_decides_with_a_result_list(client, reused, charlie, erin, buyer):
    client.force_login(charlie)
    url = reverse("review_bulk") + f"?buyer={buyer.platform_id}&finding=reuse_same_buyer"
    preview = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert preview.count("data-bulk-claim=") == 3
    services.claim_assign(claim=reused[2], reviewer=erin)

    response = client.post(
        url,
        {
            "claims": [str(c.pk) for c in reused],
            "outcome": "refund_denied",
            "rationale": "The same photo was sent for three orders.",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert html.count('data-result="done"') == 2
    assert html.count('data-result="refused"') == 1
    assert f"#{reused[2].pk}: refused —" in html


def _waiting_with(code, shop, make_claim, owner, queue, *, hours):
    """A claim waiting for review in ``queue`` with a buyer's finding ``code`` and a
    review deadline ``hours`` from now (placed directly: routing is not the point)."""
    import datetime as dt

    from django.utils import timezone

    from refunds.models import RefundClaim

    claim = make_claim(shop, evaluate=False)
    if code:
        add_finding(claim, code, weight=50, severity="high")
    services.claim_evaluate(claim_id=claim.pk)
    services.claim_merchant_respond(
        claim=claim, user=owner, response="contest", statement="the same photo again"
    )
    RefundClaim.objects.filter(pk=claim.pk).update(
        queue=queue, review_deadline=timezone.now() + dt.timedelta(hours=hours)
    )
    return claim


def test_a_finding_filter_alone_lists_claims_in_take_order_across_queues_and_stops_at_the_limit(
    shop_a, make_claim, alice, charlie
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from refunds import selectors
    from refunds.models import ReviewQueue

    urgent = ReviewQueue.objects.create(slug="urgent", name="Urgent", priority=1)
    later = ReviewQueue.objects.create(slug="later", name="Later", priority=200)
    retired = ReviewQueue.objects.create(slug="old", name="Old", priority=0, is_active=False)
    code = "reuse_same_buyer"
    expected = [
        _waiting_with(code, shop_a, make_claim, alice, urgent, hours=30),
        _waiting_with(code, shop_a, make_claim, alice, urgent, hours=40),
        _waiting_with(code, shop_a, make_claim, alice, later, hours=1),
        _waiting_with(code, shop_a, make_claim, alice, retired, hours=0),
    ]
    _waiting_with("", shop_a, make_claim, alice, urgent, hours=0)  # no such finding

    listed = selectors.claims_for_bulk(reviewer=charlie, finding_code=code)
    # Active queues by priority (deadline within one), the inactive one last.
    assert [c.pk for c in listed] == [c.pk for c in expected]
    assert listed[0].merchant.name and listed[0].buyer.platform_id

    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        first_two = selectors.claims_for_bulk(reviewer=charlie, finding_code=code, limit=2)
    queries = len(captured)
    assert [c.pk for c in first_two] == [c.pk for c in expected[:2]]
    # The platform's queues, then the first queue's range, which filled the limit: the
    # others were never read.
    assert queries == 2, [q["sql"][:80] for q in captured]
