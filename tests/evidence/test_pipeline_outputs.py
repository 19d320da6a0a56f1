"""What ``pipeline.check_evidence`` stores besides findings: every file's ORB features
(references and claim photos alike) and its metadata-free display copy, both derived
from the single decode."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from evidence import imaging
from evidence.checks.reference_match import compute_features, features_from_bytes
from testing import synthetic


@pytest.fixture
def claim_photo(shop_a, make_order, django_capture_on_commit_callbacks):
    """A buyer's 12 MP-like camera photo on a claim, checked by the (eager) worker."""
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit

    photo = synthetic.render_product_photo(31, size=(3200, 2400))
    data = synthetic.encode_jpeg(photo.image, quality=90, exif=True, make="Xiaomi", model="K70")
    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_submit(
            order=make_order(shop_a),
            amount=Decimal("20.00"),
            reason="damaged",
            actor=Actor.platform("test"),
        )
        evidence = evidence_add(upload=data, submitted_by="buyer", claim=claim)
    evidence.refresh_from_db()
    return evidence, data


def test_a_claim_photo_gets_its_features_stored(claim_photo):
    evidence, data = claim_photo

    assert evidence.status == "checked"
    assert evidence.features is not None
    stored = features_from_bytes(bytes(evidence.features))
    fresh = compute_features(imaging.decode(data))
    assert (stored.width, stored.height) == (fresh.width, fresh.height)
    assert stored.phash == fresh.phash
    assert np.array_equal(stored.descriptors, fresh.descriptors)


def test_a_claim_photo_gets_a_display_copy_from_the_same_decode(claim_photo):
    evidence, data = claim_photo

    display = evidence.display.open("rb").read()

    assert display == imaging.display_copy(imaging.decode(data))
    with Image.open(io.BytesIO(display)) as shown:
        assert shown.size == (1600, 1200)
        assert len(shown.getexif()) == 0
    assert b"Xiaomi" not in display


def test_a_listing_photo_still_gets_its_features_stored(shop_a, django_capture_on_commit_callbacks):
    from evidence.services import evidence_add
    from merchants.services import product_create

    product = product_create(merchant=shop_a, platform_id="cup-9", title="Cup")
    data = synthetic.encode_jpeg(synthetic.render_product_photo(32).image, quality=90)
    with django_capture_on_commit_callbacks(execute=True):
        evidence = evidence_add(
            upload=data, submitted_by="merchant", original_name="cup.jpg", product=product
        )
    evidence.refresh_from_db()

    assert evidence.features is not None
    assert features_from_bytes(bytes(evidence.features)).phash == (
        compute_features(imaging.decode(data)).phash
    )


def test_a_claim_photo_is_indexed_by_its_crops_too(claim_photo):
    from evidence.hashing import CROP_BOXES, crop_hashes

    evidence, data = claim_photo

    stored = sorted(
        ((top, bottom, left, right), percent, value)
        for top, bottom, left, right, percent, value in evidence.crop_hashes.values_list(
            "top", "bottom", "left", "right", "percent", "phash"
        )
    )
    fresh = sorted(
        (tuple(box), box.percent, value) for box, value in crop_hashes(imaging.decode(data))
    )
    assert stored == fresh
    assert sorted(box for box, _percent, _hash in stored) == sorted(map(tuple, CROP_BOXES))
    assert all(value != evidence.phash for _box, _percent, value in stored)


def test_a_listing_photo_gets_no_crop_hashes(shop_a, django_capture_on_commit_callbacks):
    from evidence.services import evidence_add
    from merchants.services import product_create

    product = product_create(merchant=shop_a, platform_id="cup-10", title="Cup")
    data = synthetic.encode_jpeg(synthetic.render_product_photo(33).image, quality=90)
    with django_capture_on_commit_callbacks(execute=True):
        evidence = evidence_add(upload=data, submitted_by="merchant", product=product)
    evidence.refresh_from_db()

    assert evidence.status == "checked"
    assert not evidence.crop_hashes.exists()
