import json

import numpy as np

from evidence import synthetic
from evidence.checks.base import CheckContext, Severity, SimilarImage
from evidence.checks.reuse import MAX_DISTANCE, ReuseCheck
from tests.evidence.checks.conftest_visual import decoded

BUYER, OTHER_BUYER = 1, 2
THIS_CLAIM = 50


def photo():
    return decoded(synthetic.render_product_photo(3).image)


def similar(evidence_id, *, claim_id, buyer_id, distance=0, **flags):
    return SimilarImage(
        evidence_id=evidence_id,
        claim_id=claim_id,
        buyer_id=buyer_id,
        order_id=claim_id + 1000 if claim_id else None,
        distance=distance,
        **flags,
    )


def run(*candidates, image=None):
    context = CheckContext(claim_id=THIS_CLAIM, buyer_id=BUYER, similar_images=list(candidates))
    return {f.code: f for f in ReuseCheck().run(image or photo(), context)}


def test_picture_from_a_confirmed_forgery_is_critical():
    findings = run(
        similar(9, claim_id=40, buyer_id=OTHER_BUYER, distance=2, confirmed_forgery=True)
    )

    finding = findings["reuse_confirmed_forgery"]
    assert finding.severity == Severity.CRITICAL
    assert finding.params["claim_id"] == 40
    assert finding.related_evidence_id == 9
    assert finding.details["matches"][0]["distance"] == 2
    assert "reuse_other_buyer" not in findings  # the forgery finding already says it


def test_same_picture_from_another_buyer_is_high():
    findings = run(
        similar(11, claim_id=41, buyer_id=OTHER_BUYER, distance=3),
        similar(12, claim_id=42, buyer_id=OTHER_BUYER, distance=0, same_sha256=True),
    )

    finding = findings["reuse_other_buyer"]
    assert finding.severity == Severity.HIGH
    assert finding.params == {"claim_id": 42, "count": 2}  # the identical file first
    assert [m["evidence_id"] for m in finding.details["matches"]] == [12, 11]
    assert finding.details["total"] == 2


def test_same_buyer_reusing_a_picture_is_medium():
    findings = run(similar(13, claim_id=43, buyer_id=BUYER, distance=1))

    assert set(findings) == {"reuse_same_buyer"}
    assert findings["reuse_same_buyer"].severity == Severity.MEDIUM
    assert findings["reuse_same_buyer"].details["nearest_distance"] == 1


def test_all_three_can_be_reported_together():
    findings = run(
        similar(1, claim_id=60, buyer_id=OTHER_BUYER, confirmed_forgery=True),
        similar(2, claim_id=61, buyer_id=OTHER_BUYER),
        similar(3, claim_id=62, buyer_id=BUYER),
    )

    assert set(findings) == {"reuse_confirmed_forgery", "reuse_other_buyer", "reuse_same_buyer"}
    for finding in findings.values():
        json.dumps(finding.details)
        assert finding.message % finding.params


def test_candidates_from_this_claim_or_too_far_are_ignored():
    findings = run(
        similar(20, claim_id=THIS_CLAIM, buyer_id=BUYER),
        similar(21, claim_id=44, buyer_id=OTHER_BUYER, distance=MAX_DISTANCE + 1),
    )

    assert findings == {}


def test_identical_file_counts_even_when_the_hash_distance_is_large():
    findings = run(similar(22, claim_id=45, buyer_id=OTHER_BUYER, distance=9, same_sha256=True))

    assert "reuse_other_buyer" in findings


def test_blank_pictures_are_not_called_reused():
    blank = decoded(np.full((300, 400, 3), 250, np.uint8))

    findings = run(similar(23, claim_id=46, buyer_id=OTHER_BUYER), image=blank)

    assert findings == {}


def test_no_candidates_no_findings():
    assert run() == {}
