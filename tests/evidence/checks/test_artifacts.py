"""The artifact encoder: what the merchant's browser decodes must be exactly the picture drawn."""

import cv2
import numpy as np
import pytest

from evidence.checks.base import to_png


def read_back(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 517, 3), (333, 1, 3), (384, 1036, 3)])
def test_a_colour_picture_reads_back_pixel_for_pixel(shape):
    bgr = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)

    png = to_png(bgr)

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(read_back(png), bgr)


def test_a_view_of_a_larger_picture_is_encoded_as_what_it_shows():
    bgr = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    view = bgr[10:150:2, 20:260:3]  # neither contiguous nor starting at the origin

    assert np.array_equal(read_back(to_png(view)), view)


def test_a_grey_picture_reads_back_with_its_grey_in_every_channel():
    grey = np.random.default_rng(2).integers(0, 256, (90, 120), dtype=np.uint8)

    decoded = read_back(to_png(grey))

    assert decoded.shape == (90, 120, 3)
    assert all(np.array_equal(decoded[:, :, c], grey) for c in range(3))
