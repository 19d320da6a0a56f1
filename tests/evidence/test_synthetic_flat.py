"""The generators of issue 10's cases: mirrored and slanted copies, flat printed items."""

import cv2
import numpy as np
import pytest

from testing import synthetic


def changed_pixels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 60


@pytest.mark.parametrize(
    "ops",
    [
        {"mirror": True},
        {"mirror": True, "crop": (0.05, 0.02, 0.08, 0.0), "scale": 0.7},
        {"keystone": (15.0, 0.0)},
        {"keystone": (-8.0, 12.0), "keystone_fill": (255, 255, 255)},
        {"keystone": (5.0, -18.0), "crop": (0.05, 0.05, 0.05, 0.05)},
    ],
    ids=["mirror", "mirror_crop_resize", "yaw", "yaw_pitch_white", "pitch_crop"],
)
def test_degrade_carries_the_damage_box_through_mirror_and_keystone(ops):
    # given the same transform applied to a listing and to its painted copy
    listing = synthetic.render_product_photo(3)
    forgery = synthetic.paint_damage(listing, 3, kind="stain")

    clean, _ = synthetic.degrade(listing.image, **ops)
    forged, box = synthetic.degrade(forgery.image, forgery.damage_box, **ops)

    # then the damage is where the carried box says, and nowhere else
    changed = changed_pixels(clean, forged)
    x0, y0, x1, y1 = box
    assert changed[y0:y1, x0:x1].sum() > 50
    changed[y0:y1, x0:x1] = False
    assert changed.sum() <= 5


def test_mirror_flips_left_to_right():
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, :5] = 255

    out, box = synthetic.degrade(image, (0, 0, 5, 10), mirror=True)

    assert out[:, 15:].min() == 255 and out[:, :15].max() == 0
    assert box == (15, 0, 20, 10)


def test_keystone_makes_a_trapezoid_that_a_homography_undoes():
    w, h = 600, 400
    matrix = synthetic.keystone_matrix(w, h, 15.0, 0.0, fill=(0, 0, 0))
    corners = cv2.perspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]])[None], matrix)[
        0
    ]

    left_height = corners[3, 1] - corners[0, 1]
    right_height = corners[2, 1] - corners[1, 1]
    assert abs(left_height - right_height) > 0.1 * h  # one side is farther away
    assert corners.min() >= -0.5 and corners[:, 0].max() <= w + 0.5  # all of it in view
    assert corners[:, 1].max() <= h + 0.5


def test_keystone_crop_fills_the_frame_without_blank_corners():
    image = np.full((300, 400, 3), 128, np.uint8)

    out, _ = synthetic.degrade(image, keystone=(18.0, 10.0))

    assert out.shape == image.shape
    assert out.min() == 128 and out.max() == 128


@pytest.mark.parametrize("kind", synthetic.FLAT_KINDS)
def test_flat_artwork_is_deterministic_and_textured(kind):
    art = synthetic.render_flat_artwork(7, kind=kind)

    assert np.array_equal(art.image, synthetic.render_flat_artwork(7, kind=kind).image)
    assert not np.array_equal(art.image, synthetic.render_flat_artwork(8, kind=kind).image)
    assert art.image.shape[1::-1] == synthetic.FLAT_SIZES[kind]
    assert art.image.std() > 20


@pytest.mark.parametrize("similar", [False, True], ids=["tilted", "near_listing"])
def test_printed_shot_shows_the_artwork_on_a_background_with_its_edges(similar):
    art = synthetic.render_flat_artwork(9)
    shot = synthetic.render_printed_shot(9, 1, similar=similar)
    h, w = shot.image.shape[:2]
    x0, y0, x1, y1 = shot.product_box

    assert np.array_equal(shot.image, synthetic.render_printed_shot(9, 1, similar=similar).image)
    assert (w > h) == (art.image.shape[1] > art.image.shape[0])  # held as the print is
    assert 0 < x0 < x1 < w and 0 < y0 < y1 < h  # the paper's edges are in view
    covered = (x1 - x0) * (y1 - y0) / (w * h)
    assert (covered > 0.6) if similar else (0.15 < covered < 0.8)
