import json

import cv2
import numpy as np
import pytest

from evidence import synthetic
from evidence.checks import reference_match
from evidence.checks.base import CheckContext, ReferencePhoto, Severity
from evidence.checks.reference_match import (
    ReferenceMatchCheck,
    compute_features,
    features_from_bytes,
    features_to_bytes,
)
from tests.evidence.checks.conftest_visual import box_iou, contains_centre, decoded, is_png

TRANSFORMS = {
    "as_is": {},
    "resized_0.5": {"scale": 0.5},
    "resized_0.7": {"scale": 0.7},
    "cropped_10pct": {"crop": (0.1, 0.1, 0.1, 0.1)},
    "cropped_to_the_product": {"crop": (0.25, 0.15, 0.25, 0.15)},
    "jpeg_q60": {"jpeg_quality": 60},
    "jpeg_q80": {"jpeg_quality": 80},
    "brighter_10pct": {"brightness": 0.1},
    "darker_10pct": {"brightness": -0.1},
    "more_contrast_10pct": {"contrast": 0.1},
    "less_contrast_10pct": {"contrast": -0.1},
    "saturated_10pct": {"saturation": 0.1},
    "desaturated_10pct": {"saturation": -0.1},
    "rotated_3deg": {"rotate_deg": 3},
    "rotated_minus_3deg": {"rotate_deg": -3},
    "everything_at_once": {
        "scale": 0.7,
        "crop": (0.05, 0.08, 0.1, 0.03),
        "rotate_deg": 2,
        "brightness": 0.1,
        "contrast": -0.1,
        "saturation": 0.1,
        "jpeg_quality": 70,
    },
}


def context_for(*photos, kind="listing"):
    return CheckContext(
        references=[
            ReferencePhoto(
                id=100 + i, kind=kind, label=f"Product {i}", features=compute_features(p.image)
            )
            for i, p in enumerate(photos)
        ]
    )


def run(image, context):
    return {f.code: f for f in ReferenceMatchCheck().run(image, context)}


def found_box(finding, truth):
    boxes = [(b["x0"], b["y0"], b["x1"], b["y1"]) for b in finding.details["boxes"]]
    return max(boxes, key=lambda b: box_iou(b, truth))


@pytest.mark.parametrize("transform", TRANSFORMS.values(), ids=TRANSFORMS.keys())
@pytest.mark.parametrize(("seed", "damage"), [(0, "crack"), (1, "stain"), (2, "tear")])
def test_painted_damage_on_a_copy_is_found_and_located(seed, damage, transform):
    # given a listing photo with damage painted on, then re-shared
    listing = synthetic.render_product_photo(seed)
    forgery = synthetic.paint_damage(listing, seed, kind=damage)
    image, truth = synthetic.degrade(forgery.image, forgery.damage_box, **transform)

    # when
    findings = run(decoded(image), context_for(listing))

    # then
    copy = findings["reference_copy"]
    assert copy.severity == Severity.CRITICAL
    assert copy.related_reference_id == 100
    assert copy.params["similarity"] >= 90
    altered = findings["reference_altered_region"]
    assert altered.severity == Severity.HIGH
    box = found_box(altered, truth)
    assert box_iou(box, truth) >= 0.3 or contains_centre(box, truth)


def test_box_is_in_full_resolution_and_relative_coordinates():
    listing = synthetic.render_product_photo(3, size=(1200, 900))
    forgery = synthetic.paint_damage(listing, 3, kind="stain")
    big = cv2.resize(forgery.image, (2400, 1800), interpolation=cv2.INTER_CUBIC)
    truth = tuple(2 * v for v in forgery.damage_box)

    altered = run(decoded(big), context_for(listing))["reference_altered_region"]

    best = max(
        altered.details["boxes"], key=lambda b: box_iou((b["x0"], b["y0"], b["x1"], b["y1"]), truth)
    )
    assert box_iou((best["x0"], best["y0"], best["x1"], best["y1"]), truth) >= 0.5
    x0, y0, x1, y1 = best["relative"]
    assert x0 == pytest.approx(best["x0"] / 2400, abs=0.01)
    assert y1 == pytest.approx(best["y1"] / 1800, abs=0.01)
    assert altered.details["image_size"] == [2400, 1800]
    assert altered.params["left"] == round(x0 * 100)


def test_unaltered_copy_is_still_reported_as_a_copy():
    listing = synthetic.render_product_photo(4)
    image, _ = synthetic.degrade(listing.image, scale=0.8, jpeg_quality=75)

    findings = run(decoded(image), context_for(listing))

    assert set(findings) == {"reference_copy"}
    copy = findings["reference_copy"]
    assert copy.params["similarity"] >= 97
    assert [a.name for a in copy.artifacts] == ["side_by_side"]
    assert is_png(copy.artifacts[0].png)


def test_artifacts_are_pngs_showing_both_photos():
    listing = synthetic.render_product_photo(5)
    forgery = synthetic.paint_damage(listing, 5, kind="crack")

    altered = run(decoded(forgery.image), context_for(listing))["reference_altered_region"]

    artifacts = {a.name: a for a in altered.artifacts}
    assert set(artifacts) == {"side_by_side", "overlay"}
    for artifact in artifacts.values():
        assert is_png(artifact.png)
        assert artifact.caption
    side = cv2.imdecode(np.frombuffer(artifacts["side_by_side"].png, np.uint8), cv2.IMREAD_COLOR)
    overlay = cv2.imdecode(np.frombuffer(artifacts["overlay"].png, np.uint8), cv2.IMREAD_COLOR)
    assert side.shape[1] > 1.8 * side.shape[0]  # two landscape photos next to each other
    red = (overlay[..., 2] > 200) & (overlay[..., 1] < 80) & (overlay[..., 0] < 80)
    assert red.sum() > 100


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("similar", [False, True], ids=["other_scene", "near_same_view"])
def test_genuine_photo_of_the_same_product_is_not_a_copy(seed, similar):
    listing = synthetic.render_product_photo(seed)
    shot = synthetic.render_other_shot(seed, 1, similar=similar)

    findings = run(decoded(shot.image, quality=85), context_for(listing))

    assert findings == {}


def test_genuine_near_same_view_registers_but_is_rejected_by_its_residual():
    # the printed label lines up under a near-similarity transform...
    listing = synthetic.render_product_photo(0)
    shot = synthetic.render_other_shot(0, 1, similar=True)

    registration = reference_match.register(
        compute_features(decoded(shot.image, quality=85)), compute_features(listing.image)
    )

    # ...but what is left after normalisation is another exposure, not compression noise
    assert registration is not None and registration.sane
    assert registration.residual > reference_match.MAX_RESIDUAL
    assert not registration.is_copy


def test_photo_of_another_product_is_not_a_copy():
    findings = run(
        decoded(synthetic.render_product_photo(11).image),
        context_for(synthetic.render_product_photo(12)),
    )

    assert findings == {}


def test_the_matching_reference_among_several_is_named():
    photos = [synthetic.render_product_photo(seed) for seed in (20, 21, 22)]
    forgery = synthetic.paint_damage(photos[1], 1, kind="tear")

    findings = run(decoded(forgery.image), context_for(*photos))

    assert findings["reference_copy"].related_reference_id == 101
    assert findings["reference_copy"].params["label"] == "Product 1"
    assert findings["reference_altered_region"].details["reference_id"] == 101


def test_packing_photo_copy_says_packing_photo():
    listing = synthetic.render_product_photo(6)

    copy = run(decoded(listing.image), context_for(listing, kind="packing"))["reference_copy"]

    assert "packing photo" in copy.message
    assert copy.details["reference_kind"] == "packing"


def test_details_are_json_serialisable():
    listing = synthetic.render_product_photo(7)
    forgery = synthetic.paint_damage(listing, 7, kind="stain")

    findings = run(decoded(forgery.image), context_for(listing))

    for finding in findings.values():
        json.dumps(finding.details)
        json.dumps(finding.params)
        assert finding.message % finding.params


def test_no_references_no_findings():
    assert run(decoded(synthetic.render_product_photo(1).image), CheckContext()) == {}


def test_merchant_uploads_are_not_checked_against_their_own_photos():
    context = CheckContext(submitted_by="merchant")

    assert not ReferenceMatchCheck().applies_to(decoded(np.zeros((64, 64, 3), np.uint8)), context)
    assert ReferenceMatchCheck().applies_to(
        decoded(np.zeros((64, 64, 3), np.uint8)), CheckContext(submitted_by="buyer")
    )


def test_features_round_trip_through_bytes_without_pickle():
    features = compute_features(synthetic.render_product_photo(8).image)

    data = features_to_bytes(features)
    restored = features_from_bytes(data)

    assert len(data) < 150_000
    assert b"pickle" not in data
    assert restored.phash == features.phash and restored.dhash == features.dhash
    assert (restored.width, restored.height) == (features.width, features.height)
    assert np.array_equal(restored.points, features.points)
    assert np.array_equal(restored.descriptors, features.descriptors)
    assert restored.thumbnail.shape == features.thumbnail.shape
    assert 500 <= len(restored.descriptors) <= reference_match.ORB_FEATURES


def test_cached_feature_bytes_work_as_reference_features():
    listing = synthetic.render_product_photo(9)
    forgery = synthetic.paint_damage(listing, 9, kind="crack")
    context = CheckContext(
        references=[
            ReferencePhoto(
                id=7,
                kind="listing",
                label="Mug",
                features=features_to_bytes(compute_features(listing.image)),
            )
        ]
    )

    findings = run(decoded(forgery.image), context)

    assert set(findings) == {"reference_copy", "reference_altered_region"}


def test_unusable_reference_features_are_skipped():
    context = CheckContext(
        references=[
            ReferencePhoto(id=1, kind="listing", label="x", features=None),
            ReferencePhoto(id=2, kind="listing", label="y", features=b"not an npz file"),
        ]
    )

    assert run(decoded(synthetic.render_product_photo(1).image), context) == {}


def test_tiny_or_flat_claim_photo_does_not_crash():
    context = context_for(synthetic.render_product_photo(1))

    assert run(decoded(np.full((40, 60, 3), 128, np.uint8)), context) == {}
