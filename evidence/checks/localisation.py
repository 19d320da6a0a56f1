"""Localised-edit aids for photos with no reference to compare: where in the picture its
pixels disagree with the rest. Training-free published methods, no model download:

* **noise level** (Immerkær's fast noise estimate per 16-px block of the working copy,
  flat blocks only): a region pasted from another photo, or smoothed, carries another
  sensor's (or no) noise;
* **JPEG grid alignment** (block-artifact grid, after Li, Yuan & Yu 2009): per 32-px
  window of the full-resolution luminance, the phase of the strongest 8-px blockiness; a
  region whose grid is offset from the picture's was pasted from another JPEG;
* **double quantisation** (Lin, He, Tang & Tang 2009): a JPEG saved twice has periodic
  DCT histograms; per 8x8 block, the probability that its coefficients do *not* follow
  that periodicity, i.e. the block was compressed once (pasted in after the first save).

Each is drawn as a heatmap (a reviewer aid: ``localisation_heatmap``, weight 0); only a
compact region that stands out strongly in the double-quantisation map is reported
(``localisation_inconsistent_region``, low, weight 10): the noise and grid maps raised
false alarms on genuine photos (3 of 66) and are measured in the details only. The two
JPEG aids need the 8x8 grid, i.e. the full-resolution pixels: they run on JPEGs up to
GRID_MAX_PIXELS (the luminance decoded once more); larger photos get the noise map
alone, which reads the reduced working copy. False alarms and hits: docs/verdicts.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from django.utils.translation import gettext_noop

from evidence.checks.base import Artifact, Check, CheckContext, FindingData, Severity, palette_png
from evidence.checks.pixel_forensics import _DCT, ELA_PALETTE
from evidence.imaging import orient_array

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

NOISE_BLOCK = 16
GRID_WINDOW = 32
GRID_STEP_CAP = 6.0  # levels; a JPEG block edge is a step of a few
GRID_MAX_PIXELS = 2_200_000  # 1920x1080 and a little more; the grid needs every pixel
MIN_SIDE = 128
# The DCT coefficients the double-quantisation map reads (row u, column v).
DQ_FREQUENCIES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2))

# What "strong" means per aid (region statistics; calibrated with bench/localisation.py).
NOISE_RATIO = 6.0  # the region's noise vs the rest's, either way
GRID_DOMINANCE = 1.0  # another phase's blockiness over the window's median (genuine: <= 0.65)
DQ_PROBABILITY = 0.75  # mean probability of "compressed once" over the region
MIN_REGION_FRACTION = 0.01
MAX_REGION_FRACTION = 0.4

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_map(gray: np.ndarray) -> np.ndarray:
    """Per NOISE_BLOCK block, the noise sigma (Immerkær 1996); NaN where the block is
    textured, clipped or dark (there the residual measures the scene, not the sensor)."""
    h, w = (s - s % NOISE_BLOCK for s in gray.shape)
    g = gray[:h, :w].astype(np.float32)
    residual = np.abs(cv2.filter2D(g, -1, _IMMERKAER))
    gradient = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1))
    size = (w // NOISE_BLOCK, h // NOISE_BLOCK)
    sigma = cv2.resize(residual, size, interpolation=cv2.INTER_AREA) * np.sqrt(np.pi / 2) / 6
    texture = cv2.resize(gradient, size, interpolation=cv2.INTER_AREA)
    level = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    usable = (level > 20) & (level < 235) & (texture <= np.percentile(texture, 60))
    return np.where(usable, sigma, np.nan)


def grid_map(luma: np.ndarray) -> tuple[np.ndarray, float]:
    """Per GRID_WINDOW window, how much more an 8-px grid at another phase than the
    picture's own explains its blockiness (> 1: another grid dominates); and the
    picture's grid strength (how clearly it is a JPEG's grid at all)."""
    h, w = (s - s % GRID_WINDOW for s in luma.shape)
    g = np.ascontiguousarray(luma[:h, :w])
    n, half = GRID_WINDOW // 8, GRID_WINDOW // 2
    # Block edges are steps of a few levels; a scene's edges are larger and are cut down
    # to that size, and the median over the window's blocks drops the one block column
    # (or row) a straight edge runs through. Every other row (column) is enough to see a
    # column (row) phase, at half the cost. The steps are whole numbers of at most
    # GRID_STEP_CAP, so they are added up as integers (exactly, ~5x faster than floats).
    cap = int(GRID_STEP_CAP)
    sampled = g[::2]
    dx = np.zeros((h // 2, w), np.uint8)
    cv2.absdiff(sampled[:, 1:], sampled[:, :-1], dst=dx[:, :-1])
    np.minimum(dx, cap, out=dx)
    blocks = dx.reshape(h // 2, w // GRID_WINDOW, n, 8)  # column = window, block, phase
    cols = _middle([blocks[:, :, b] for b in range(n)])
    cols = cols.reshape(h // GRID_WINDOW, half, w // GRID_WINDOW, 8).sum(axis=1, dtype=np.uint16)
    cols = cols.astype(np.float32) / np.float32(2 * half)
    columns = np.ascontiguousarray(g[:, ::2])
    dy = np.zeros((h, w // 2), np.uint8)
    cv2.absdiff(columns[1:], columns[:-1], dst=dy[:-1])
    np.minimum(dy, cap, out=dy)
    blocks = dy.reshape(h // GRID_WINDOW, n, 8, w // 2)  # row = window, block, phase
    rows = _middle([blocks[:, b] for b in range(n)])
    rows = rows.reshape(h // GRID_WINDOW, 8, w // GRID_WINDOW, half).sum(axis=3, dtype=np.uint16)
    rows = rows.astype(np.float32).transpose(0, 2, 1) / np.float32(2 * half)
    dominance = np.maximum(_dominance(cols), _dominance(rows))
    overall = cols.sum(axis=(0, 1))
    strength = float((overall[7] - np.median(overall)) / (np.median(overall) + 1e-6))
    return dominance, strength


def _middle(steps: list[np.ndarray]) -> np.ndarray:
    """Per element, the sum of four uint8 arrays without the largest and the smallest
    (twice the mean of the middle two: a median of four without a partition), uint16."""
    a, b, c, d = steps
    highest = np.maximum(np.maximum(a, b), np.maximum(c, d))
    lowest = np.minimum(np.minimum(a, b), np.minimum(c, d))
    total = a.astype(np.uint16)
    for other in (b, c, d):
        total += other
    total -= highest
    total -= lowest
    return total


def _dominance(energy: np.ndarray) -> np.ndarray:
    """Energy by phase (last axis; phase 7 is the picture's grid boundary): how far the
    best other phase stands out, in units of the window's median energy, when it stands
    out more than the picture's own grid does; 0 where the picture's grid wins."""
    base = np.maximum(np.median(energy, axis=-1), 1e-3)
    own = (energy[..., 7] - base) / base
    other = (np.delete(energy, 7, axis=-1).max(axis=-1) - base) / base
    return np.where(other > own, other, 0.0)


def dq_map(luma: np.ndarray, luma_table: list[int]) -> np.ndarray | None:
    """Per 8x8 block, the probability that it was compressed once while the picture was
    compressed twice (Lin et al. 2009); None when the histograms show no double
    quantisation (then there is nothing to be inconsistent with)."""
    h, w = (s - s % 8 for s in luma.shape)
    pixels = luma[:h, :w].astype(np.float32) - 128.0
    # Only the 3x3 lowest frequencies are read: the separable DCT restricted to them,
    # as two matrix products over the whole picture (~8x less arithmetic than every
    # block's full 8x8 transform).
    low = np.matmul(_DCT[:3], pixels.reshape(h // 8, 8, w))  # block row, u, column
    low = np.matmul(low.reshape(h // 8, 3, w // 8, 8), _DCT[:3].T)  # block row, u, block, v
    table = np.asarray(luma_table, dtype=np.float32).reshape(8, 8)
    total = counted = None
    used = 0
    for u, v in DQ_FREQUENCIES:
        step = float(table[u, v])
        if step < 2:
            continue
        k = np.abs(np.round(low[:, u, :, v] / step)).astype(np.int64)
        hist = np.bincount(k.ravel(), minlength=42)[:42].astype(np.float64)
        period = _period(hist[1:41])
        if period is None:
            continue
        window = np.convolve(hist, np.ones(period), mode="same")
        untampered = period * hist / np.maximum(window, 1.0)  # P(bin | DQ); uniform: 1
        # Per bin, the probability of "compressed once"; bin 0 and the tail (41: every
        # larger value) carry no period and have no say.
        probability = 1.0 / (1.0 + untampered)
        probability[[0, 41]] = 0.0
        says = np.ones(42, np.int64)
        says[[0, 41]] = 0
        k = np.minimum(k, 41, out=k)
        if total is None:
            total, counted = probability[k], says[k]
        else:
            total += probability[k]
            counted += says[k]
        used += 1
    if used < 2:
        return None
    return np.where(counted > 0, total / np.maximum(counted, 1), 0.5)  # 0.5: no say


def _period(hist: np.ndarray) -> int | None:
    """The period of a histogram's dips and peaks (2..8), or None when it has none."""
    if hist.sum() < 2000:
        return None
    trend = np.convolve(hist, np.ones(5) / 5, mode="same")
    relative = hist / np.maximum(trend, 1.0) - 1
    relative = relative[2:-2][trend[2:-2] >= 20]
    best, strength = None, 0.6
    for n in range(2, 9):
        if relative.size < 2 * n:
            break
        pattern = [relative[s::n].mean() for s in range(n)]
        if max(pattern) - min(pattern) > strength:
            best, strength = n, max(pattern) - min(pattern)
    return best


def strongest_region(values: np.ndarray, hot: np.ndarray) -> tuple[float, np.ndarray | None]:
    """The largest connected region of ``hot`` cells (3x3-smoothed), if it is compact
    (MIN..MAX_REGION_FRACTION of the measured cells): (its median value, its mask)."""
    measured = ~np.isnan(values)
    if measured.sum() < 64:
        return 0.0, None
    hot = cv2.medianBlur((hot & measured).astype(np.uint8) * 255, 3) > 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hot.astype(np.uint8), connectivity=8)
    if count < 2:
        return 0.0, None
    label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[label, cv2.CC_STAT_AREA] / measured.sum()
    if not MIN_REGION_FRACTION <= area <= MAX_REGION_FRACTION:
        return 0.0, None
    mask = labels == label
    return float(np.nanmedian(values[mask])), mask


@dataclass(frozen=True)
class _Aid:
    """One aid's verdict on its map: a heatmap always, a region when one stands out."""

    name: str
    threshold: float  # a region's median above it is "strong"
    scale: float  # the heatmap is brightest at floor + scale
    floor: float
    caption: str
    # Whether a strong region is reported (a finding) or only measured (details): only
    # the aid whose false alarms measured 0 reports (bench/localisation.py).
    reports: bool = True

    def __call__(self, values, orientation, shape, regions, artifacts, details) -> None:
        value, mask = strongest_region(values, values > self.threshold)
        details[f"{self.name}_region"] = round(value, 2)
        if self.reports and mask is not None and value > self.threshold:
            box = _box(mask, orientation, shape)
            regions.append((self.name, value / self.threshold, box))
        levels = np.clip((values - self.floor) / self.scale, 0, 1) * 255
        levels = np.nan_to_num(levels, nan=0).astype(np.uint8)
        png = palette_png(orient_array(levels, orientation), ELA_PALETTE)
        artifacts.append(Artifact(self.name, png, self.caption))


NOISE_CAPTION = gettext_noop(
    "Noise level: bright where a block's noise differs from the photo's (blank where the "
    "scene is textured, dark or clipped). Phones smooth some areas on their own; compare "
    "with the other maps."
)
GRID_CAPTION = gettext_noop(
    "JPEG grid: bright where the 8-pixel block pattern is offset from the rest of the "
    "photo, as in a piece pasted from another JPEG."
)
DQ_CAPTION = gettext_noop(
    "Double compression: bright where the blocks look compressed once while the photo was "
    "compressed twice (pasted in between)."
)


def _box(mask: np.ndarray, orientation: int, shape: tuple[int, int]) -> list[int]:
    """The region's box in full-resolution pixels of the upright photo."""
    oriented = orient_array(mask.astype(np.uint8), orientation)
    ys, xs = np.nonzero(oriented)
    sy, sx = shape[0] / oriented.shape[0], shape[1] / oriented.shape[1]
    return [
        int(xs.min() * sx),
        int(ys.min() * sy),
        int((xs.max() + 1) * sx),
        int((ys.max() + 1) * sy),
    ]


class LocalisationCheck(Check):
    """Heatmaps of noise level, JPEG grid alignment and double quantisation (INFO,
    weight 0), and ``localisation_inconsistent_region`` (LOW, weight 10) when a compact
    region stands out strongly in one of them, with its box and the aid that saw it.

    Promises: pure; the JPEG aids only on JPEGs of at most GRID_MAX_PIXELS (else the
    details say ``grid_assessed: false``); no finding on a picture under MIN_SIDE px."""

    name = "localisation"
    version = 1
    codes = {
        "localisation_heatmap": (
            0,
            "Heatmaps of noise level, JPEG grid and double compression (reviewer aids).",
        ),
        "localisation_inconsistent_region": (
            10,
            "One region differs from the rest of the photo in noise or JPEG history (an aid).",
        ),
    }

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        if min(image.width, image.height) < MIN_SIDE:
            return []
        artifacts, regions, details = [], [], {"grid_assessed": False}
        height, width = image.height, image.width

        shape = (height, width)
        sigma = noise_map(image.gray)
        reference = float(np.nanmedian(sigma)) if not np.all(np.isnan(sigma)) else 0.0
        if reference > 0.3:
            ratio = sigma / reference
            log_ratio = np.abs(np.log(np.where(ratio > 0, ratio, np.nan)))
            details["noise_sigma"] = round(reference, 2)
            assess = _Aid(
                "noise", np.log(NOISE_RATIO), np.log(4), 0.0, NOISE_CAPTION, reports=False
            )
            assess(log_ratio, 1, shape, regions, artifacts, details)

        luma = self._full_resolution_luma(image)
        if luma is not None:
            dominance, strength = grid_map(luma)
            details.update(grid_assessed=True, grid_strength=round(strength, 3))
            if strength > 0.1:
                assess = _Aid(
                    "jpeg_grid",
                    GRID_DOMINANCE,
                    2 * GRID_DOMINANCE,
                    0.0,
                    GRID_CAPTION,
                    reports=False,
                )
                assess(dominance, image.orientation, shape, regions, artifacts, details)
            tables = getattr(image.pil, "quantization", None) or {}
            probability = dq_map(luma, list(tables[0])) if 0 in tables else None
            details["double_quantisation"] = probability is not None
            if probability is not None:
                smooth = cv2.blur(probability.astype(np.float32), (5, 5))
                assess = _Aid("double_quantisation", DQ_PROBABILITY, 0.5, 0.5, DQ_CAPTION)
                assess(smooth, image.orientation, shape, regions, artifacts, details)
        if not artifacts:
            return []
        findings = [
            FindingData(
                code="localisation_heatmap",
                severity=Severity.INFO,
                message=gettext_noop(
                    "Maps of where the photo's noise and JPEG history differ from place to "
                    "place (aids for a person; bright areas are not proof of editing)."
                ),
                details=details,
                artifacts=artifacts,
            )
        ]
        if regions:
            aid, value, box = max(regions, key=lambda r: r[1])
            findings.append(
                FindingData(
                    code="localisation_inconsistent_region",
                    severity=Severity.LOW,
                    message=REGION_MESSAGES[aid],
                    details={**details, "aid": aid, "value": round(value, 2), "boxes": [box]},
                )
            )
        return findings

    @staticmethod
    def _full_resolution_luma(image: DecodedImage) -> np.ndarray | None:
        """The stored (not yet rotated) luminance at full resolution, for the 8x8 grid."""
        if image.format != "JPEG" or image.width * image.height > GRID_MAX_PIXELS:
            return None
        data = np.frombuffer(image.data, np.uint8)
        luma = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
        return luma if luma is not None and min(luma.shape) >= MIN_SIDE else None


REGION_MESSAGES = {
    "noise": gettext_noop(
        "One region of the photo has a noise level unlike the rest: it may have been pasted "
        "in or retouched (an aid, not proof; phones also smooth some areas)."
    ),
    "jpeg_grid": gettext_noop(
        "One region of the photo carries a JPEG block grid offset from the rest: it may "
        "have been pasted in from another picture (an aid, not proof)."
    ),
    "double_quantisation": gettext_noop(
        "One region of the photo was compressed fewer times than the rest: it may have "
        "been pasted in before the last save (an aid, not proof)."
    ),
}
