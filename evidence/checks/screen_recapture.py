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
the JPEG 8x8 block grid's harmonics. A tile's score is its first peak in two channels
or more, when that peak can be a screen's (it runs along the picture's axes: see
the constants below; a print's halftone dots run askew); the photo's is the median
over the tiles, so that one tile on a striped print does not decide. A panel finer than
two camera pixels aliases askew of the axes in every tile; it is read across the tiles
instead, from how its peaks move under the picture's slant (:func:`_aliased_grid`).
"""

from __future__ import annotations

from collections.abc import Callable
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
# Not every regular pattern is a screen's. Offset-printed cards, covers and boxes are
# halftone dots, and a close-up resolves them: a photo of the real printed item carries
# peaks as strong as a screen's (measured up to 25,000 on testing/frames.py's halftone
# prints). The two differ in how the pattern sits on the picture: a screen's grid runs
# along the picture's own axes (the picture is shown upright on the panel): rows of
# emitters and the dark gaps between them, columns of red, green and blue. Mapped back
# into the picture's frame (the local Jacobian of the quad's homography), its peaks point
# along x or y. Halftone screens are set at 15, 75 and 45 degrees (cyan, magenta, black);
# only yellow runs at 0, and it darkens the blue channel alone.
# A tile's peaks are read strongest first, those in at least two channels only
# (MIN_SECOND_CHANNEL of the strongest channel's amplitude: one channel alone is one ink,
# or one emitter, and says nothing), the picture's own patterns passed over
# (CONTENT_PEAK_SHARE). The first such peak decides: a screen's when it runs along the
# picture's axes (AXIS_TOLERANCE_DEG, plus the bin's angular size), a print's otherwise
# (a black halftone screen at 45 degrees; its own harmonics, weaker, run along the axes,
# hence "the first", and DIAGONAL_PARENT). Tried and dropped (each accused an honest
# halftone close-up): counting peaks whose channels beat out of step whatever their
# angle (cyan-magenta beats do), and undoing the camera's aliasing before the angle test
# in one tile (across the tiles it can be told: see ALIAS_PITCH_RANGE).
AXIS_TOLERANCE_DEG = 2.5
MIN_SECOND_CHANNEL = 0.4
PEAKS_EXAMINED = 12  # the strongest local maxima of each tile
# A black halftone screen at 45 degrees has its (1, 1) harmonic along the axes, in step
# and (after the ring normalisation) sometimes stronger than the fundamental: an axis peak
# with a peak half-way along a diagonal (the 45-degree lattice it is the harmonic of) of
# at least this share of its strength is a print's. A screen's rows and columns have none
# there (a PenTile's red-blue checker does: see PARENT_MIN_AMPLITUDE).
DIAGONAL_PARENT = 0.05
# ... and only when that diagonal peak is at least as strong in luma amplitude (not in
# the ring-normalised strength, which favours the higher frequency) as the axis peak: a
# harmonic of a dot screen is never stronger than its fundamental (small dots give them
# equal amplitudes, larger dots, dot gain and the optics' blur take the harmonic down;
# a phone's sharpening raises it by ~15 % at these frequencies). An OLED's PenTile panel
# is the other lattice with this geometry: its axis peak is the pixel grid itself (a green
# dot in every pixel, the gaps between them) and its 45-degree peak the weaker red-blue
# checker, which the phone's chroma smoothing has mostly taken out of luma. Measured (luma
# amplitude, axis over diagonal): halftone close-ups 0.26-0.45 (4 tiles of 300: the rule
# rarely fires on prints), PenTile screens 0.84-1.86 (10 of 11 tiles over 1.0).
PARENT_MIN_AMPLITUDE = 1.0
# A striped pattern in the picture itself (a shirt's stripes, a barcode, lines of text)
# is as regular as a grid, and beats out of step where its colours alternate: a peak the
# reference has too (warped onto the same tile, at this share of the photo's strength
# or more) is the picture's, and passed over. A screen's grid is finer than the stored
# reference can hold, so the reference never has it.
CONTENT_PEAK_SHARE = 0.02
# A panel finer than two camera pixels aliases: its grid, along the picture's x or y axis
# at u = (m, 0) or (0, m) cycles per picture pixel, shows in the photo at J^-T u folded
# back by whole cycles per camera pixel, askew of the picture, where the angle test above
# reads a print (and must: a single tile cannot tell an aliased axis grid from a 15-degree
# halftone screen). Across the picture the two part: under a slant the Jacobian J varies,
# and a grid moves from tile to tile as its *true* frequency does, a print's (unaliased,
# constant in the print's frame) as its observed one. The tiles' first peaks are a
# screen's aliased grid when one pitch m (ALIAS_PITCH_RANGE, in picture pixels per
# cycle) predicts every tile's peak within ALIAS_FIT_BINS (rms, frequency bins) and the
# print's reading fails: the peaks, mapped into the picture's frame and reduced by the
# square lattice's symmetries (rotations by 90 degrees and the mirror that takes a
# 15-degree screen to a 75-degree one, so that tiles reading the cyan and the magenta
# screens agree), spread over ALIAS_PRINT_SPREAD times the fit's residual and at least
# ALIAS_MIN_PRINT_SPREAD_BINS. A near-frontal photo (J nearly constant) can satisfy both
# readings, and then stays a print's. Measured on the true corners: screens' peaks fit
# 0.2-0.8 bins rms (1.3-3.0 through the ORB fits), honest halftone close-ups' 9.5 bins
# and more (60 photos).
ALIAS_PITCH_RANGE = (1.0, 2.5)
ALIAS_FIT_BINS = 2.0
ALIAS_PRINT_SPREAD = 2.0
ALIAS_MIN_PRINT_SPREAD_BINS = 3.0


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


def _strength_map(tile: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each frequency's power over its ring's (the largest of luma, B-G and R-G; zero
    where not looked at) and the three channels' spectra, of a square BGR tile."""
    n = tile.shape[0]
    window, ring, looked, ring_sizes = _spectral_layout(n)
    f = tile.astype(np.float32)
    spectra = []
    for c in range(3):
        high = f[..., c] - cv2.GaussianBlur(f[..., c], (0, 0), HIGH_PASS_SIGMA)
        spectra.append(np.fft.fftshift(np.fft.fft2(high * window)))
    b, g, r = spectra
    # Never below what a camera's noise floor gives (NOISE_FLOOR grey levels): a clean
    # digital picture's empty rings would make any edge a "peak".
    floor = (NOISE_FLOOR * 3 * n / 8) ** 2
    strength = np.zeros((n, n), np.float64)
    for combined in (0.114 * b + 0.587 * g + 0.299 * r, b - g, r - g):
        power = np.abs(combined) ** 2
        log_power = np.log(power + 1e-6)
        ring_mean = np.bincount(ring.ravel(), log_power.ravel()) / np.maximum(ring_sizes, 1)
        np.maximum(strength, power / (np.exp(ring_mean)[ring] + floor), out=strength)
    strength[~looked] = 0.0
    return strength, spectra


def tile_strength(
    tile: np.ndarray,
    jacobian: np.ndarray | None = None,
    reference_tile: np.ndarray | None = None,
) -> float:
    """The largest isolated spectral peak of a square BGR tile that can be a screen's
    (see the module doc): with ``jacobian`` (2x2, picture frame -> photo, at the tile),
    peaks that run askew of the picture in step, like halftone dots, do not count;
    without it, every peak does. With ``reference_tile`` (the reference warped onto the
    same pixels), a peak the reference has too (a striped pattern in the picture
    itself, at least :data:`CONTENT_PEAK_SHARE` of the photo's) is content, and passed."""
    return _tile_peak(tile, jacobian, reference_tile)[0]


def _tile_peak(
    tile: np.ndarray,
    jacobian: np.ndarray | None,
    reference_tile: np.ndarray | None,
) -> tuple[float, tuple[float, float] | None, float]:
    """:func:`tile_strength`, with the tile's first peak in two channels that is not the
    picture's own (its frequency in cycles per photo pixel, refined between the bins, and
    its strength; None and 0 when there is none): what :func:`_aliased_grid` reads."""
    n = tile.shape[0]
    strength, (b, g, r) = _strength_map(tile)
    if jacobian is None:
        return float(strength.max()), None, 0.0
    content = None if reference_tile is None else _strength_map(reference_tile)[0]
    # The strongest local maxima (a spectrum is symmetric: each peak appears twice).
    strength32 = strength.astype(np.float32)
    peaks = (strength32 == cv2.dilate(strength32, np.ones((3, 3), np.uint8))) & (strength32 > 0)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-strength[ys, xs])[: 2 * PEAKS_EXAMINED]
    luma = np.abs(0.114 * b + 0.587 * g + 0.299 * r)
    for k in order:
        y, x = ys[k], xs[k]
        amplitudes = np.abs([b[y, x], g[y, x], r[y, x]])
        if np.sort(amplitudes)[-2] < MIN_SECOND_CHANNEL * amplitudes.max():
            continue  # one channel alone: one ink (yellow dots), or one emitter; says nothing
        if content is not None and (
            content[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].max()
            >= CONTENT_PEAK_SHARE * strength[y, x]
        ):
            continue  # the picture's own pattern, not the screen's
        frequency = _refined_frequency(strength, y, x)
        if _screen_like(
            b[y, x], g[y, x], r[y, x], (x - n // 2) / n, (y - n // 2) / n, n, jacobian
        ) and not _diagonal_parent(strength, luma, y, x):
            return float(strength[y, x]), frequency, float(strength[y, x])
        # The strongest pattern in two channels or more beats in step and runs askew of
        # the picture: a print's halftone screen, whatever weaker peaks follow it (a
        # black screen's own harmonics run along the axes).
        return 0.0, frequency, float(strength[y, x])
    return 0.0, None, 0.0


def _refined_frequency(strength: np.ndarray, y: int, x: int) -> tuple[float, float]:
    """The peak at bin (y, x), in cycles per pixel, placed between the bins by a parabola
    through the log strengths of its neighbours along each axis."""
    n = strength.shape[0]
    log = np.log(strength + 1e-9)

    def offset(before: float, at: float, after: float) -> float:
        curvature = before - 2 * at + after
        return (
            0.0 if curvature >= 0 else float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5))
        )

    dx = offset(log[y, x - 1], log[y, x], log[y, x + 1]) if 0 < x < n - 1 else 0.0
    dy = offset(log[y - 1, x], log[y, x], log[y + 1, x]) if 0 < y < n - 1 else 0.0
    return (x + dx - n // 2) / n, (y + dy - n // 2) / n


def _screen_like(
    b: complex, g: complex, r: complex, fx: float, fy: float, n: int, jacobian: np.ndarray
) -> bool:
    """Can a peak at (fx, fy) cycles per photo pixel be a screen's grid: does it run along
    the picture's axes, mapped into the picture's frame (see the module doc)? The peak is
    taken as it is: undoing an alias (one cycle per pixel added along a camera axis) was
    tried, and a halftone's cyan or magenta screen, 15 degrees off, then lands on an axis
    often enough to accuse an honest close-up (10,957 on one); a grid finer than two
    camera pixels is read across the tiles instead (:func:`_aliased_grid`)."""
    del b, g, r  # the phases decide nothing (see the module constants)
    length = float(np.hypot(fx, fy))
    if length == 0:
        return False
    along = jacobian.T @ np.array([fx, fy])  # the pattern's frequency in the picture's frame
    angle = np.degrees(np.arctan2(abs(along[1]), abs(along[0])))
    off_axis = min(angle, 90.0 - angle)
    return off_axis <= AXIS_TOLERANCE_DEG + np.degrees(1.0 / (n * length))


def _diagonal_parent(strength: np.ndarray, luma: np.ndarray, y: int, x: int) -> bool:
    """Is the peak at (y, x) the harmonic of a lattice at 45 degrees (a black halftone
    screen's (1, 1) order runs along the axes)? True when one of the two bins half-way
    along the diagonals ((fx - fy) / 2, (fx + fy) / 2) and ((fx + fy) / 2, (fy - fx) / 2)
    holds a peak of at least DIAGONAL_PARENT of this one's strength and at least
    PARENT_MIN_AMPLITUDE of its amplitude in ``luma`` (the luma spectrum's magnitude)."""
    n = strength.shape[0]
    c = n // 2
    fx, fy = x - c, y - c
    for px, py in (((fx - fy) / 2, (fx + fy) / 2), ((fx + fy) / 2, (fy - fx) / 2)):
        yy, xx = int(round(py)) + c, int(round(px)) + c
        window = (slice(max(0, yy - 1), yy + 2), slice(max(0, xx - 1), xx + 2))
        if (
            strength[window].size
            and strength[window].max() >= DIAGONAL_PARENT * strength[y, x]
            and luma[window].max() >= PARENT_MIN_AMPLITUDE * luma[y, x]
        ):
            return True
    return False


def grid_strength(
    source: np.ndarray,
    quad: np.ndarray,
    reference: Callable[[int, int, int], np.ndarray] | None = None,
) -> float | None:
    """The median :func:`tile_strength` of up to five tiles inside ``quad`` (the
    picture's corners in ``source``'s pixels, as a 4x2 array); None when fewer than
    :data:`MIN_TILES` fit inside it. ``reference(x, y, n)``, when given, returns the
    reference picture warped onto the n x n tile at (x, y) of ``source``."""
    quad = np.asarray(quad, np.float32).reshape(4, 2)
    (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
    n = TILE
    while n > MIN_TILE and min(x1 - x0, y1 - y0) < 2.5 * n:
        n //= 2
    centre = quad.mean(axis=0)
    h, w = source.shape[:2]
    contour = quad.reshape(-1, 1, 2)
    # The picture's frame -> the photo; its Jacobian at each tile.
    # (Sides as long as the quad's, so that angles in it are nearly the picture's own.)
    side_w = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    side_h = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    unit = np.float32([[0, 0], [side_w, 0], [side_w, side_h], [0, side_h]])
    to_photo = cv2.getPerspectiveTransform(unit, quad).astype(np.float64)
    to_picture = np.linalg.inv(to_photo)
    scores: list[float] = []
    first_peaks: list[tuple[tuple[float, float] | None, float, np.ndarray]] = []
    for point in (centre, *(centre + 0.5 * (corner - centre) for corner in quad)):
        cx, cy = int(point[0]) - n // 2, int(point[1]) - n // 2
        if cx < 0 or cy < 0 or cx + n > w or cy + n > h:
            continue
        corners = ((cx, cy), (cx + n, cy), (cx + n, cy + n), (cx, cy + n))
        if any(cv2.pointPolygonTest(contour, (float(x), float(y)), False) < 0 for x, y in corners):
            continue
        jacobian = _jacobian(to_photo, to_picture, point)
        score, frequency, peak = _tile_peak(
            source[cy : cy + n, cx : cx + n],
            jacobian,
            None if reference is None else reference(cx, cy, n),
        )
        scores.append(score)
        first_peaks.append((frequency, peak, jacobian))
    if len(scores) < MIN_TILES:
        return None
    return max(float(np.median(scores)), _aliased_grid(first_peaks, n))


def _aliased_grid(
    first_peaks: list[tuple[tuple[float, float] | None, float, np.ndarray]], n: int
) -> float:
    """The median strength of the tiles' first peaks when they are a panel's grid aliased
    by the camera (see ALIAS_PITCH_RANGE), else 0. ``first_peaks``: per tile, the peak's
    frequency (cycles per photo pixel; None: the tile has none), its strength and the
    Jacobian (picture frame -> photo) there; ``n``: the tiles' size."""
    if any(frequency is None for frequency, _, _ in first_peaks):
        return 0.0  # a screen's grid covers the whole picture
    observed = np.array([frequency for frequency, _, _ in first_peaks], np.float64)
    jacobians = np.array([jacobian for _, _, jacobian in first_peaks], np.float64)
    if np.any(np.abs(np.linalg.det(jacobians)) < 1e-6):
        return 0.0  # a degenerate fit: no frame to read the peaks in
    # The screen's reading: one pitch along the picture's axes, each tile's peak the
    # nearer of the x and the y grid's alias (and a spectrum's two signs).
    inverse_t = np.linalg.inv(jacobians).transpose(0, 2, 1)
    m = 1.0 / np.linspace(ALIAS_PITCH_RANGE[1], ALIAS_PITCH_RANGE[0], 600)
    errors = np.full((m.size, len(first_peaks)), np.inf)
    for axis in (0, 1):
        predicted = inverse_t[None, :, :, axis] * m[:, None, None]  # (pitches, tiles, 2)
        folded = (predicted + 0.5) % 1.0 - 0.5
        for sign in (1.0, -1.0):
            np.minimum(errors, np.sum((folded - sign * observed) ** 2, axis=2), out=errors)
    fit = float(np.sqrt(errors.sum(axis=1).min() / len(first_peaks))) * n
    if fit > ALIAS_FIT_BINS:
        return 0.0
    # The print's reading: one lattice, constant in the picture's frame, unaliased.
    in_picture = np.abs(np.einsum("tji,tj->ti", jacobians, observed))
    reduced = np.stack([in_picture.max(axis=1), in_picture.min(axis=1)], axis=1)
    spread = (
        float(np.sqrt(np.mean(np.sum((reduced - np.median(reduced, axis=0)) ** 2, axis=1)))) * n
    )
    if spread < max(ALIAS_PRINT_SPREAD * fit, ALIAS_MIN_PRINT_SPREAD_BINS):
        return 0.0
    return float(np.median([peak for _, peak, _ in first_peaks]))


def _jacobian(to_photo: np.ndarray, to_picture: np.ndarray, point: np.ndarray) -> np.ndarray:
    """d(photo) / d(picture) of the homography ``to_photo`` at photo ``point`` (2x2)."""
    u = to_picture @ np.array([point[0], point[1], 1.0])
    u = u[:2] / u[2]
    step = 1e-3
    base = to_photo @ np.array([u[0], u[1], 1.0])
    columns = []
    for du in ((step, 0.0), (0.0, step)):
        moved = to_photo @ np.array([u[0] + du[0], u[1] + du[1], 1.0])
        columns.append((moved[:2] / moved[2] - base[:2] / base[2]) / step)
    return np.stack(columns, axis=1)
