"""What the pipeline hands the reuse check (``pipeline.build_context``): the index's
candidates from other claims, mirrored ones too, with stored features where the check
needs them; and the check's verdict on them."""

import numpy as np
import pytest
from django.utils import timezone

from evidence import hashing, imaging
from evidence.checks.reference_match import compute_features, features_to_bytes
from evidence.checks.reuse import HASH_ONLY_DISTANCE, MAX_DISTANCE, ReuseCheck
from evidence.pipeline import build_context
from evidence.services import evidence_add, evidence_mark_checked
from testing import synthetic


@pytest.fixture
def other_buyer(db):
    from refunds.services import buyer_upsert

    return buyer_upsert(
        platform_id="buyer-2",
        display_name="李四",
        phone="13900000000",
        account_created_at=timezone.now() - dt_days(200),
    )


def dt_days(days):
    import datetime as dt

    return dt.timedelta(days=days)


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    return synthetic.encode_jpeg(np.ascontiguousarray(pixels), quality=quality)


def crop(pixels: np.ndarray, fraction: float = 0.03) -> np.ndarray:
    return synthetic.degrade(pixels, crop=(fraction,) * 4)[0]


def checked(
    claim,
    data: bytes,
    *,
    store_features: bool = True,
    store_crops: bool = True,
    centred_only: bool = False,
):
    """A claim file as the pipeline leaves it: hashed (its crops too), with
    features stored (or, for files checked before features were stored, without; or
    with only the centred crops' hashes, as before migration 0010)."""
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=claim)
    image = imaging.decode(data)
    value = hashing.phash(image)
    evidence_mark_checked(
        evidence_id=evidence.pk,
        phash=value,
        chunks=list(hashing.hash_chunks(value)),
        features=features_to_bytes(compute_features(image)) if store_features else None,
        display=None,
        crops=[
            (box, value)
            for box, value in (hashing.crop_hashes(image) if store_crops else [])
            if not centred_only or len(set(box)) == 1
        ],
    )
    return evidence


def context_for(evidence, data: bytes, *, with_image: bool = True):
    evidence.refresh_from_db()
    image = imaging.decode(data)
    value = hashing.phash(image)
    context = build_context(
        evidence,
        value,
        list(hashing.hash_chunks(value)),
        image=image if with_image else None,
    )
    return image, context


def verdict(image, context):
    return {f.code: f for f in ReuseCheck().run(image, context)}


def test_crop_of_another_buyers_file_is_found_and_registered(
    make_claim, shop_a, other_buyer, django_capture_on_commit_callbacks
):
    # given: another buyer's earlier claim file, and this claim's 3 % crop of it (6 bits)
    pixels = synthetic.render_product_photo(6).image
    earlier = checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(pixels))
    data = jpeg(crop(pixels), quality=85)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    # when
    image, context = context_for(evidence, data)

    # then (the mirrored lookup may find it too, through a one-sided crop: registration
    # turns that candidate down)
    [candidate] = [c for c in context.similar_images if not c.mirrored]
    assert candidate.evidence_id == earlier.pk
    # the whole pictures' hashes are 6 bits apart; the earlier one's 5 % crop is nearer
    assert candidate.distance <= MAX_DISTANCE and candidate.crop_percent == 5
    assert candidate.features is not None and not candidate.mirrored
    match = verdict(image, context)["reuse_other_buyer"].details["matches"][0]
    assert match["evidence_id"] == earlier.pk and match["verified_by"] == "registration"


def test_crop_of_an_older_file_without_stored_features_is_not_reported(
    make_claim, shop_a, other_buyer
):
    pixels = synthetic.render_product_photo(6).image
    checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(pixels), store_features=False)
    data = jpeg(crop(pixels), quality=85)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    assert [c.features for c in context.similar_images if not c.mirrored] == [None]
    assert verdict(image, context) == {}


def test_mirrored_reuse_is_found_by_the_flipped_lookup(make_claim, shop_a, buyer):
    # given: the same buyer's earlier claim on another order; now the picture mirrored
    pixels = synthetic.render_product_photo(5).image
    earlier = checked(make_claim(shop_a), jpeg(pixels))
    data = jpeg(crop(pixels[:, ::-1]), quality=85)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)
    _image, without_image = context_for(evidence, data, with_image=False)

    [candidate] = context.similar_images
    assert candidate.evidence_id == earlier.pk and candidate.mirrored
    finding = verdict(image, context)["reuse_same_buyer"]
    assert finding.details["matches"][0]["mirrored"] is True
    assert without_image.similar_images == []


def test_genuine_shots_of_the_same_product_are_not_reported(make_claim, shop_a, other_buyer):
    # given: two buyers' genuine photos of product 2, 6 bits apart: the index finds the
    # earlier one, and only registration can tell it is another photograph. (Some pairs
    # of these near-identical synthetic shots do register: the check inherits
    # reference_match's definition of a copy.)
    first = synthetic.render_other_shot(2, 1001, similar=True).image
    second = synthetic.render_other_shot(2, 1002, similar=True).image
    checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(first))
    data = jpeg(second)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    direct = [c for c in context.similar_images if not c.mirrored]
    assert [HASH_ONLY_DISTANCE < c.distance <= MAX_DISTANCE for c in direct] == [True]
    assert direct[0].features is not None
    assert verdict(image, context) == {}


def test_identical_file_needs_no_stored_features(make_claim, shop_a, other_buyer):
    pixels = synthetic.render_product_photo(6).image
    data = jpeg(pixels)
    checked(make_claim(shop_a, the_buyer=other_buyer), data)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    direct = [c for c in context.similar_images if not c.mirrored]
    assert [(c.distance, c.same_sha256, c.features) for c in direct] == [(0, True, None)]
    assert (
        verdict(image, context)["reuse_other_buyer"].details["matches"][0]["verified_by"]
        == "sha256"
    )


def test_files_of_the_same_claim_are_not_candidates(make_claim, shop_a):
    pixels = synthetic.render_product_photo(6).image
    claim = make_claim(shop_a)
    checked(claim, jpeg(pixels))
    data = jpeg(crop(pixels), quality=85)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=claim)

    _image, context = context_for(evidence, data)

    assert context.similar_images == []


@pytest.mark.parametrize("fraction", [0.10, 0.15])
def test_a_picture_cut_from_another_buyers_file_is_found_through_its_crop_hash(
    make_claim, shop_a, other_buyer, fraction
):
    # given: another buyer's earlier claim photo; this claim's picture is it with 10 or
    # 15 % cut off each side, which moves the whole picture's hash past the index's radius
    pixels = synthetic.render_product_photo(6).image
    earlier_data = jpeg(pixels)
    earlier = checked(make_claim(shop_a, the_buyer=other_buyer), earlier_data)
    data = jpeg(crop(pixels, fraction), quality=85)
    whole = hashing.hamming_distance(
        hashing.phash(imaging.decode(earlier_data)), hashing.phash(imaging.decode(data))
    )
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    # when
    image, context = context_for(evidence, data)

    # then: found through a rung of its crop ladder, confirmed by registration
    [candidate] = [c for c in context.similar_images if not c.mirrored]
    assert whole > MAX_DISTANCE
    assert candidate.evidence_id == earlier.pk and candidate.crop_percent > 0
    assert candidate.features is not None
    match = verdict(image, context)["reuse_other_buyer"].details["matches"][0]
    assert match["verified_by"] == "registration"
    assert match["crop_percent"] == candidate.crop_percent


def test_without_its_crop_hashes_the_cut_picture_is_not_found(make_claim, shop_a, other_buyer):
    # what the crop ladder adds (files checked before it have no crop hashes)
    pixels = synthetic.render_product_photo(6).image
    checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(pixels), store_crops=False)
    data = jpeg(crop(pixels, 0.10), quality=85)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    assert [c for c in context.similar_images if not c.mirrored] == []
    assert verdict(image, context) == {}


def test_a_crop_hash_alone_never_decides(make_claim, shop_a, other_buyer):
    # given: an older file without stored features, found within 3 bits only through
    # the hash of its crop: registration cannot run, and the hash alone is not enough
    pixels = synthetic.render_product_photo(6).image
    checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(pixels), store_features=False)
    data = jpeg(crop(pixels, 0.10), quality=90)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    [candidate] = [c for c in context.similar_images if not c.mirrored]
    assert candidate.crop_percent and candidate.distance <= HASH_ONLY_DISTANCE
    assert verdict(image, context) == {}


def cut(pixels: np.ndarray, *, top=0.0, bottom=0.0, left=0.0, right=0.0) -> np.ndarray:
    return synthetic.degrade(pixels, crop=(left, top, right, bottom))[0]


@pytest.mark.parametrize(
    "sides",
    [
        {"left": 0.12, "bottom": 0.04},  # bench/quality.py's cropped_one_side
        {"right": 0.17},
        {"bottom": 0.09, "top": 0.15},
    ],
)
def test_a_picture_cut_off_one_side_of_another_buyers_file_is_found_and_reported(
    make_claim, shop_a, other_buyer, sides
):
    # given: another buyer's earlier claim photo; this claim's picture is it with one
    # side (or two) cut off, which moves the whole picture's hash past the index's radius
    pixels = synthetic.render_product_photo(6).image
    earlier_data = jpeg(pixels)
    earlier = checked(make_claim(shop_a, the_buyer=other_buyer), earlier_data)
    data = jpeg(cut(pixels, **sides), quality=85)
    whole = hashing.hamming_distance(
        hashing.phash(imaging.decode(earlier_data)), hashing.phash(imaging.decode(data))
    )
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    # when
    image, context = context_for(evidence, data)
    findings = verdict(image, context)

    # then: found through one of its crop boxes, confirmed by registration, reported
    direct = [c for c in context.similar_images if not c.mirrored]
    assert whole > MAX_DISTANCE
    assert [c.evidence_id for c in direct] == [earlier.pk]
    assert direct[0].crop_percent > 0 and direct[0].distance <= MAX_DISTANCE
    [match] = findings["reuse_other_buyer"].details["matches"]
    assert (match["evidence_id"], match["verified_by"]) == (earlier.pk, "registration")
    assert match["crop_percent"] == direct[0].crop_percent


def test_without_its_one_sided_crop_hashes_the_cut_picture_is_not_found(
    make_claim, shop_a, other_buyer
):
    # what the boxes add: the centred ladder alone (what 0009 stored) misses this crop
    pixels = synthetic.render_product_photo(6).image
    checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(pixels), centred_only=True)
    data = jpeg(cut(pixels, top=0.12, left=0.04), quality=85)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    assert [c for c in context.similar_images if not c.mirrored] == []
    assert verdict(image, context) == {}


@pytest.mark.parametrize("sides", [{"top": 0.12, "left": 0.04}, {"right": 0.15}])
def test_a_genuine_shot_of_the_same_product_cut_off_one_side_is_not_reported(
    make_claim, shop_a, other_buyer, sides
):
    # given: another buyer's genuine photo of product 2, all its crop hashes stored; now
    # a second genuine shot from nearly the same place, cut off one side
    first = synthetic.render_other_shot(2, 1001, similar=True).image
    second = synthetic.render_other_shot(2, 1002, similar=True).image
    checked(make_claim(shop_a, the_buyer=other_buyer), jpeg(first))
    data = jpeg(cut(second, **sides))
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=make_claim(shop_a))

    image, context = context_for(evidence, data)

    # then: whatever the index hands over is registered and turned down
    assert all(c.features is not None for c in context.similar_images)
    assert verdict(image, context) == {}
