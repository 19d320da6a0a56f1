import cv2
import numpy as np
import pytest

from evidence.checks import copy_move
from evidence.checks.base import CheckContext, Severity
from evidence.checks.copy_move import CopyMoveCheck, candidate_pairs, find_copy_move
from evidence.checks.reference_match import compute_features
from evidence.checks.registry import all_checks, default_weights
from evidence.imaging import ImageRejected, decode
from testing import synthetic
from tests.evidence.checks.conftest_visual import TESTDATA, is_png

CHECK = CopyMoveCheck()
CAMERA_FILES = sorted(
    p for p in (TESTDATA / "camera").glob("*") if p.suffix.lower() in (".jpg", ".heic")
)


def textured_patch(size: int, seed: int) -> np.ndarray:
    """A patch full of corners (what a crack, a tear or a label looks like to ORB)."""
    rng = np.random.default_rng(seed)
    patch = np.full((size, size, 3), 200, np.uint8)
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        x2, y2 = (int(v) for v in rng.integers(0, size, 2))
        colour = tuple(int(c) for c in rng.integers(0, 120, 3))
        cv2.line(patch, (x, y), (x2, y2), colour, int(rng.integers(1, 4)))
    return patch


def smooth_photo(width: int = 1200, height: int = 900) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([90 + 60 * x / width, 110 + 50 * y / height, 140 + 0 * x], axis=-1)
    base += np.random.default_rng(3).normal(0, 2, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def run(bgr: np.ndarray, quality: int = 90, context: CheckContext | None = None):
    image = decode(synthetic.encode_jpeg(bgr, quality=quality))
    return image, CHECK.run(image, context or CheckContext())


def centre(box):
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def inside(point, x0, y0, size):
    return x0 <= point[0] <= x0 + size and y0 <= point[1] <= y0 + size


def test_a_cloned_area_is_found_and_both_places_boxed():
    img = smooth_photo()
    patch = textured_patch(180, seed=1)
    img[100:280, 150:330] = patch  # the "real" damage
    img[560:740, 800:980] = patch  # cloned onto another spot

    image, findings = run(img, quality=85)

    assert [f.code for f in findings] == ["copy_move_region"]
    finding = findings[0]
    assert finding.severity == Severity.LOW
    assert finding.params["pairs"] >= 15
    # Boxes are full-resolution pixels: one inside each area, in either order.
    centres = [centre(b) for b in finding.details["boxes"]]
    hits = {
        "first": any(inside(c, 150, 100, 180) for c in centres),
        "clone": any(inside(c, 800, 560, 180) for c in centres),
    }
    assert hits == {"first": True, "clone": True}
    assert all(0 <= v <= 1 for b in finding.details["boxes_relative"] for v in b)
    shift = np.hypot(*finding.details["shift"])  # working-copy pixels
    expected = np.hypot(650, 460) * image.working.shape[1] / image.width
    assert abs(shift - expected) < 10
    assert [a.name for a in finding.artifacts] == ["copy_move"]
    assert is_png(finding.artifacts[0].png)


def test_a_clone_that_was_scaled_and_turned_is_found():
    img = smooth_photo()
    patch = textured_patch(200, seed=2)
    img[80:280, 100:300] = patch
    turned = cv2.warpAffine(
        patch,
        cv2.getRotationMatrix2D((100, 100), 8, 1.1),
        (200, 200),
        borderMode=cv2.BORDER_REFLECT,
    )
    img[550:750, 850:1050] = turned

    _image, findings = run(img, quality=90)

    assert [f.code for f in findings] == ["copy_move_region"]
    assert 1.0 <= findings[0].details["scale"] <= 1.2
    assert 4 <= abs(findings[0].details["angle"]) <= 12


def test_one_textured_area_alone_is_quiet():
    img = smooth_photo()
    img[300:500, 400:600] = textured_patch(200, seed=4)

    assert run(img)[1] == []


def test_a_repeated_line_of_small_print_is_quiet():
    """The same line printed twice on a label is thin: it must not read as a clone."""
    img = smooth_photo()
    cv2.rectangle(img, (200, 200), (1000, 700), (245, 245, 245), -1)
    for y in (320, 380):
        cv2.putText(img, "ULTRA CERAMIC 500ML", (240, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                    (60, 20, 90), 2, cv2.LINE_AA)  # fmt: skip

    assert run(img)[1] == []


@pytest.mark.parametrize("seed", range(6))
def test_genuine_product_shots_are_quiet(seed):
    listing = synthetic.render_product_photo(seed).image
    other = synthetic.render_other_shot(seed, 1).image
    similar = synthetic.render_other_shot(seed, 2, similar=True).image

    assert [run(img)[1] for img in (listing, other, similar)] == [[], [], []]


@pytest.mark.parametrize("path", CAMERA_FILES, ids=lambda p: p.name)
def test_real_camera_photos_are_quiet(path):
    try:
        image = decode(path.read_bytes())
    except ImageRejected:
        return  # nothing to analyse: the integrity check reports these files
    assert CHECK.run(image, CheckContext()) == []


def test_too_few_keypoints_is_quiet():
    empty = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    flat = decode(synthetic.encode_jpeg(np.full((300, 400, 3), 128, np.uint8)))

    assert find_copy_move(*empty) is None
    assert CHECK.run(flat, CheckContext()) == []


def test_it_uses_the_features_reference_matching_computed():
    image = decode(synthetic.encode_jpeg(smooth_photo()))
    features = compute_features(image)

    CHECK.run(image, CheckContext())

    assert image.memo["features"] is features


def test_registered_for_buyer_claim_files_only_with_a_low_weight():
    assert CHECK.name in [c.name for c in all_checks()]
    assert default_weights()["copy_move_region"][0] == 10
    image = decode(synthetic.encode_jpeg(smooth_photo(400, 300)))
    assert CHECK.applies_to(image, CheckContext(submitted_by="buyer"))
    assert not CHECK.applies_to(image, CheckContext(submitted_by="merchant"))
    assert not CHECK.applies_to(image, CheckContext(attached_to="product"))


def knn_loop_pairs(points: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """The pair selection as it was written before it was vectorised: BFMatcher.knnMatch
    (k=3) and a Python loop over its DMatch objects."""
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = []
    for matches in matcher.knnMatch(descriptors, descriptors, k=3):
        others = [m for m in matches if m.trainIdx != m.queryIdx]
        if len(others) < 2:
            continue
        best, second = others[0], others[1]
        if best.queryIdx > best.trainIdx:
            continue
        if (
            best.distance > copy_move.MAX_DESCRIPTOR_DISTANCE
            or best.distance >= copy_move.RATIO_TEST * second.distance
        ):
            continue
        p, q = points[best.queryIdx], points[best.trainIdx]
        if float(np.hypot(*(p - q))) < copy_move.MIN_SHIFT:
            continue
        pairs.append((best.queryIdx, best.trainIdx))
    return np.array(pairs, dtype=np.intp).reshape(-1, 2)


def planted_clones(seed: int, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Random descriptors with exact duplicates (ties at distance 0, some triplets, so
    that a keypoint is not always its own first neighbour), near copies a few bits
    off, and points some of them too close to count."""
    rng = np.random.default_rng(seed)
    descriptors = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    points = rng.uniform(0, 1024, (n, 2)).astype(np.float32)
    for i in rng.choice(n, 120, replace=False):
        j = int(rng.integers(0, n))
        descriptors[j] = descriptors[i]
        if rng.random() < 0.3:
            descriptors[int(rng.integers(0, n))] = descriptors[i]  # a third copy
        if rng.random() < 0.3:
            points[j] = points[i] + rng.uniform(-20, 20, 2).astype(np.float32)
    for i in rng.choice(n, 200, replace=False):
        j = int(rng.integers(0, n))
        bits = np.unpackbits(descriptors[i])
        bits[rng.choice(256, int(rng.integers(1, 60)), replace=False)] ^= 1
        descriptors[j] = np.packbits(bits)
    return points, descriptors


@pytest.mark.parametrize("seed", range(6))
def test_the_vectorised_pairs_are_the_knn_loops(seed):
    points, descriptors = planted_clones(seed)

    expected = knn_loop_pairs(points, descriptors)

    assert len(expected) > 20  # the planted clones are there to be found
    np.testing.assert_array_equal(candidate_pairs(points, descriptors), expected)


def test_the_vectorised_pairs_are_the_knn_loops_on_a_photo_with_a_clone():
    img = smooth_photo()
    patch = textured_patch(180, seed=1)
    img[100:280, 150:330] = patch
    img[560:740, 800:980] = patch
    features = compute_features(decode(synthetic.encode_jpeg(img, quality=85)))

    expected = knn_loop_pairs(features.points, features.descriptors)

    assert len(expected) >= copy_move.MIN_INLIERS
    np.testing.assert_array_equal(candidate_pairs(features.points, features.descriptors), expected)


def test_the_features_share_the_images_grey_copy():
    image = decode(synthetic.encode_jpeg(smooth_photo(400, 300)))

    compute_features(image)

    assert "gray" in image.__dict__  # computed once, for the ORB and the other checks
    np.testing.assert_array_equal(image.gray, cv2.cvtColor(image.working, cv2.COLOR_BGR2GRAY))
