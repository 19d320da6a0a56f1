import dataclasses
import json
from functools import cache

import numpy as np

from evidence import hashing
from evidence.checks.base import CheckContext, Severity, SimilarImage
from evidence.checks.reference_match import compute_features, features_from_bytes, features_to_bytes
from evidence.checks.reuse import HASH_ONLY_DISTANCE, MAX_DISTANCE, MAX_REGISTRATIONS, ReuseCheck
from testing import synthetic
from tests.evidence.checks.conftest_visual import decoded

BUYER, OTHER_BUYER = 1, 2
THIS_CLAIM, THIS_ORDER = 50, 1050


def photo():
    return decoded(synthetic.render_product_photo(3).image)


@cache
def stored_features(seed: int, *, shot: int | None = None):
    """Features of an earlier claim file as the pipeline stores and reloads them: the
    listing-style photo of product ``seed``, or (``shot``) another genuine shot of it."""
    pixels = (
        synthetic.render_product_photo(seed).image
        if shot is None
        else synthetic.render_other_shot(seed, shot, similar=True).image
    )
    return features_from_bytes(features_to_bytes(compute_features(decoded(pixels))))


def cropped(seed: int, fraction: float, *, mirror: bool = False):
    pixels, _ = synthetic.degrade(synthetic.render_product_photo(seed).image, crop=(fraction,) * 4)
    return decoded(pixels[:, ::-1].copy() if mirror else pixels, quality=85)


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
    context = CheckContext(
        claim_id=THIS_CLAIM, buyer_id=BUYER, order_id=THIS_ORDER, similar_images=list(candidates)
    )
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


def test_same_buyer_filing_again_on_the_same_order_is_not_reuse():
    again = similar(24, claim_id=47, buyer_id=BUYER, distance=0)
    again = dataclasses.replace(again, order_id=THIS_ORDER)

    assert run(again) == {}
    assert "reuse_same_buyer" in run(similar(25, claim_id=48, buyer_id=BUYER, distance=0))


# --- 4-7 bits: only when registration says it is the same picture -----------------------


def test_crop_beyond_the_hash_only_radius_counts_when_registration_confirms_it():
    # given: the earlier file is product 6's photo; this one a 3 % crop of it, 6 bits away
    image = cropped(6, 0.03)
    earlier = stored_features(6)
    distance = hashing.hamming_distance(hashing.phash(image), earlier.phash)
    assert HASH_ONLY_DISTANCE < distance <= MAX_DISTANCE

    # when
    findings = run(
        similar(30, claim_id=70, buyer_id=OTHER_BUYER, distance=distance, features=earlier),
        image=image,
    )

    # then
    match = findings["reuse_other_buyer"].details["matches"][0]
    assert match["verified_by"] == "registration"
    assert match["distance"] == distance
    assert findings["reuse_other_buyer"].details["hash_only_distance"] == HASH_ONLY_DISTANCE


def test_other_genuine_shot_within_the_index_radius_is_not_reported():
    # given: another buyer's genuine photo of the same product, 8 bits away at most
    image = photo()
    other_shot = stored_features(3, shot=1000)
    distance = min(hashing.hamming_distance(hashing.phash(image), other_shot.phash), 7)

    findings = run(
        similar(31, claim_id=71, buyer_id=OTHER_BUYER, distance=distance, features=other_shot),
        similar(32, claim_id=72, buyer_id=BUYER, distance=5, features=stored_features(1)),
        image=image,
    )

    assert findings == {}


def test_candidate_between_the_radii_without_stored_features_is_not_reported():
    image = cropped(6, 0.03)

    findings = run(similar(33, claim_id=73, buyer_id=OTHER_BUYER, distance=6), image=image)

    assert findings == {}


def test_features_of_another_version_are_not_compared():
    image = cropped(6, 0.03)
    outdated = dataclasses.replace(stored_features(6), version=0)

    findings = run(
        similar(34, claim_id=74, buyer_id=OTHER_BUYER, distance=6, features=outdated),
        image=image,
    )

    assert findings == {}


def test_registrations_per_file_are_bounded_nearest_first():
    image = cropped(6, 0.03)
    decoys = [
        similar(
            100 + i, claim_id=200 + i, buyer_id=OTHER_BUYER, distance=4, features=stored_features(1)
        )
        for i in range(MAX_REGISTRATIONS)
    ]
    real = similar(99, claim_id=199, buyer_id=OTHER_BUYER, distance=6, features=stored_features(6))

    assert run(*decoys, real, image=image) == {}
    assert "reuse_other_buyer" in run(*decoys[1:], real, image=image)


# --- mirrored re-uses ---------------------------------------------------------------------


def test_mirrored_reuse_is_reported_after_registration_against_the_mirror_image():
    # given: this file is product 5's photo flipped and cropped; the index found the
    # earlier file through the flipped picture's pHash
    image = cropped(5, 0.03, mirror=True)
    earlier = stored_features(5)
    distance = hashing.hamming_distance(hashing.mirrored_phash(image), earlier.phash)
    assert distance <= MAX_DISTANCE
    candidate = similar(
        35,
        claim_id=75,
        buyer_id=BUYER,
        distance=max(distance, HASH_ONLY_DISTANCE + 1),
        mirrored=True,
        features=earlier,
    )

    findings = run(candidate, image=image)

    match = findings["reuse_same_buyer"].details["matches"][0]
    assert match["mirrored"] is True
    assert match["verified_by"] == "registration"


def test_mirrored_candidate_is_not_registered_against_the_unflipped_picture():
    # The same picture, but the candidate claims a mirror relation that does not hold.
    image = cropped(6, 0.03)

    findings = run(
        similar(
            36,
            claim_id=76,
            buyer_id=OTHER_BUYER,
            distance=6,
            mirrored=True,
            features=stored_features(6),
        ),
        image=image,
    )

    assert findings == {}


def test_a_file_found_by_both_lookups_is_listed_once():
    image = cropped(6, 0.03)
    earlier = stored_features(6)

    findings = run(
        similar(37, claim_id=77, buyer_id=OTHER_BUYER, distance=6, features=earlier),
        similar(37, claim_id=77, buyer_id=OTHER_BUYER, distance=2, mirrored=True),
        image=image,
    )

    assert findings["reuse_other_buyer"].details["total"] == 1
    assert findings["reuse_other_buyer"].details["matches"][0]["mirrored"] is True


def test_a_second_genuine_shot_hashing_within_two_bits_is_not_called_reuse():
    """Two buyers photographing one product from nearly the same place: the hashes are
    2 bits apart (the hash alone would say "same picture"), registration says otherwise."""
    first = synthetic.render_other_shot(4, 115, similar=True).image
    second = decoded(synthetic.render_other_shot(4, 117, similar=True).image)
    earlier = features_from_bytes(features_to_bytes(compute_features(decoded(first))))
    distance = hashing.hamming_distance(hashing.phash(second), earlier.phash)
    assert distance <= HASH_ONLY_DISTANCE

    with_features = run(
        similar(40, claim_id=80, buyer_id=OTHER_BUYER, distance=distance, features=earlier),
        image=second,
    )
    legacy_without_features = run(
        similar(40, claim_id=80, buyer_id=OTHER_BUYER, distance=distance), image=second
    )

    assert with_features == {}
    assert set(legacy_without_features) == {"reuse_other_buyer"}


def test_a_re_shared_copy_within_two_bits_is_confirmed_by_registration():
    earlier = stored_features(6)
    again = decoded(synthetic.render_product_photo(6).image, quality=75)
    distance = hashing.hamming_distance(hashing.phash(again), earlier.phash)

    findings = run(
        similar(41, claim_id=81, buyer_id=OTHER_BUYER, distance=distance, features=earlier),
        image=again,
    )

    match = findings["reuse_other_buyer"].details["matches"][0]
    assert match["verified_by"] == "registration"


def test_a_second_genuine_shot_found_through_a_crop_hash_is_not_a_crop():
    # given: two genuine shots of product 111 from nearly the same place (the benchmark's
    # genuine_similar_shot_no_exif-492 and an earlier buyer's shot 5001): the second is
    # within the radius of one of the first's two-sided crop hashes, and registers as the
    # same photograph, turned by 2.7 degrees (the shots' own roll)
    image = decoded(synthetic.render_other_shot(111, 1492, similar=True).image)
    earlier = stored_features(111, shot=5001)

    def candidate(crop_percent):
        return similar(
            9,
            claim_id=40,
            buyer_id=OTHER_BUYER,
            distance=6,
            crop_percent=crop_percent,
            features=earlier,
        )

    # when / then: found through the crop hash it is turned down (cropping rotates
    # nothing); had the whole picture's hash found it, registration alone would decide
    assert run(candidate(14), image=image) == {}
    assert "reuse_other_buyer" in run(candidate(0), image=image)


def test_a_picture_cut_off_one_side_and_found_through_a_crop_hash_counts():
    pixels, _ = synthetic.degrade(synthetic.render_product_photo(6).image, crop=(0.12, 0, 0, 0.04))

    findings = run(
        similar(
            9,
            claim_id=40,
            buyer_id=OTHER_BUYER,
            distance=5,
            crop_percent=10,
            features=stored_features(6),
        ),
        image=decoded(pixels, quality=85),
    )

    [match] = findings["reuse_other_buyer"].details["matches"]
    assert (match["verified_by"], match["crop_percent"]) == ("registration", 10)
