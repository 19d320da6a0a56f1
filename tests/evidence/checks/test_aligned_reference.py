"""The reference_match check's aligned reference: the merchant's photo warped into the
buyer photo's frame, so that a compare control can lay one exactly over the other."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from evidence.checks.reference_match import ReferenceMatchCheck
from testing import synthetic
from tests.evidence.checks.conftest_visual import decoded, is_png
from tests.evidence.checks.test_reference_match import context_for


def _gray(png_or_array, size) -> np.ndarray:
    array = (
        cv2.imdecode(np.frombuffer(png_or_array, np.uint8), cv2.IMREAD_COLOR)
        if isinstance(png_or_array, bytes)
        else png_or_array
    )
    return cv2.cvtColor(cv2.resize(array, size), cv2.COLOR_BGR2GRAY).astype(np.float32)


@pytest.mark.parametrize(
    "transform",
    [
        {"rotate_deg": 3, "crop": (0.1, 0.05, 0.02, 0.1), "scale": 0.7},
        {"mirror": True, "scale": 0.8},
    ],
    ids=["rotated_cropped", "mirrored"],
)
def test_aligned_reference_lies_over_the_buyers_photo(transform):
    # given: a buyer's photo that is the listing photo re-framed
    listing = synthetic.render_product_photo(7)
    image, _ = synthetic.degrade(listing.image, **transform)

    # when
    findings = {f.code: f for f in ReferenceMatchCheck().run(decoded(image), context_for(listing))}

    # then: the copy carries the aligned reference, and it lines up with the buyer's
    # photo far better than the listing photo itself does
    aligned = {a.name: a for a in findings["reference_copy"].artifacts}["aligned_reference"]
    assert is_png(aligned.png)
    height, width = image.shape[:2]
    size = (256, round(256 * height / width))
    buyer = _gray(image, size)
    inner = (slice(size[1] // 8, -size[1] // 8), slice(size[0] // 8, -size[0] // 8))
    aligned_error = np.abs(_gray(aligned.png, size) - buyer)[inner].mean()
    raw_error = np.abs(_gray(listing.image, size) - buyer)[inner].mean()
    assert aligned_error < 8
    assert aligned_error < raw_error / 2
