"""The localisation maps are computed fast (integer grid steps, a DCT restricted to the
frequencies read) and give exactly what the textbook definitions below give: the speed
changed nothing the check reports."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from evidence.checks import localisation
from evidence.checks.pixel_forensics import _DCT
from testing import synthetic


def _textbook_grid_map(luma: np.ndarray) -> tuple[np.ndarray, float]:
    """The block-artifact grid map in floats, every block's median of four by sorting."""
    window = localisation.GRID_WINDOW
    h, w = (s - s % window for s in luma.shape)
    g = luma[:h, :w].astype(np.float32)
    dx = np.zeros_like(g[::2])
    dx[:, :-1] = np.minimum(np.abs(np.diff(g[::2], axis=1)), localisation.GRID_STEP_CAP)
    dy = np.zeros_like(g[:, ::2])
    dy[:-1, :] = np.minimum(np.abs(np.diff(g[:, ::2], axis=0)), localisation.GRID_STEP_CAP)
    n, half = window // 8, window // 2
    cols = np.sort(dx.reshape(h // window, half, w // window, n, 8), axis=3)
    cols = cols[:, :, :, 1:-1].mean(axis=3).mean(axis=1)
    rows = np.sort(dy.reshape(h // window, n, 8, w // window, half), axis=1)
    rows = rows[:, 1:-1].mean(axis=1).mean(axis=3).transpose(0, 2, 1)
    dominance = np.maximum(localisation._dominance(cols), localisation._dominance(rows))
    overall = cols.sum(axis=(0, 1))
    return dominance, float((overall[7] - np.median(overall)) / (np.median(overall) + 1e-6))


def _textbook_dq_map(luma: np.ndarray, luma_table: list[int]) -> np.ndarray | None:
    """Lin et al.'s map from every block's full 8x8 DCT, NaN where a bin has no say."""
    h, w = (s - s % 8 for s in luma.shape)
    blocks = luma[:h, :w].astype(np.float32) - 128.0
    blocks = blocks.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    coefficients = _DCT @ blocks @ _DCT.T
    table = np.asarray(luma_table, dtype=np.float32).reshape(8, 8)
    probabilities = []
    for u, v in localisation.DQ_FREQUENCIES:
        step = float(table[u, v])
        if step < 2:
            continue
        k = np.abs(np.round(coefficients[..., u, v] / step)).astype(np.int64)
        hist = np.bincount(k.ravel(), minlength=42)[:42].astype(np.float64)
        period = localisation._period(hist[1:41])
        if period is None:
            continue
        window = np.convolve(hist, np.ones(period), mode="same")
        untampered = period * hist / np.maximum(window, 1.0)
        p = 1.0 / (1.0 + untampered[np.minimum(k, 41)])
        p[(k == 0) | (k > 40)] = np.nan
        probabilities.append(p)
    if len(probabilities) < 2:
        return None
    stacked = np.stack(probabilities)
    counted = (~np.isnan(stacked)).sum(axis=0)
    total = np.nan_to_num(stacked, nan=0.0).sum(axis=0)
    return np.where(counted > 0, total / np.maximum(counted, 1), 0.5)


def _saved(image: np.ndarray, *qualities: int) -> np.ndarray:
    for quality in qualities:
        encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return image


def _luma_and_table(image: np.ndarray, quality: int) -> tuple[np.ndarray, list[int]]:
    from io import BytesIO

    from PIL import Image

    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    table = list(Image.open(BytesIO(data)).quantization[0])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE), table


@pytest.fixture(scope="module")
def spliced() -> np.ndarray:
    """Saved at q65, a patch of another photo pasted in at an odd offset (not yet saved)."""
    photo = _saved(synthetic.render_other_shot(311, 1).image, 65)
    donor = _saved(synthetic.render_printed_shot(511, 2).image, 70)
    photo[303:483, 701:941] = donor[105:285, 203:443]
    return photo


@pytest.mark.parametrize(("crop", "final_quality"), [((900, 1200), 92), ((877, 1163), 85)])
def test_the_fast_grid_map_is_the_textbook_one(spliced, crop, final_quality):
    luma, _table = _luma_and_table(spliced[: crop[0], : crop[1]], final_quality)

    dominance, strength = localisation.grid_map(luma)
    expected, expected_strength = _textbook_grid_map(luma)

    assert dominance.dtype == expected.dtype
    np.testing.assert_array_equal(dominance, expected)
    assert strength == expected_strength
    assert dominance.max() > 0  # the pasted patch's offset grid is in the map at all


def test_the_fast_double_quantisation_map_is_the_textbook_one(spliced):
    luma, table = _luma_and_table(spliced, 90)

    fast = localisation.dq_map(luma, table)
    expected = _textbook_dq_map(luma, table)

    assert expected is not None  # the photo was saved twice: there is a map
    np.testing.assert_array_equal(fast, expected)
    assert fast[303 // 8 + 2 : 483 // 8 - 2, 701 // 8 + 2 : 941 // 8 - 2].mean() > 0.6


def test_a_photo_saved_once_has_no_double_quantisation_map_either_way():
    luma, table = _luma_and_table(synthetic.render_other_shot(312, 3).image, 90)

    assert _textbook_dq_map(luma, table) is None
    assert localisation.dq_map(luma, table) is None
