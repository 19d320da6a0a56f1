"""What the claim pages read (issue 13: a page's cost): never the files' stored features
(the ORB descriptors and thumbnail every checked photo keeps for the checks, ~60 KB a
1200×900 photo: a claim with its listing photos would pull hundreds of KB per view for
nothing shown), the reviewer's groups once, the scoring thresholds in one query, the
order's items once, the claim's findings once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evidence.models import EvidenceFile
from refunds import services

pytestmark = pytest.mark.django_db


def _reads(client, url) -> list[str]:
    connection.queries_log.clear()  # a full log (9,000 entries) would capture nothing
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def _counts(sql: list[str]) -> dict[str, int]:
    return {
        # Read, not filtered on: in what a SELECT returns, before its FROM.
        "features": sum('"evidence_evidencefile"."features"' in q.split(" FROM ")[0] for q in sql),
        "groups": sum('"auth_group"' in q for q in sql),
        "thresholds": sum('"evidence_scoringthreshold"' in q for q in sql),
        "order items": sum(q.startswith('SELECT "refunds_orderitem"') for q in sql),
        "findings": sum(q.startswith('SELECT "evidence_finding"."id"') for q in sql),
    }


def test_the_review_page_reads_no_stored_features_and_each_setting_once(
    client, forged_claim, alice, charlie
):
    services.claim_merchant_respond(
        claim=forged_claim, user=alice, response="contest", statement="裂痕是画上去的 painted"
    )
    assert EvidenceFile.objects.filter(features__isnull=False).count() >= 2  # claim + listing
    client.force_login(charlie)

    sql = _reads(client, reverse("review_claim", args=[forged_claim.pk]))

    assert _counts(sql) == {
        "features": 0,
        "groups": 1,
        "thresholds": 1,
        "order items": 1,
        "findings": 1,
    }


def test_the_merchant_claim_page_reads_no_stored_features(client, forged_claim, alice):
    client.force_login(alice)

    sql = _reads(client, reverse("merchant_claim", args=[forged_claim.pk]))

    counts = _counts(sql)
    assert counts["features"] == 0 and counts["thresholds"] == 1


@pytest.mark.postgres
def test_the_listing_photos_of_an_order_are_read_through_indexes_not_a_scan(forged_claim):
    """The listing and packing photos of the claim's order (the pipeline reads them for
    every photo it checks, the claim pages for every view): two index ranges of the file
    table, its products' and its shipments'. With the shipments joined, or the products
    as a subquery, inside the ``OR``, PostgreSQL scanned every file (214 ms at 1M files);
    with scans of the whole table priced out, the plan must read both indexes and the
    table only through them."""
    from django.utils import timezone

    from evidence import selectors
    from merchants.services import shipment_create

    order = forged_claim.order
    shipment_create(order=order, carrier="SF", tracking_number="SF1", shipped_at=timezone.now())
    sql, params = selectors.reference_files_for_order(
        order=order, with_features=False
    ).query.sql_with_params()
    assert order.shipments.exists() and order.items.filter(product__isnull=False).exists()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")

    scans = [line for line in plan.splitlines() if "evidence_evidencefile" in line]
    assert any("Bitmap Index Scan on evidence_evidencefile_product_id" in s for s in scans), plan
    assert any("Bitmap Index Scan on evidence_evidencefile_shipment_id" in s for s in scans), plan
    assert not any("Seq Scan" in s or "Index Scan using" in s for s in scans), plan
    assert len(selectors.reference_files_for_order(order=order)) == 1  # the listing photo
