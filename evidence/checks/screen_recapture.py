"""Is a photo that lines up with the merchant's picture a photograph of a *screen*
showing it? Pure functions; ``reference_match`` calls them once the geometry says the
photo shows the reference's whole picture (issue 10).

A screen is a grid of red, green and blue stripes. Photographed, the grid is sampled by
the camera's own pixel grid: where the two nearly agree, the beat between them shows as
moire bands, and where the grid is finer than the camera, it aliases into a periodic
pattern all the same. Either way the picture carries *isolated peaks* in its spatial
spectrum, strongest in the colour-difference channels (each stripe is one colour). A
printed poster photographed for real has paper grain, ink mottle and sensor noise, which
spread their energy over the spectrum; a digital copy has neither.

:func:`grid_strength` measures the peaks in tiles cut from inside the picture as it lies
in the photo, at the photo's sharpest decoded resolution: the high-pass of luma, B-G and
R-G, windowed, its power spectrum divided by the geometric mean of its ring (what a
noise-like texture has at that frequency), outside the lowest frequencies (content) and
the JPEG 8x8 block grid's harmonics. A tile's score is its largest normalised peak; the
photo's is the median over the tiles, so that one tile on a striped print does not
decide.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

TILE = 256
MIN_TILE = 128
MIN_TILES = 3
LOW_FREQUENCY = 0.08  # of the tile's size, in cycles: content, light and vignetting
HIGH_PASS_SIGMA = 2.0
# Photos of screens measured 11,000-500,000 in the benchmark's generator (pitch 1.6-3.2
# camera pixels, slants to 20 degrees, JPEG q85-95; weakest where the grid's pitch is
# close to 2 camera pixels and aliases to the lowest frequencies); honest photos of
# printed posters, cards and covers 90-4,300 (JPEG q60 included). See docs/detection.md
# for the table measured on the benchmark.
MIN_GRID_STRENGTH = 8_000.0
NOISE_FLOOR = 1.0  # grey levels of white noise per pixel (phone sensors: 1.5-3.5)


@cache
def _spectral_layout(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tile's window, each frequency bin's ring, and which bins are looked at."""
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    yy, xx = np.mgrid[-(n // 2) : n - n // 2, -(n // 2) : n - n // 2]
    ring = np.hypot(yy, xx).astype(np.int32)
    block = n // 8  # the JPEG block grid's harmonics (and a 2x or 4x draft's)
    jpeg = (np.abs(yy) % block <= 1) & (np.abs(xx) % block <= 1)
    looked = (ring >= LOW_FREQUENCY * n) & (ring <= n // 2) & ~jpeg
    return window, ring, looked, np.bincount(ring.ravel())


def tile_strength(tile: np.ndarray) -> float:
    """The largest isolated spectral peak of a square BGR tile (see the module doc)."""
    n = tile.shape[0]
    window, ring, looked, ring_sizes = _spectral_layout(n)
    f = tile.astype(np.float32)
    b, g, r = f[..., 0], f[..., 1], f[..., 2]
    best = 0.0
    for channel in (0.114 * b + 0.587 * g + 0.299 * r, b - g, r - g):
        high = channel - cv2.GaussianBlur(channel, (0, 0), HIGH_PASS_SIGMA)
        power = np.abs(np.fft.fftshift(np.fft.fft2(high * window))) ** 2
        log_power = np.log(power + 1e-6)
        ring_mean = np.bincount(ring.ravel(), log_power.ravel()) / np.maximum(ring_sizes, 1)
        # Never below what a camera's noise floor gives (NOISE_FLOOR grey levels): a
        # clean digital picture's empty rings would make any edge a "peak".
        floor = (NOISE_FLOOR * 3 * n / 8) ** 2
        normalised = power / (np.exp(ring_mean)[ring] + floor)
        best = max(best, float(normalised[looked].max()))
    return best


def grid_strength(source: np.ndarray, quad: np.ndarray) -> float | None:
    """The median :func:`tile_strength` of up to five tiles inside ``quad`` (the
    picture's corners in ``source``'s pixels, as a 4x2 array); None when fewer than
    :data:`MIN_TILES` fit inside it."""
    quad = np.asarray(quad, np.float32).reshape(4, 2)
    (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
    n = TILE
    while n > MIN_TILE and min(x1 - x0, y1 - y0) < 2.5 * n:
        n //= 2
    centre = quad.mean(axis=0)
    h, w = source.shape[:2]
    contour = quad.reshape(-1, 1, 2)
    scores = []
    for point in (centre, *(centre + 0.5 * (corner - centre) for corner in quad)):
        cx, cy = int(point[0]) - n // 2, int(point[1]) - n // 2
        if cx < 0 or cy < 0 or cx + n > w or cy + n > h:
            continue
        corners = ((cx, cy), (cx + n, cy), (cx + n, cy + n), (cx, cy + n))
        if any(cv2.pointPolygonTest(contour, (float(x), float(y)), False) < 0 for x, y in corners):
            continue
        scores.append(tile_strength(source[cy : cy + n, cx : cx + n]))
    if len(scores) < MIN_TILES:
        return None
    return float(np.median(scores))
