import json

import cv2
import numpy as np
import pytest

from evidence.checks import reference_match
from evidence.checks.base import CheckContext, ReferencePhoto, Severity
from evidence.checks.reference_match import (
    ReferenceMatchCheck,
    compute_features,
    features_from_bytes,
    features_to_bytes,
)
from evidence.imaging import decode
from testing import synthetic
from tests.evidence.checks.conftest_visual import (
    TESTDATA,
    box_iou,
    contains_centre,
    decoded,
    is_png,
)

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
    # ~500 px wide: too small for a homography's perspective terms to stay put.
    "resized_0.44_rotated": {"scale": 0.44, "rotate_deg": -3, "jpeg_quality": 65},
    # +10 % brightness clips the near-white studio background at 255.
    "upscaled_rotated_brighter_q65": {
        "scale": 1.47,
        "rotate_deg": -2.8,
        "crop": (0.08, 0.06, 0.07, 0.02),
        "brightness": 0.1,
        "contrast": 0.06,
        "jpeg_quality": 65,
    },
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
    assert all(box_iou(b, truth) > 0 for b in boxes_of(altered)), "a box away from the damage"


def boxes_of(finding):
    return [(b["x0"], b["y0"], b["x1"], b["y1"]) for b in finding.details["boxes"]]


@pytest.mark.parametrize(
    ("product", "seed", "transform"),
    [
        (116, 20250916, {"jpeg_quality": 89}),
        (104, 20250928, {"jpeg_quality": 90}),
        (104, 20250901 + 177, {"rotate_deg": -2.59, "jpeg_quality": 90}),
    ],
    ids=["no_region_survived", "one_branch_boxed", "one_branch_boxed_rotated"],
)
def test_hairline_crack_is_boxed_along_its_whole_length(product, seed, transform):
    # given a 2 px crack painted on a downloaded listing (under 1 px in the difference
    # map, broken into pieces where it crosses dark print): misses of an earlier version
    listing = synthetic.render_product_photo(product)
    downloaded = cv2.imdecode(
        np.frombuffer(synthetic.encode_jpeg(listing.image, quality=92), np.uint8),
        cv2.IMREAD_COLOR,
    )
    forgery = synthetic.paint_damage(downloaded, seed, kind="crack", region=listing.product_box)
    quality = transform.pop("jpeg_quality")
    image, truth = synthetic.degrade(forgery.image, forgery.damage_box, **transform)

    # when
    findings = run(decoded(image, quality=quality), context_for(listing))

    # then one box, over the whole crack rather than over one of its pieces
    boxes = boxes_of(findings["reference_altered_region"])
    assert len(boxes) == 1
    assert box_iou(boxes[0], truth) >= 0.5


@pytest.mark.parametrize(
    "transform",
    [
        {"rotate_deg": 3, "jpeg_quality": 70},
        {"rotate_deg": -2.5, "crop": (0.05, 0.02, 0.0, 0.08), "scale": 0.6},
        {"scale": 1.4, "rotate_deg": 3.5, "brightness": -0.1, "jpeg_quality": 62},
    ],
    ids=["rotated", "rotated_cropped_small", "upscaled_rotated_darker"],
)
@pytest.mark.parametrize("seed", [13, 14])
def test_unaltered_rotated_copy_has_no_altered_region(seed, transform):
    # resampling every high-contrast edge must not read as an edit
    listing = synthetic.render_product_photo(seed)
    image, _ = synthetic.degrade(listing.image, **transform)

    findings = run(decoded(image), context_for(listing))

    assert set(findings) == {"reference_copy"}


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
    assert {a.name for a in copy.artifacts} == {"side_by_side", "aligned_reference"}
    assert all(is_png(a.png) for a in copy.artifacts)


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


@pytest.mark.parametrize("seed", [30, 31, 32, 33, 34, 35])
def test_copy_of_another_product_with_the_same_layout_is_not_a_copy_of_this_one(seed):
    # given a painted copy of one product's listing, and the listings of other products
    # shot the same way (same studio background, label layout, logo and pose)
    forgery = synthetic.paint_damage(synthetic.render_product_photo(seed), seed)
    others = [synthetic.render_product_photo(seed + k) for k in (10, 20, 30, 40)]

    # when the claim is checked against those other products only
    findings = run(decoded(forgery.image), context_for(*others))

    # then none of them is named as its source
    assert findings == {}


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


def test_search_stops_at_a_clear_copy(monkeypatch):
    photos = [synthetic.render_product_photo(seed) for seed in (40, 41, 42, 43)]
    forgery = synthetic.paint_damage(photos[0], 40, kind="stain")
    calls = []
    original = reference_match.register

    def counting(claim, reference):
        calls.append(reference)
        return original(claim, reference)

    monkeypatch.setattr(reference_match, "register", counting)

    findings = run(decoded(forgery.image), context_for(*photos))

    assert findings["reference_copy"].related_reference_id == 100
    assert len(calls) == 1


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


def legacy_npz_blob(features) -> bytes:
    """Features as stored before the compact framing (numpy savez, thumbnail as JPEG)."""
    import io

    _, jpeg = cv2.imencode(".jpg", features.thumbnail, [cv2.IMWRITE_JPEG_QUALITY, 92])
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.array(
            [features.version, features.width, features.height, features.phash, features.dhash],
            dtype=np.int64,
        ),
        points=features.points,
        descriptors=features.descriptors,
        thumbnail=jpeg.reshape(-1),
    )
    return buffer.getvalue()


def test_features_stored_before_the_compact_framing_still_match():
    listing = synthetic.render_product_photo(9)
    forgery = synthetic.paint_damage(listing, 9, kind="crack")
    stored = legacy_npz_blob(compute_features(listing.image))

    restored = features_from_bytes(stored)
    findings = run(
        decoded(forgery.image),
        CheckContext(references=[ReferencePhoto(7, "listing", "Mug", stored)]),
    )

    assert np.array_equal(restored.descriptors, compute_features(listing.image).descriptors)
    assert set(findings) == {"reference_copy", "reference_altered_region"}


@pytest.mark.parametrize(
    "damage",
    ["cut_short", "longer", "wrong_magic", "thumbnail_not_jpeg", "empty"],
)
def test_damaged_stored_features_are_refused_with_a_clear_error(damage):
    blob = features_to_bytes(compute_features(synthetic.render_product_photo(3).image))
    jpeg_at = blob.rindex(b"\xff\xd8\xff")
    damaged = {
        "cut_short": blob[:-100],
        "longer": blob + b"\x00",
        "wrong_magic": b"XXXX" + blob[4:],
        "thumbnail_not_jpeg": blob[:jpeg_at] + b"\x00\x00" + blob[jpeg_at + 2 :],
        "empty": b"",
    }[damage]

    with pytest.raises(reference_match.CorruptFeatures):
        features_from_bytes(damaged)


def test_a_reference_whose_stored_thumbnail_is_garbage_is_set_aside_for_the_next():
    listing = synthetic.render_product_photo(9)
    forgery = synthetic.paint_damage(listing, 9, kind="crack")
    good = features_to_bytes(compute_features(listing.image))
    jpeg_at = good.rindex(b"\xff\xd8\xff")
    # The header and features are intact, the thumbnail's JPEG body is noise: only
    # the pixel comparison can find out.
    garbage = good[: jpeg_at + 2] + bytes(len(good) - jpeg_at - 2)
    context = CheckContext(
        references=[
            ReferencePhoto(1, "listing", "broken", garbage),
            ReferencePhoto(2, "listing", "Mug", good),
        ]
    )

    findings = ReferenceMatchCheck().run(decoded(forgery.image), context)

    assert {f.code for f in findings} == {"reference_copy", "reference_altered_region"}
    assert {f.related_reference_id for f in findings} == {2}


def test_tiny_or_flat_claim_photo_does_not_crash():
    context = context_for(synthetic.render_product_photo(1))

    assert run(decoded(np.full((40, 60, 3), 128, np.uint8)), context) == {}


REAL_PHOTOS = [
    "gps_DSCN0010.jpg",
    "gps_DSCN0021.jpg",
    "mobile_jolla.jpg",
    "orientation_landscape_6.jpg",  # the same waterfall and overlaid words as the next,
    "orientation_portrait_3.jpg",  # photographed from another spot: not a copy
]


def real_photo(name):
    return decode((TESTDATA / "camera" / name).read_bytes())


@pytest.mark.parametrize("name", REAL_PHOTOS)
def test_real_photo_is_not_a_copy_of_other_real_photos(name):
    references = [
        ReferencePhoto(
            id=i, kind="listing", label=other, features=compute_features(real_photo(other))
        )
        for i, other in enumerate(REAL_PHOTOS)
        if other != name
    ]

    assert run(real_photo(name), CheckContext(references=references)) == {}


@pytest.mark.parametrize(
    ("name", "damage", "transform"),
    [
        ("mobile_jolla.jpg", "stain", {"scale": 0.5, "jpeg_quality": 75}),
        ("gps_DSCN0021.jpg", "crack", {"rotate_deg": 2, "crop": (0.05, 0.0, 0.03, 0.08)}),
        ("orientation_landscape_6.jpg", "tear", {"brightness": 0.1, "jpeg_quality": 70}),
    ],
)
def test_painted_copy_of_a_real_photo_is_found_and_located(name, damage, transform):
    # given a real photo used as the listing, copied with damage painted on
    photo = real_photo(name)
    pixels = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)
    if pixels.shape[:2] != (photo.height, photo.width):  # EXIF-rotated files
        pixels = photo.working
    forgery = synthetic.paint_damage(pixels, 5, kind=damage)
    image, truth = synthetic.degrade(forgery.image, forgery.damage_box, **transform)
    context = CheckContext(
        references=[
            ReferencePhoto(id=1, kind="listing", label=name, features=compute_features(photo))
        ]
    )

    findings = run(decoded(image), context)

    box = found_box(findings["reference_altered_region"], truth)
    assert box_iou(box, truth) >= 0.3 or contains_centre(box, truth)


# ------------------------------------------------------- mirrored and slanted copies
# Issue 10: copies the similarity fit missed. Each kind has a firing and a quiet case.

MIRRORED = {
    "mirrored": {"mirror": True},
    "mirrored_cropped": {"mirror": True, "crop": (0.08, 0.02, 0.03, 0.1)},
    "mirrored_q65": {"mirror": True, "jpeg_quality": 65},
    "mirrored_everything": {
        "mirror": True,
        "scale": 0.7,
        "crop": (0.05, 0.08, 0.1, 0.03),
        "rotate_deg": 2,
        "brightness": 0.1,
        "jpeg_quality": 70,
    },
}
SLANTED = {
    "yaw_12": {"keystone": (12.0, 0.0)},
    "pitch_18_white_corners": {"keystone": (0.0, -18.0), "keystone_fill": (255, 255, 255)},
    "oblique_20_black_corners": {"keystone": (-14.0, 14.0), "keystone_fill": (0, 0, 0)},
    "yaw_8_cropped_q70": {
        "keystone": (-8.0, 3.0),
        "crop": (0.05, 0.0, 0.0, 0.06),
        "jpeg_quality": 70,
    },
}


def assert_damage_boxed(findings, truth):
    box = found_box(findings["reference_altered_region"], truth)
    assert box_iou(box, truth) >= 0.3 or contains_centre(box, truth)


@pytest.mark.parametrize("transform", MIRRORED.values(), ids=MIRRORED.keys())
@pytest.mark.parametrize(("seed", "damage"), [(50, "crack"), (51, "stain"), (52, "tear")])
def test_mirrored_copy_is_found_reported_as_mirrored_and_its_damage_boxed(seed, damage, transform):
    # given a painted copy of the listing, flipped left to right (then re-shared)
    listing = synthetic.render_product_photo(seed)
    forgery = synthetic.paint_damage(listing, seed, kind=damage)
    image, truth = synthetic.degrade(forgery.image, forgery.damage_box, **transform)

    # when
    findings = run(decoded(image), context_for(listing))

    # then
    copy = findings["reference_copy"]
    assert copy.severity == Severity.CRITICAL
    assert copy.details["mirrored"] is True
    assert "mirror image" in copy.message
    assert_damage_boxed(findings, truth)


@pytest.mark.parametrize("transform", SLANTED.values(), ids=SLANTED.keys())
@pytest.mark.parametrize(("seed", "damage"), [(60, "crack"), (61, "stain"), (62, "tear")])
def test_slanted_copy_is_found_by_a_homography_and_its_damage_boxed(seed, damage, transform):
    # given a painted copy of the listing put on a slant (an editor's perspective tool)
    listing = synthetic.render_product_photo(seed)
    forgery = synthetic.paint_damage(listing, seed, kind=damage)
    image, truth = synthetic.degrade(forgery.image, forgery.damage_box, **transform)

    findings = run(decoded(image), context_for(listing))

    copy = findings["reference_copy"]
    assert copy.details["mirrored"] is False
    assert copy.details["texture_residual"] <= reference_match.DIGITAL_COPY_MAX_TEXTURE
    assert_damage_boxed(findings, truth)
    assert all(box_iou(b, truth) > 0 for b in boxes_of(findings["reference_altered_region"]))


@pytest.mark.parametrize("seed", [70, 71, 72])
def test_slanted_copy_of_flat_artwork_is_found_and_its_damage_boxed(seed):
    # given a poster's (card's, cover's) artwork, painted and put on a slant
    art = synthetic.render_flat_artwork(seed)
    forgery = synthetic.paint_damage(art, seed)
    image, truth = synthetic.degrade(
        forgery.image, forgery.damage_box, keystone=(16.0, -6.0), jpeg_quality=80
    )

    findings = run(decoded(image), context_for(art))

    assert findings["reference_copy"].details["fit"] == "homography"
    assert_damage_boxed(findings, truth)


def test_strongly_slanted_copy_is_registered_by_the_homography():
    # given the artwork put on a 20-degree slant: a similarity lines it up only roughly
    listing = synthetic.render_flat_artwork(73)
    image, _ = synthetic.degrade(listing.image, keystone=(20.0, 0.0))
    claim = compute_features(decoded(image))
    reference = compute_features(listing.image)

    similarity = reference_match.register(claim, reference)
    homography = reference_match.register_perspective(claim, reference, similarity)
    findings = run(decoded(image), context_for(listing))

    # the homography explains nearly every match, to a pixel, and is what is reported
    assert reference_match.fits_better_slanted(claim, similarity)
    assert homography.is_digital_copy
    assert homography.inlier_ratio > max(0.8, similarity.inlier_ratio)
    assert homography.reprojection_error < similarity.reprojection_error
    assert findings["reference_copy"].details["fit"] == "homography"
    assert set(findings) == {"reference_copy"}  # no misaligned edge reads as damage


@pytest.mark.parametrize("seed", range(6))
def test_mirrored_genuine_photo_is_not_a_copy(seed):
    # a genuine near-listing shot, flipped: the mirror fit must not make it a copy
    listing = synthetic.render_product_photo(seed)
    shot = synthetic.render_other_shot(seed, 3, similar=True)

    findings = run(
        decoded(np.ascontiguousarray(shot.image[:, ::-1]), quality=85), context_for(listing)
    )

    assert findings == {}


@pytest.mark.parametrize(
    "transform", [{"mirror": True}, {"keystone": (14.0, 6.0)}], ids=["mirrored", "slanted"]
)
@pytest.mark.parametrize("seed", [30, 32, 34])
def test_mirrored_or_slanted_copy_of_another_product_is_not_a_copy_of_this_one(seed, transform):
    # the "same layout" guards hold for the mirrored and the homography fits too
    forgery = synthetic.paint_damage(synthetic.render_product_photo(seed), seed)
    image, _ = synthetic.degrade(forgery.image, **transform)
    others = [synthetic.render_product_photo(seed + k) for k in (10, 20, 30, 40)]

    findings = run(decoded(image), context_for(*others))

    assert findings == {}


@pytest.mark.parametrize("seed", [80, 81, 82])
def test_slanted_copy_of_another_flat_item_in_the_same_series_is_not_a_copy(seed):
    # posters of one series share their layout; only the right one's copy is a copy
    forgery = synthetic.paint_damage(synthetic.render_flat_artwork(seed, kind="poster"), seed)
    image, _ = synthetic.degrade(forgery.image, keystone=(10.0, 8.0))
    others = [synthetic.render_flat_artwork(seed + k, kind="poster") for k in (10, 20, 30)]

    assert run(decoded(image), context_for(*others)) == {}


# ------------------------------------------------------- honest photos of flat items


@pytest.mark.parametrize("seed", range(90, 98))
@pytest.mark.parametrize("similar", [False, True], ids=["tilted", "near_listing"])
def test_photo_of_the_printed_item_is_never_called_a_copy(seed, similar):
    # given the listing's artwork, printed and photographed by an honest buyer
    art = synthetic.render_flat_artwork(seed)
    shot = synthetic.render_printed_shot(seed, 1, similar=similar)

    findings = run(decoded(shot.image, quality=90), context_for(art))

    # then nothing accuses; at most the check says it cannot tell
    assert set(findings) <= {"reference_match_inconclusive"}
    for finding in findings.values():
        assert finding.severity == Severity.LOW
        assert finding.details["doubts"]


def lit_unevenly(image, strength=0.03):
    """The picture as a photo of it would be lit: brighter on one side, darker corners
    (3 %: a gentler light than any photograph here, whose pixels stay within a copy's
    residual)."""
    h, w = image.shape[:2]
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    light = (1 + strength * xs) * (1 - strength * (xs**2 + ys**2))
    return np.clip(image * light[..., None], 0, 255).astype(np.uint8)


def test_the_same_pixels_under_uneven_light_are_inconclusive_not_a_copy():
    # given the artwork with light falling across it, as in a photograph of the print
    art = synthetic.render_flat_artwork(99)
    image = lit_unevenly(art.image)

    findings = run(decoded(image), context_for(art))

    # then the check says what it sees without accusing
    assert set(findings) == {"reference_match_inconclusive"}
    inconclusive = findings["reference_match_inconclusive"]
    assert inconclusive.details["doubts"] == ["uneven_exposure"]
    assert inconclusive.details["exposure_range"] > reference_match.MAX_EXPOSURE_RANGE
    assert inconclusive.message % inconclusive.params
    assert {a.name for a in inconclusive.artifacts} == {"side_by_side", "aligned_reference"}


def test_a_global_tone_curve_is_one_exposure():
    # an editor's curves (a mild gamma) change every tone, the same way everywhere: a
    # copy. (From gamma 0.85 or 1.2 on, the colour model's misfit reads as another
    # exposure's texture and the copy is only inconclusive: docs/detection.md.)
    art = synthetic.render_flat_artwork(99)
    curved = (255 * (art.image / 255.0) ** 0.9).astype(np.uint8)

    findings = run(decoded(curved), context_for(art))

    assert "reference_copy" in findings
    assert (
        findings["reference_copy"].details["exposure_range"] <= reference_match.MAX_EXPOSURE_RANGE
    )


def inked(image):
    """The artwork as ink on paper renders it: each ink's own tone curve, paper white and
    lifted blacks (what no gain, offset and saturation of the colour model undo)."""
    f = (image.astype(np.float32) / 255.0) ** np.float32([0.8, 1.0, 1.25])
    return (28 + (236 - 28) * f).astype(np.uint8)


def test_the_texture_of_another_exposure_is_inconclusive_even_under_even_light():
    # given the artwork as printed, under perfectly even light and nothing else changed
    art = synthetic.render_flat_artwork(98)

    findings = run(decoded(inked(art.image)), context_for(art))

    # then the exposure is one, the pixels are not a copy's: said, not accused
    assert set(findings) == {"reference_match_inconclusive"}
    details = findings["reference_match_inconclusive"].details
    assert details["doubts"] == ["texture_of_another_exposure"]
    assert details["exposure_range"] <= reference_match.MAX_EXPOSURE_RANGE
    assert details["texture_residual"] > reference_match.DIGITAL_COPY_MAX_TEXTURE


def test_a_copy_without_measurable_evidence_is_not_accused():
    # the verdict needs both marks measured; a copy whose every part changed has none
    registration = reference_match.Registration(
        matches=300, inliers=290, homography=np.eye(3), scale=1.0, rotation_deg=0.0,
        claim_overlap=1.0, reference_overlap=1.0, sane=True, changed_fraction=0.01,
        content_changed_fraction=0.01, residual=0.0,
    )  # fmt: skip

    assert registration.is_copy
    assert not registration.is_digital_copy
    assert registration.doubts == ["evidence_unmeasurable"]
    assert not registration.is_same_picture


@pytest.mark.parametrize(
    ("homography", "problem"),
    [
        (np.array([[-1.0, 0, 1000], [0, 1, 0], [0, 0, 1]]), "fold"),  # a reflection
        (np.array([[1.0, 0, 0], [0, 1, 0], [0.0012, 0, 1]]), "perspective"),  # horizon in view
        (np.array([[1.0, 0, 0], [0, 0.3, 0], [0, 0, 1]]), "stretch"),  # squashed 3:1
        (np.array([[8.0, 0, 0], [0, 8, 0], [0, 0, 1]]), "scale"),
    ],
    ids=["reflection", "vanishing_line", "stretch", "scale"],
)
def test_degenerate_homographies_are_refused(homography, problem):
    reference = compute_features(synthetic.render_product_photo(1).image)

    found, _ = reference_match._homography_problem(
        homography, reference.points, reference.points, (reference.width, reference.height)
    )

    assert found == problem


def test_a_homography_fitted_to_one_part_of_the_matches_is_refused():
    # its extrapolation over the rest of the picture says nothing
    reference = compute_features(synthetic.render_product_photo(1).image)
    size = (reference.width, reference.height)
    points = reference.points
    corner = points[
        (points[:, 0] < np.percentile(points[:, 0], 40))
        & (points[:, 1] < np.percentile(points[:, 1], 40))
    ]

    found, spread = reference_match._homography_problem(np.eye(3), corner, points, size)
    plausible, full = reference_match._homography_problem(np.eye(3), points, points, size)
    speck, _ = reference_match._homography_problem(np.eye(3), corner[:4], corner[:4], size)

    assert found == "spread" and spread < reference_match.MIN_INLIER_SPREAD
    assert plausible == "" and full == pytest.approx(1.0)
    assert speck == "spread"  # all the matches, but a speck of the picture


def test_plain_copies_do_not_pay_for_the_mirror_or_the_slant(monkeypatch):
    # given a copy the similarity registers with certainty
    listing = synthetic.render_product_photo(44)
    forgery = synthetic.paint_damage(listing, 44, kind="stain")

    def refuse(*args):
        raise AssertionError("tried although the ordinary fit succeeded")

    monkeypatch.setattr(reference_match, "mirrored_features", refuse)
    monkeypatch.setattr(reference_match, "register_mirrored", refuse)
    monkeypatch.setattr(reference_match, "register_perspective", refuse)

    findings = run(decoded(forgery.image), context_for(listing))

    assert findings["reference_copy"].details["fit"] == "similarity"


def test_the_mirror_image_is_computed_once_and_shared_with_the_reuse_check():
    image = decoded(synthetic.render_product_photo(45).image)

    first = reference_match.mirrored_features(image)

    assert reference_match.mirrored_features(image) is first
    assert image.memo["mirrored_features"] is first
