"""Is the buyer's photo a copy of the merchant's own listing or packing photo?

The fraud this catches: the buyer downloads the merchant's listing photo, paints (or has
an AI paint) cracks, stains or tears on it, and submits it as "damage on arrival". The
edited copy is almost pixel-identical to the listing photo except for the damage.

How (DESIGN.md, "Checks"): perceptual hashes only *order* the references (a crop breaks
them); ORB features + RANSAC registration *decide*. A reference is a copy when

1. enough ORB matches (:data:`MIN_INLIERS`), and most of them
   (:data:`MIN_INLIER_RATIO`), agree on one similarity transform (resize, crop, slight
   rotation: all that re-sharing does to a picture). Only the shared elements of two
   different pictures agree (a label design, a logo), and another viewpoint's
   perspective is not a similarity;
2. the warped reference covers most of the claim frame (the claim may be a crop of the
   reference, not the other way round), and
3. once the reference is warped onto the claim photo and its colours are matched (gain
   and offset per channel, one saturation term, clipping), most of the overlap and most
   of the picture's content (edges and texture, not a plain background any photo on it
   shares) are the same picture (:data:`MAX_CHANGED_FRACTION`,
   :data:`MAX_CONTENT_CHANGED_FRACTION`), and what is left over the overlap is
   compression noise, not another exposure (:data:`MAX_RESIDUAL`).

Only when no reference is a copy that way are two more explanations tried, each with
the same three tests: the picture put on a slant (an editor's perspective tool), fitted
by a homography with guards of its own against degenerate fits
(:func:`_homography_problem`), and the claim's mirror image (its own ORB features,
computed once and shared with the reuse check; stored features need no change). A
similarity that lines up a slanted copy only roughly is refitted too
(:func:`fits_better_slanted`).

A genuinely different photo of the same product fails 3 even when its printed label
registers: its silhouette, background, light and noise are another exposure's. Another
product photographed the same way (same background, same label layout) fails 1 or the
content test. A photograph of a *flat printed* product (a poster, a card, a book cover)
can pass all three: it shows the listing's artwork itself. So a copy is accused only
with the marks of a digital one and none of another exposure: one colour transform over
the whole frame (:data:`MAX_EXPOSURE_RANGE`: a camera's light is never that even) and
no more texture than resampling leaves (:data:`DIGITAL_COPY_MAX_TEXTURE`). Otherwise
the check says it cannot tell (``reference_match_inconclusive``, an aid of low weight)
and accuses no one. What differs inside a copy is traced from the pixels that certainly
changed along connected weaker ones (hysteresis), grouped by proximity (one damage, one
box) and reported as boxes in the claim photo's own pixel coordinates, drawn for the
merchant.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from django.utils.translation import gettext_noop

from evidence import hashing
from evidence.checks import screen_recapture
from evidence.checks.base import (
    Artifact,
    Check,
    CheckContext,
    FindingData,
    ReferencePhoto,
    Severity,
    to_png,
)

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

logger = logging.getLogger(__name__)

FEATURES_VERSION = 1
ORB_FEATURES = 1000
ORB_SCALE_FACTOR = 1.2  # between the levels of ORB's image pyramid
FEATURE_LONG_SIDE = 1024  # keypoints are in the working copy's coordinates
DIFF_LONG_SIDE = 512  # the difference map is computed at this size
THUMBNAIL_JPEG_QUALITY = 92

RATIO_TEST = 0.8
MIN_GOOD_MATCHES = 12
MIN_INLIERS = 20
# Share of the ratio-test matches the similarity explains: copies measured 0.68-1.0,
# other products shot on the same background with the same label layout mostly < 0.5
# (up to 0.78, which the content test then rejects).
MIN_INLIER_RATIO = 0.5
RANSAC_THRESHOLD_FRACTION = 0.005  # of the claim's long side: 5 px at 1024
SCALE_RANGE = (0.2, 5.0)
MIN_CLAIM_OVERLAP = 0.5  # of the claim frame the warped reference must cover
MIN_REFERENCE_OVERLAP = 0.15  # of the reference that must be in the claim: crops allowed
MAX_CHANGED_FRACTION = 0.35  # more than this and it is not "the same picture, edited"
# The same over the picture's content only (pixels near an edge or texture): painted
# copies measured up to 0.22 (large stains), another product photographed on the same
# background with the same label layout 0.37+.
MAX_CONTENT_CHANGED_FRACTION = 0.3
# Median Lab distance left over the overlap: copies measured 0-1.7 (JPEG q60, 0.44-1.5x,
# +-10% colour with clipping, 3.5 degrees, all at once), other shots of the same product
# under slightly other light 7+.
MAX_RESIDUAL = 4.0
# Reuse asks more: the same *file* re-shared (re-compressed, resized, cropped) leaves no
# residual at all (measured 0.0), while two genuine shots of one product taken from
# nearly the same place register with 1.4-4.0.
SAME_PICTURE_RESIDUAL = 1.0
DIFF_THRESHOLD = 24.0  # Lab distance (8-bit units) after photometric normalisation
WEAK_FRACTION = 0.5  # changed pixels grow along pixels over this share of the threshold
MIN_SPECK_PIXELS = 6
BLUR_SIGMA = 1.0  # before comparing: JPEG blocking and resampling noise
CONTENT_CONTRAST = 12  # L range (8-bit) over 5x5 that makes a pixel "content"
CONTENT_REACH = 4  # px at DIFF_LONG_SIDE around such pixels
MIN_CONTENT_FRACTION = 0.02  # of the overlap; below it the whole overlap is the content
GAIN_RANGE = (0.6, 1.6)  # per colour channel
MAX_SATURATION_CHANGE = 0.5
MAX_COLOUR_SHIFT = 48.0  # BGR distance a colour change alone moves a pixel (~20 %)
LUMA = np.array([0.114, 0.587, 0.299])  # B, G, R weights of grey
# Changed pixels within this share of the diagonal are one region (a crack broken where
# it crosses dark print is still one crack).
REGION_LINK_FRACTION = 0.03
MIN_REGION_FRACTION = 0.0006  # of the overlap area, all of a region's pixels together
MAX_REGIONS = 5
# A copy this certain ends the search: no other reference can explain the photo better.
CLEAR_COPY_INLIERS = 100
CLEAR_COPY_SIMILARITY = 95
MAX_REFERENCES_TRIED = 20

# "Same pixels" is not yet "a digital copy": a photograph of a flat printed product (a
# poster, a card, a book cover) shows the listing's artwork itself, and taken nearly
# straight on it registers with a residual as low as 2. Two marks of another exposure
# are looked for over the overlap away from what changed (_exposure_evidence), and a
# copy is accused only when it shows neither; otherwise the check says "inconclusive".
# (Measured on bench-quality, seeds 20250901 and 777: 928 copies of every kind, 86
# photos of printed flat items that got as far as this.)
#
# 1. Light. A camera cannot avoid light falling unevenly (a gradient, the lens's
#    vignetting): after the one colour model fitted over the whole overlap, and any
#    global tone curve, the lightness left over still changes smoothly across the frame.
#    A re-shared copy has one colour transform everywhere. The range (2nd to 98th
#    percentile) of a quadratic fitted to what is left, in 8-bit L levels: copies
#    measured up to 2.4 (JPEG q60, +-10 % colour with clipping, slants and mirrors),
#    photos of the print 4.3 and more; light 2 % brighter on one side than the other
#    already measures 4.9.
MAX_EXPOSURE_RANGE = 3.0
# 2. Texture. Ink and paper, sensor noise and the camera's tone curve put much of the
#    picture just outside the reference's local envelope; a resampled, re-compressed
#    copy stays inside it. The mean distance outside the envelope: copies up to 1.7,
#    photos of the print 2.1 and more (the median, MAX_RESIDUAL, is too coarse here:
#    it takes the values 0, 1, 1.4, 1.7, 2 ...). The thinner of the two margins, which
#    is why an accusation needs both.
DIGITAL_COPY_MAX_TEXTURE = 2.0
MIN_EVIDENCE_SAMPLES = 300  # overlap pixels away from changes; fewer: cannot be told
EVIDENCE_STEP = 4  # every fourth row and column is plenty for both

# Perspective (keystone) copies: tried only when no similarity explains the photo. A
# homography has 8 degrees of freedom and fits more than copies, hence its own guards
# against degenerate or implausible fits, on top of every guard of the similarity:
MAX_PERSPECTIVE_RATIO = 2.0  # projective depth, farthest / nearest reference corner
MAX_ANISOTROPY = 2.5  # local stretch, long / short axis, at the corners and the centre
# Hull of the inliers / hull of all the matches (outliers included: false matches land
# anywhere, so a quarter is already a fit made across the picture, not in one corner).
MIN_INLIER_SPREAD = 0.25
MIN_INLIER_AREA = 0.05  # hull of the inliers / the reference picture
# A similarity that registers a slanted copy anyway (a few degrees, or a product in the
# middle of a plain frame) leaves its inliers with errors of 1-2 px that a homography
# fitted to the same inliers roughly halves (measured 0.4-0.7 of them); on a resized or
# rotated copy it gains next to nothing (0.9-1.1). Unresized copies line up to a few
# hundredths of a pixel, where the ratio is noise: hence the floor.
SLANT_ERROR_RATIO = 0.75
SLANT_MIN_ERROR_FRACTION = 0.0005  # of the claim's long side: 0.5 px at 1024
MAX_REPROJECTION_FRACTION = 0.002  # median inlier error, of the claim's long side
# Mirrored copies: the claim photo's mirror image is registered against the references
# only when nothing else explained the photo (even where the photo as it is registered:
# a box's symmetric outline and round prints line up either way). A first look with
# every fourth of its keypoints (a loose similarity) sets aside the references it cannot
# be a copy of (~1.4 ms each, not ~6): mirrored copies measured 33-215 of those inliers,
# at least half of the matches; other products 18 at most, honest photos of the same
# product 4-43 (a third of them pass).
MIRROR_PREFILTER_STEP = 4
MIRROR_PREFILTER_INLIERS = 12
MIRROR_PREFILTER_RATIO = 0.45

# The listing inside a larger frame (a full-page screenshot of the shop's product page, a
# chat with the picture as a bubble, a collage): the picture covers a part of the frame
# only, so the "covers half the frame" rule cannot hold, and in the 1024-px working copy
# of a tall screenshot it shrinks to a few hundred pixels. Tried only when nothing else
# explained the photo, in two steps. (1) Locate: a similarity from the working copy's
# matches, or, for a tall or wide frame (a phone screen, a row of tiles), from ORB
# features of a larger copy (short side up to LARGE_SHORT_SIDE), that puts the reference
# upright (screens and collages show pictures unrotated) mostly inside the frame. (2)
# Decide: the located part is cut from the sharpest copy of the photo decoded, registered
# again as a photo of its own, and judged by every test and guard above (the changed
# fraction, the residual, the marks of another exposure): the locating fit decides nothing.
# A chat's image bubble is 300-700 px on a phone screen, a fifth of the reference's
# working size or less, and the screen's text draws most of the matches: the locating
# fit asks little (upright, 15 inliers, 5 % of the matches, down to 1/20 of the size).
SUB_FRAME_MIN_INLIERS = 15
SUB_FRAME_MIN_RATIO = 0.05
SUB_FRAME_SCALE_RANGE = (0.05, 5.0)
SUB_FRAME_MAX_ROTATION = 2.0  # degrees
SUB_FRAME_MIN_INSIDE = 0.6  # of the reference that must lie inside the frame
SUB_FRAME_MARGIN = 0.02  # of the located box, added on each side before cutting it out
# Not searched when the ordinary registration has already judged the part as well as the
# search would: the located picture covers at least MIN_CLAIM_OVERLAP of the frame (its
# framing did not stop the ordinary fit), and cutting it out would give it less than one
# step of ORB's pyramid (scaleFactor 1.2) more pixels than the working copy does. An
# honest photo taken nearly from the listing's angle is such a "part" (measured: 0.69-0.91
# of the frame, 1.03-1.14x); the copies found inside a frame covered 0.46 of it at most.
SUB_FRAME_MIN_GAIN = ORB_SCALE_FACTOR
TALL_FRAME_ASPECT = 1.9  # phone screens are 2.0-2.2 : 1; 16:9 photos (1.78) are not tall
LARGE_SHORT_SIDE = 1024
LARGE_LONG_SIDE = 2600
LARGE_ORB_FEATURES = 3000

# A photograph of a screen showing the reference: the geometry shows the reference's
# whole picture (a slant, a bezel and the room around it allowed), and the pixels inside
# it carry the screen's grid (evidence.checks.screen_recapture). Tried only when no
# digital copy was found; a photo of a screen is not the same pixels (gamma, moire,
# glare), so it is never one.
# Another product shot the same way (same layout, background, pose) lines up too, and a
# clean render of it can carry periodic content (an icon grid, a barcode) that reads as
# peaks: the fit must explain most matches, and the picture's structure (gradient
# magnitude at the thumbnail's scale, which gamma, glare and moire barely move) must
# agree with the reference's. Look-alikes measured ratio <= 0.52 where their structure
# agreed 0.87, <= 0.77 elsewhere; photos of screens 0.55-0.93 and 0.52-0.97 (the
# thinnest margin of the recapture: see docs/detection.md).
RECAPTURE_MIN_RATIO = 0.55
RECAPTURE_MIN_STRUCTURE = 0.85
RECAPTURE_MIN_INSIDE = 0.85  # of the reference inside the frame: the whole screen shown
# Or the same picture once shown on a screen (:func:`_display_agreement`): the share of
# the photo's variance over the picture that the reference explains through the display
# model the damage boxes use (the blur, per-channel tone curves, a colour matrix, the
# slow field of glare). Moire bands and gamma pull the gradient correlation above down
# to 0.5-0.83 on photos of this listing's screen, and leave this at 0.89-0.98; another
# product of the same shop layout on a monitor measured <= 0.69 (and 0.46-0.60 above).
RECAPTURE_MIN_DISPLAY_AGREEMENT = 0.85
# Of the claim frame the picture covers: a screen photographed from a step back shows
# the picture small (measured 0.10 on the hard screens; 0.15 missed them); the grid's
# tiles (three of 128 px at least inside the picture) set the real floor.
RECAPTURE_MIN_COVER = 0.05
# The display model above is flexible (a free monotone curve per channel, a 3x4 colour
# matrix, a slow field of 24 px blocks): it also explains another colourway of the same
# packaging, seen small (measured 0.93 at the true position of such a look-alike). What
# a screen and a camera really do is narrower: one tone curve for the three channels
# (the display's gamma, the camera's curve), a gain and an offset per channel (white
# point, black level, white balance) and a grey field of light across the picture at
# its own scale (glare, vignetting): :func:`_physical_agreement`. A colour swap needs a
# curve per channel and reads low there (look-alikes <= 0.82 at their true position,
# <= 0.64 after the refinement below; photos of this listing 0.87-0.98).
# Two looser geometries are allowed only when both models explain the picture:
# - fewer matches on the fit (RECAPTURE_DISPLAY_MIN_RATIO, MIN_INLIERS still): a screen
#   seen small through moire leaves most ORB matches scattered (0.29-0.53 measured on
#   photos of this listing);
# - the fit refined by ECC (intensity correlation, invariant to a gain and an offset)
#   on the smoothed thumbnails, when the ORB fit is off by a few thumbnail pixels
#   (40-85 camera px measured) and the display model reads 0.2-0.7; no corner may move
#   by more than RECAPTURE_REFINE_MAX_SHIFT of the picture's diagonal.
RECAPTURE_MIN_PHYSICAL_AGREEMENT = 0.88
RECAPTURE_PHYSICAL_FIELD_BLOCKS = 4  # blocks across the picture's larger side
RECAPTURE_DISPLAY_MIN_RATIO = 0.25
RECAPTURE_REFINE_MAX_SHIFT = 0.08
RECAPTURE_REFINE_ITERATIONS = 60
# What differs between the picture on the screen and the reference (painted damage),
# once the screen's own changes are taken out (:func:`_recapture_difference`): both
# thumbnails smoothed (the grid, the moire), the reference put through the display's and
# camera's tone curve (per channel, monotone, fitted by medians: gamma, black level,
# white point) and the slow field left over removed (glare, vignetting, the room's light,
# as medians over blocks); then the claim outside the reference's envelope, over the
# larger of RECAPTURE_DIFF_THRESHOLD and RECAPTURE_DIFF_SPREAD times the robust spread of
# what is left (a soft or noisy photo leaves more everywhere).
RECAPTURE_BLUR_SIGMA = 1.6  # px at DIFF_LONG_SIDE
# The envelope: a photographed screen's fit is good to a pixel or two at 512 (barrel
# distortion, the homography fitted on ORB points through moire), not to a fraction.
RECAPTURE_ENVELOPE = 5
RECAPTURE_EXTRA_BLUR = (0.0, 1.5, 3.0)  # px at DIFF_LONG_SIDE, added to the reference
RECAPTURE_TONE_BINS = 24
RECAPTURE_FIELD_BLOCK = 24  # px at DIFF_LONG_SIDE
RECAPTURE_DIFF_THRESHOLD = 30.0  # BGR distance (8-bit)
RECAPTURE_DIFF_SPREAD = 6.0
RECAPTURE_MAX_CHANGED_FRACTION = 0.2  # more: the alignment or the tone model failed


@dataclass
class ImageFeatures:
    """What the check needs of one picture; cached per reference photo as bytes."""

    width: int  # size of the picture the keypoints refer to (working copy)
    height: int
    phash: int
    dhash: int
    points: np.ndarray  # float32 (N, 2) keypoint positions
    descriptors: np.ndarray  # uint8 (N, 32) ORB descriptors
    # The small BGR copy (long side <= DIFF_LONG_SIDE) differences are computed on, or
    # its stored JPEG bytes: decoded on first use, since most references are set aside
    # by their features before any pixel is compared.
    thumbnail_source: np.ndarray | bytes = field(repr=False)
    version: int = FEATURES_VERSION
    # Values derived from the thumbnail while checking (never stored).
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def thumbnail(self) -> np.ndarray:
        """The small BGR copy. Raises :class:`CorruptFeatures` when the stored one is."""
        if isinstance(self.thumbnail_source, bytes):
            decoded = cv2.imdecode(np.frombuffer(self.thumbnail_source, np.uint8), cv2.IMREAD_COLOR)
            if decoded is None:
                raise CorruptFeatures("corrupt reference thumbnail")
            self.thumbnail_source = decoded
        return self.thumbnail_source


class CorruptFeatures(ValueError):
    """Stored features that cannot be read back."""


def _working_array(image: DecodedImage | np.ndarray) -> np.ndarray:
    array = image if isinstance(image, np.ndarray) else image.working
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    h, w = array.shape[:2]
    if max(h, w) > FEATURE_LONG_SIDE:
        f = FEATURE_LONG_SIDE / max(h, w)
        array = cv2.resize(array, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return array


def _downscale(array: np.ndarray, long_side: int) -> np.ndarray:
    h, w = array.shape[:2]
    if max(h, w) <= long_side:
        return array
    f = long_side / max(h, w)
    return cv2.resize(
        array, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )


def compute_features(image: DecodedImage | np.ndarray) -> ImageFeatures:
    """Hashes, ~1000 ORB features and a small copy of ``image`` (a DecodedImage or BGR array).

    For a DecodedImage the result is computed once and kept in ``image.memo``."""
    if isinstance(image, np.ndarray):
        return _compute_features(image)
    features = image.memo.get("features")
    if features is None:
        features = image.memo["features"] = _compute_features(image)
    return features


def _compute_features(image: DecodedImage | np.ndarray) -> ImageFeatures:
    bgr = _working_array(image)
    if not isinstance(image, np.ndarray) and bgr is image.working:
        gray = image.gray  # the same conversion, shared with the checks that read it
    else:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    orb = cv2.ORB_create(
        nfeatures=ORB_FEATURES, scaleFactor=ORB_SCALE_FACTOR, nlevels=8, fastThreshold=12
    )
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        points = np.zeros((0, 2), np.float32)
        descriptors = np.zeros((0, 32), np.uint8)
    else:
        points = np.float32([kp.pt for kp in keypoints])
    return ImageFeatures(
        width=int(bgr.shape[1]),
        height=int(bgr.shape[0]),
        phash=hashing.phash(gray),
        dhash=hashing.dhash(gray),
        points=points,
        descriptors=descriptors,
        thumbnail_source=_downscale(bgr, DIFF_LONG_SIDE).copy(),
    )


# The stored form: a fixed header, then the points (float32), the descriptors and the
# thumbnail's JPEG, as raw bytes. No pickle, no zip: reading five references back costs
# microseconds, not the milliseconds numpy's npz (a zip of .npy files) took.
_BLOB_MAGIC = b"CLF1"
_BLOB_HEADER = struct.Struct("<4s5qII")  # magic, version, width, height, phash, dhash,
# number of keypoints, thumbnail bytes


def features_to_bytes(features: ImageFeatures) -> bytes:
    """A compact, pickle-free serialisation (the thumbnail as JPEG)."""
    ok, jpeg = cv2.imencode(
        ".jpg", features.thumbnail, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY]
    )
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError("could not encode the reference thumbnail")
    points = np.ascontiguousarray(features.points, dtype="<f4").reshape(-1, 2)
    descriptors = np.ascontiguousarray(features.descriptors, dtype=np.uint8).reshape(-1, 32)
    header = _BLOB_HEADER.pack(
        _BLOB_MAGIC,
        features.version,
        features.width,
        features.height,
        features.phash,
        features.dhash,
        len(points),
        jpeg.size,
    )
    return b"".join((header, points.tobytes(), descriptors.tobytes(), jpeg.tobytes()))


def features_from_bytes(data: bytes | memoryview) -> ImageFeatures:
    """Inverse of :func:`features_to_bytes`; also reads the npz blobs stored before it.
    Raises :class:`CorruptFeatures` (a ValueError) on anything else."""
    data = bytes(data)
    if data[:2] == b"PK":
        return _features_from_npz(data)
    if data[:4] != _BLOB_MAGIC or len(data) < _BLOB_HEADER.size:
        raise CorruptFeatures("not stored features")
    _, version, width, height, phash, dhash, count, jpeg_size = _BLOB_HEADER.unpack_from(data)
    points_at = _BLOB_HEADER.size
    descriptors_at = points_at + count * 8
    jpeg_at = descriptors_at + count * 32
    if len(data) != jpeg_at + jpeg_size or data[jpeg_at : jpeg_at + 2] != b"\xff\xd8":
        raise CorruptFeatures("stored features of the wrong length")
    return ImageFeatures(
        width=width,
        height=height,
        phash=phash,
        dhash=dhash,
        points=np.frombuffer(data, "<f4", count * 2, points_at).reshape(-1, 2),
        descriptors=np.frombuffer(data, np.uint8, count * 32, descriptors_at).reshape(-1, 32),
        thumbnail_source=data[jpeg_at:],  # decoded only if a pixel comparison needs it
        version=version,
    )


def _features_from_npz(data: bytes) -> ImageFeatures:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        version, width, height, phash, dhash = (int(v) for v in npz["meta"])
        thumbnail = npz["thumbnail"].tobytes()
        if thumbnail[:2] != b"\xff\xd8":
            raise CorruptFeatures("the reference thumbnail is not a JPEG")
        return ImageFeatures(
            width=width,
            height=height,
            phash=phash,
            dhash=dhash,
            points=npz["points"].reshape(-1, 2).astype(np.float32),
            descriptors=npz["descriptors"].reshape(-1, 32).astype(np.uint8),
            thumbnail_source=thumbnail,
            version=version,
        )


def _as_features(value: object) -> ImageFeatures | None:
    """Cached features as an object or bytes; None when missing, corrupt or outdated."""
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = features_from_bytes(bytes(value))
        except (ValueError, KeyError, OSError, EOFError):
            return None
    if isinstance(value, ImageFeatures) and value.version == FEATURES_VERSION:
        return value
    return None


def hash_distance(a: ImageFeatures, b: ImageFeatures) -> int:
    """The smaller of the pHash and dHash distances: the shortlist's ordering key."""
    return min(
        hashing.hamming_distance(a.phash, b.phash), hashing.hamming_distance(a.dhash, b.dhash)
    )


# ------------------------------------------------------------------- registration


@dataclass
class Region:
    """A changed region in the claim photo's difference-map coordinates."""

    x0: int
    y0: int
    x1: int
    y1: int
    pixels: int


@dataclass
class Registration:
    """The claim photo registered against one reference, and what differs."""

    matches: int
    inliers: int
    # 3x3, reference working coords -> claim working coords: a similarity, a homography
    # (``fit``), with a reflection in front when the claim is the mirror image.
    homography: np.ndarray
    scale: float
    rotation_deg: float
    claim_overlap: float  # fraction of the claim frame the warped reference covers
    reference_overlap: float  # fraction of the warped reference inside the claim frame
    # A plausible re-sharing: scale within SCALE_RANGE; for a homography, also none of
    # the degenerate-fit guards tripped (``degenerate`` says which).
    sane: bool
    fit: str = "similarity"  # or "homography"
    mirrored: bool = False  # the claim is the reference's mirror image
    degenerate: str = ""
    reprojection_error: float = 0.0  # median over the inliers, claim working px
    inlier_spread: float = 1.0  # homography only: see MIN_INLIER_SPREAD
    # See MAX_EXPOSURE_RANGE and DIGITAL_COPY_MAX_TEXTURE; None: not measurable.
    exposure_range: float | None = None
    texture_residual: float | None = None
    changed_fraction: float = 1.0
    content_changed_fraction: float = 1.0  # the same, over the content mask only
    residual: float = 255.0  # median Lab distance over the overlap after normalisation
    regions: list[Region] = field(default_factory=list)
    diff_size: tuple[int, int] = (0, 0)  # (width, height) of the difference map
    changed_mask: np.ndarray | None = None
    homography_small: np.ndarray | None = None  # reference thumbnail -> claim diff map
    # The ratio-test matches the fit was made from (reference points, claim points), for
    # a second fit without matching again.
    pairs: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    # Found inside a larger frame: the part of the claim photo registered (full-resolution
    # pixels, x0, y0, x1, y1) and that part's features, which every other field refers to.
    sub_frame: tuple[int, int, int, int] | None = None
    sub_frame_features: ImageFeatures | None = field(default=None, repr=False)
    # register_perspective's answer for this similarity, and for which (claim, reference).
    perspective: Registration | None = field(default=None, repr=False, compare=False)
    perspective_of: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    @property
    def similarity(self) -> int:
        return int(np.floor(100 * (1 - self.changed_fraction)))

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / self.matches if self.matches else 0.0

    @property
    def registers(self) -> bool:
        """The geometry says "this picture, re-framed": enough matches, most of them on
        one plausible transform, covering most of the claim."""
        return (
            self.sane
            and self.inliers >= MIN_INLIERS
            and self.inlier_ratio >= MIN_INLIER_RATIO
            and self.claim_overlap >= MIN_CLAIM_OVERLAP
            and self.reference_overlap >= MIN_REFERENCE_OVERLAP
        )

    @property
    def is_copy(self) -> bool:
        """Registered, and the same pixels (bar a small changed part) under one colour
        model: a copy, or a photograph of the printed artwork that came very close."""
        return (
            self.registers
            and self.changed_fraction <= MAX_CHANGED_FRACTION
            and self.content_changed_fraction <= MAX_CONTENT_CHANGED_FRACTION
            and self.residual <= MAX_RESIDUAL
        )

    @property
    def is_digital_copy(self) -> bool:
        """A copy with the marks of a digital one, none of another exposure: one colour
        transform across the whole frame, and no texture a resampling does not leave.
        What the check accuses; :attr:`is_copy` without it is inconclusive."""
        return self.is_copy and not self.doubts

    @property
    def doubts(self) -> list[str]:
        """Why a copy is not a certain digital one (empty for a digital copy)."""
        reasons = []
        if self.exposure_range is None or self.texture_residual is None:
            reasons.append("evidence_unmeasurable")
        else:
            if self.exposure_range > MAX_EXPOSURE_RANGE:
                reasons.append("uneven_exposure")
            if self.texture_residual > DIGITAL_COPY_MAX_TEXTURE:
                reasons.append("texture_of_another_exposure")
        return reasons

    @property
    def is_same_picture(self) -> bool:
        """The same photograph re-shared, not an edited copy nor a second shot of the
        same scene: what the reuse check needs before it names another claim."""
        return self.is_digital_copy and self.residual <= SAME_PICTURE_RESIDUAL

    @property
    def is_clear_copy(self) -> bool:
        """A copy no other reference could beat: the search can stop here."""
        return (
            self.is_digital_copy
            and self.inliers >= CLEAR_COPY_INLIERS
            and self.similarity >= CLEAR_COPY_SIMILARITY
        )


def _fit_similarity(
    src: np.ndarray, dst: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """RANSAC similarity (scale, rotation, shift: 4 degrees of freedom), refined on inliers.

    A similarity is the whole model of re-sharing. Fitting only its four parameters (two
    points per RANSAC sample) keeps it well constrained on small or cropped photos, where
    the four extra terms of a homography follow keypoint noise and misalign the edges.
    """
    matrix, mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=threshold,
        maxIters=2000,
        confidence=0.995,
        refineIters=10,
    )
    if matrix is None or mask is None or not np.all(np.isfinite(matrix)):
        return None
    return np.vstack([matrix, [0.0, 0.0, 1.0]]), mask.ravel().astype(bool)


def _fit_homography(
    src: np.ndarray, dst: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """USAC homography (8 degrees of freedom: a picture put on a slant), refined on its
    inliers; what :func:`_homography_problem` then judges."""
    if len(src) < 8:
        return None
    matrix, mask = cv2.findHomography(
        src, dst, cv2.USAC_ACCURATE, threshold, maxIters=2000, confidence=0.995
    )
    if matrix is None or mask is None or not np.all(np.isfinite(matrix)):
        return None
    mask = mask.ravel().astype(bool)
    if mask.sum() >= 8:
        refined, _ = cv2.findHomography(src[mask], dst[mask], 0)
        if refined is not None and np.all(np.isfinite(refined)):
            matrix = refined
    if abs(matrix[2, 2]) < 1e-9:
        return None
    return matrix / matrix[2, 2], mask


def _homography_problem(
    h: np.ndarray,
    inlier_src: np.ndarray,
    matched_src: np.ndarray,
    reference_size: tuple[int, int],
) -> tuple[str, float]:
    """Why a fitted homography is not a plausible picture on a slant ("" when it is),
    with the inliers' spread over the matches.

    Keeps out what a homography fits and a copy never shows: a reflection or a fold (the
    corners' winding changes, or their outline is no longer convex), a vanishing line
    near the picture (projective depth over :data:`MAX_PERSPECTIVE_RATIO`), a stretch
    along one axis (:data:`MAX_ANISOTROPY`), and a fit made from one part of the picture
    (the inliers' hull under :data:`MIN_INLIER_SPREAD` of the hull of all the matches,
    or under :data:`MIN_INLIER_AREA` of the picture), whose extrapolation says nothing.
    """
    rw, rh = reference_size
    corners = np.float64([[0, 0], [rw, 0], [rw, rh], [0, rh]])
    depth = corners @ h[2, :2] + h[2, 2]
    if np.any(depth <= 0) or depth.max() / depth.min() > MAX_PERSPECTIVE_RATIO:
        return "perspective", 0.0
    warped = cv2.perspectiveTransform(corners[None], h)[0].astype(np.float32)
    if cv2.contourArea(warped, oriented=True) <= 0 or not cv2.isContourConvex(warped):
        return "fold", 0.0
    for x, y in [*corners, (rw / 2, rh / 2)]:
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        u = h[0, 0] * x + h[0, 1] * y + h[0, 2]
        v = h[1, 0] * x + h[1, 1] * y + h[1, 2]
        jacobian = np.array(
            [
                [h[0, 0] * w - u * h[2, 0], h[0, 1] * w - u * h[2, 1]],
                [h[1, 0] * w - v * h[2, 0], h[1, 1] * w - v * h[2, 1]],
            ]
        ) / (w * w)
        stretch = np.linalg.svd(jacobian, compute_uv=False)
        if stretch[1] <= 0 or stretch[0] / stretch[1] > MAX_ANISOTROPY:
            return "stretch", 0.0
        if not SCALE_RANGE[0] <= float(np.sqrt(stretch[0] * stretch[1])) <= SCALE_RANGE[1]:
            return "scale", 0.0
    if len(inlier_src) < 3:
        return "spread", 0.0
    inlier_area = cv2.contourArea(cv2.convexHull(inlier_src.astype(np.float32)))
    matched_area = cv2.contourArea(cv2.convexHull(matched_src.astype(np.float32)))
    spread = float(inlier_area / matched_area) if matched_area > 0 else 0.0
    if spread < MIN_INLIER_SPREAD or inlier_area < MIN_INLIER_AREA * rw * rh:
        return "spread", spread
    return "", spread


def _polygon_overlap(
    h: np.ndarray, ref_size: tuple[int, int], claim_size: tuple[int, int]
) -> tuple[float, float]:
    rw, rh = ref_size
    cw, ch = claim_size
    corners = np.float32([[0, 0], [rw, 0], [rw, rh], [0, rh]])[None]
    warped = cv2.perspectiveTransform(corners, h)[0]
    signed_area = cv2.contourArea(warped, oriented=True)
    ref_area = abs(signed_area)
    if ref_area <= 0:
        return 0.0, 0.0
    if signed_area < 0:  # a mirrored copy: keep the polygon's winding the frame's
        warped = warped[::-1].copy()
    frame = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])
    inter, _ = cv2.intersectConvexConvex(warped.astype(np.float32), frame)
    return float(inter / (cw * ch)), float(inter / ref_area)


def _colour_transform(ref: np.ndarray, claim: np.ndarray) -> np.ndarray:
    """The 3x4 BGR transform taking reference colours to the claim's (robust fit).

    The model is what re-sharing does to colours: a gain and an offset per channel
    (brightness, contrast, white balance) plus one saturation term shared by the channels
    (a pull towards or away from each pixel's grey), followed by clipping to 0..255. It
    cannot turn one hue into another, so another product in another colour stays
    different. Pixels the claim has clipped are left out of the fit (``cv2.transform`` on
    uint8 clips the same way when it is applied), and the fit is repeated without the
    outliers (the painted damage).
    """
    x = ref.reshape(-1, 3).astype(np.float64)
    y = claim.reshape(-1, 3).astype(np.float64)
    unclipped = np.all((y > 0) & (y < 255), axis=1)
    x, y = x[unclipped], y[unclipped]
    gains, offsets, saturation = np.ones(3), np.zeros(3), 0.0
    if len(x) >= 50:
        grey = x @ LUMA
        towards_grey = grey[:, None] - x  # what the saturation term scales, per channel
        # Start from "no change" (re-sharing changes colours by a few percent), so that a
        # large painted stain cannot pull the first fit towards its own colours.
        keep = np.linalg.norm(x - y, axis=1) < MAX_COLOUR_SHIFT
        if keep.sum() < 50:
            keep[:] = True
        for _ in range(3):
            # Normal equations of the 7 unknowns: 3 gains, 3 offsets, 1 saturation weight.
            xk, yk, uk = x[keep], y[keep], towards_grey[keep]
            normal = np.zeros((7, 7))
            rhs = np.zeros(7)
            for c in range(3):
                normal[c, c] = xk[:, c] @ xk[:, c]
                normal[c, 3 + c] = normal[3 + c, c] = xk[:, c].sum()
                normal[c, 6] = normal[6, c] = xk[:, c] @ uk[:, c]
                normal[3 + c, 3 + c] = len(xk)
                normal[3 + c, 6] = normal[6, 3 + c] = uk[:, c].sum()
                rhs[c] = xk[:, c] @ yk[:, c]
                rhs[3 + c] = yk[:, c].sum()
            normal[6, 6] = float(np.sum(uk * uk))
            rhs[6] = float(np.sum(uk * yk))
            # A light pull towards "no change" keeps single-colour pictures solvable.
            ridge = 1e-6 * np.trace(normal)
            prior = np.array([1, 1, 1, 0, 0, 0, 0], np.float64)
            solution = np.linalg.solve(normal + ridge * np.eye(7), rhs + ridge * prior)
            gains = np.clip(solution[:3], *GAIN_RANGE)
            offsets = solution[3:6]
            saturation = float(np.clip(solution[6], -MAX_SATURATION_CHANGE, MAX_SATURATION_CHANGE))
            error = np.linalg.norm(x * gains + offsets + saturation * towards_grey - y, axis=1)
            mad = float(np.median(error[keep])) * 1.4826
            keep = error < max(3 * mad, 6.0)
            if keep.sum() < 50:
                break
    # out_c = gain_c * x_c + saturation * (luma . x - x_c) + offset_c
    matrix = np.diag(gains - saturation) + saturation * np.tile(LUMA, (3, 1))
    return np.hstack([matrix, offsets[:, None]]).astype(np.float32)


@dataclass
class _Difference:
    """The claim's diff-map picture against the warped, colour-matched reference."""

    dist2: np.ndarray  # squared Lab distance outside the reference's 3x3 envelope
    valid: np.ndarray  # inside the warped reference, away from its border
    residual: float  # median distance over the overlap
    claim_lightness: np.ndarray
    reference_lightness: np.ndarray

    def content(self) -> np.ndarray:
        """Pixels near an edge or texture in either picture.

        A plain studio background matches any other photo on the same background, so
        "how much of the picture changed" is judged where the picture shows something.
        """
        wide = np.ones((5, 5), np.uint8)
        contrast = cv2.max(
            cv2.subtract(
                cv2.dilate(self.claim_lightness, wide), cv2.erode(self.claim_lightness, wide)
            ),
            cv2.subtract(
                cv2.dilate(self.reference_lightness, wide),
                cv2.erode(self.reference_lightness, wide),
            ),
        )
        near = np.ones((2 * CONTENT_REACH + 1, 2 * CONTENT_REACH + 1), np.uint8)
        return (cv2.dilate((contrast > CONTENT_CONTRAST).astype(np.uint8), near) > 0) & self.valid


def _claim_lab(claim: ImageFeatures) -> np.ndarray:
    """The claim thumbnail, slightly blurred, in 8-bit Lab: the same for every reference."""
    lab = claim.derived.get("lab")
    if lab is None:
        blurred = cv2.GaussianBlur(claim.thumbnail, (0, 0), BLUR_SIGMA)
        lab = claim.derived["lab"] = cv2.cvtColor(blurred, cv2.COLOR_BGR2Lab)
    return lab


def _difference(claim: ImageFeatures, ref_thumb: np.ndarray, transform: np.ndarray) -> _Difference:
    """Warp the reference thumbnail onto the claim's, match its colours, compare in Lab.

    The median residual measures the *unchanged* part: a copy re-compressed, resized or
    colour-shifted leaves ~0-2 levels; another photograph of the scene (other sensor
    noise, other light falling across the frame) leaves much more even where it looks
    alike, and that tells them apart even when the changed fraction is small.
    """
    claim_small = claim.thumbnail
    ch, cw = claim_small.shape[:2]
    inside = np.full(ref_thumb.shape[:2], 255, np.uint8)
    if np.allclose(transform[2], (0.0, 0.0, 1.0)):
        affine = transform[:2]
        warped = cv2.warpAffine(
            ref_thumb, affine, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        valid = cv2.warpAffine(inside, affine, (cw, ch), flags=cv2.INTER_NEAREST)
    else:  # a picture on a slant: the listing warped into the claim photo's frame
        warped = cv2.warpPerspective(
            ref_thumb, transform, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        valid = cv2.warpPerspective(inside, transform, (cw, ch), flags=cv2.INTER_NEAREST)
    valid = cv2.erode(valid, np.ones((7, 7), np.uint8)) > 0
    valid[:3, :] = valid[-3:, :] = False
    valid[:, :3] = valid[:, -3:] = False
    # One pixel in 64 is plenty for a 7-parameter colour fit, one in 16 for the residual.
    sparse = valid[::8, ::8]
    colours = _colour_transform(warped[::8, ::8][sparse], claim_small[::8, ::8][sparse])
    predicted = cv2.transform(warped, colours)

    lab_c = _claim_lab(claim)
    lab_r = cv2.cvtColor(cv2.GaussianBlur(predicted, (0, 0), BLUR_SIGMA), cv2.COLOR_BGR2Lab)
    # How far the claim falls outside the reference's 3x3 min/max envelope: tolerates the
    # sub-pixel misregistration and resampling left at edges, which a plain difference
    # would report as "changes" along every edge. uint8 subtraction saturates at 0.
    kernel = np.ones((3, 3), np.uint8)
    outside = cv2.add(
        cv2.subtract(lab_c, cv2.dilate(lab_r, kernel)),
        cv2.subtract(cv2.erode(lab_r, kernel), lab_c),
    )
    dist2 = cv2.transform(
        cv2.multiply(outside, outside, dtype=cv2.CV_32F), np.ones((1, 3), np.float32)
    )
    in_sample = dist2[::4, ::4][valid[::4, ::4]]
    residual = float(np.sqrt(np.median(in_sample))) if in_sample.size else 255.0
    return _Difference(dist2, valid, residual, lab_c[..., 0].copy(), lab_r[..., 0].copy())


def _exposure_evidence(
    difference: _Difference, changed: np.ndarray
) -> tuple[float | None, float | None]:
    """The marks of another exposure over the overlap away from what changed: the range
    of the lightness left over (see :data:`MAX_EXPOSURE_RANGE`) and the mean distance
    outside the reference's envelope (:data:`DIGITAL_COPY_MAX_TEXTURE`). (None, None)
    when too little of the overlap is left to tell.

    Lightness left over: the signed L difference (claim minus colour-matched reference),
    first with whatever depends on the lightness alone taken out (its median per band of
    reference lightness: any global tone curve, an editor's "curves" as much as the
    colour model's small misfit, is one transform everywhere), then a quadratic in x
    and y fitted robustly to it: light across a frame is smooth, a copy's JPEG blocks
    and a stain's faint edge are not.
    """
    # Painted damage fades out (a stain's soft edge) below what counts as changed: the
    # reach that groups changed pixels into one region is left out around them too.
    h, w = changed.shape
    reach = 2 * max(1, round(REGION_LINK_FRACTION * float(np.hypot(w, h)))) + 1
    near_change = cv2.dilate(
        changed.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach))
    )
    usable = difference.valid & (near_change == 0)
    grid = np.zeros_like(usable)
    grid[::EVIDENCE_STEP, ::EVIDENCE_STEP] = True
    ys, xs = np.nonzero(usable & grid)
    if len(xs) < MIN_EVIDENCE_SAMPLES:
        return None, None
    texture = float(np.sqrt(difference.dist2[ys, xs]).mean())
    reference_l = difference.reference_lightness[ys, xs]
    left_over = difference.claim_lightness[ys, xs].astype(np.float64) - reference_l
    band = reference_l // 16
    for b in np.unique(band):
        in_band = band == b
        left_over[in_band] -= np.median(left_over[in_band])
    x, y = xs * (2.0 / w) - 1, ys * (2.0 / h) - 1
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    keep = np.ones(len(x), bool)
    for _ in range(3):
        # Normal equations of the six terms (a tenth of lstsq's time on ~20k samples).
        kept = terms[keep]
        coefficients = np.linalg.solve(kept.T @ kept + 1e-9 * np.eye(6), kept.T @ left_over[keep])
        error = np.abs(left_over - terms @ coefficients)
        keep = error < 3 * (1.4826 * float(np.median(error[keep])) + 0.5)
    light = terms @ coefficients
    low, high = np.percentile(light, (2, 98))
    return float(high - low), texture


def _hysteresis(
    dist2: np.ndarray, valid: np.ndarray, threshold: float = DIFF_THRESHOLD
) -> np.ndarray:
    """Pixels over :data:`DIFF_THRESHOLD`, grown along connected pixels over half of it.

    Painted damage fades at its ends and where it crosses colours close to its own (a
    dark crack over a barcode); tracing it from where it is certain recovers its extent,
    while compression noise, which never reaches the full threshold, starts nothing.
    Specks of fewer than :data:`MIN_SPECK_PIXELS` are dropped.
    """
    strong = (dist2 > threshold**2) & valid
    if not strong.any():
        return strong
    weak = ((dist2 > (WEAK_FRACTION * threshold) ** 2) & valid).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    seeded = np.zeros(count, bool)
    seeded[np.unique(labels[strong])] = True
    seeded &= np.bincount(labels.ravel(), minlength=count) >= MIN_SPECK_PIXELS
    seeded[0] = False
    return seeded[labels]


def _regions(changed: np.ndarray, valid_pixels: int) -> list[Region]:
    """Boxes around groups of changed pixels lying close together (one damage, one box).

    A thin crack breaks into pieces where it crosses colours close to its own; pieces
    within :data:`REGION_LINK_FRACTION` of the diagonal of each other are one group, and
    a group is judged by all its changed pixels together, not piece by piece.
    """
    h, w = changed.shape
    link = max(1, round(REGION_LINK_FRACTION * float(np.hypot(w, h))))
    linked = cv2.dilate(
        changed.astype(np.uint8),
        cv2.getStructuringElement(cv2.MORPH_RECT, (2 * link + 1, 2 * link + 1)),
    )
    count, labels = cv2.connectedComponents(linked, connectivity=8)
    ys, xs = np.nonzero(changed)
    if not len(xs):
        return []
    group = labels[ys, xs]
    pixels = np.bincount(group, minlength=count)
    x0 = np.full(count, w)
    y0 = np.full(count, h)
    x1 = np.zeros(count, np.int64)
    y1 = np.zeros(count, np.int64)
    np.minimum.at(x0, group, xs)
    np.minimum.at(y0, group, ys)
    np.maximum.at(x1, group, xs + 1)
    np.maximum.at(y1, group, ys + 1)
    min_area = max(12, int(MIN_REGION_FRACTION * valid_pixels))
    boxes = [
        Region(int(x0[i]), int(y0[i]), int(x1[i]), int(y1[i]), int(pixels[i]))
        for i in range(1, count)
        if pixels[i] >= min_area
    ]
    boxes.sort(key=lambda r: -r.pixels)
    return boxes[:MAX_REGIONS]


def _match(
    claim_points: np.ndarray, claim_descriptors: np.ndarray, reference: ImageFeatures
) -> tuple[np.ndarray, np.ndarray] | None:
    """Ratio-test matches as (reference points, claim points); None when there are none."""
    if len(claim_descriptors) < 2 or len(reference.descriptors) < 2:
        return None
    # The two nearest by Hamming distance, as arrays: what BFMatcher.knnMatch computes
    # (it calls batchDistance), without a Python object per match to filter.
    distances, nearest = cv2.batchDistance(
        claim_descriptors, reference.descriptors, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2
    )
    good = np.flatnonzero(distances[:, 0] < RATIO_TEST * distances[:, 1])
    if not len(good):
        return None
    return reference.points[nearest[good, 0]], claim_points[good]


def register(claim: ImageFeatures, reference: ImageFeatures) -> Registration | None:
    """Register ``reference`` onto ``claim`` by a similarity; None when the features do not
    agree at all."""
    if len(claim.descriptors) < MIN_GOOD_MATCHES:
        return None
    pairs = _match(claim.points, claim.descriptors, reference)
    if pairs is None or len(pairs[0]) < MIN_GOOD_MATCHES:
        return None
    return _register(claim, reference, pairs, fit="similarity")


def register_mirrored(
    claim: ImageFeatures, mirrored: ImageFeatures, reference: ImageFeatures
) -> Registration | None:
    """Register ``reference`` onto ``claim`` through ``claim``'s mirror image (its
    features ``mirrored``): by a similarity, else by a homography. None when the mirror
    image cannot be a copy of it (a first look at a quarter of its keypoints says so)
    or its features do not agree at all."""
    if len(mirrored.descriptors) < MIN_GOOD_MATCHES:
        return None
    step = MIRROR_PREFILTER_STEP
    glance = _match(mirrored.points[::step], mirrored.descriptors[::step], reference)
    if glance is None or len(glance[0]) < MIRROR_PREFILTER_INLIERS:
        return None
    # Twice the usual tolerance: a slanted copy is only roughly a similarity.
    loose = 2 * RANSAC_THRESHOLD_FRACTION * max(mirrored.width, mirrored.height)
    fitted = _fit_similarity(*glance, loose)
    if (
        fitted is None
        or fitted[1].sum() < MIRROR_PREFILTER_INLIERS
        or fitted[1].mean() < MIRROR_PREFILTER_RATIO
    ):
        return None
    pairs = _match(mirrored.points, mirrored.descriptors, reference)
    if pairs is None or len(pairs[0]) < MIN_GOOD_MATCHES:
        return None
    similarity = _register(claim, reference, pairs, fit="similarity", mirrored=True)
    return settle_slant(claim, reference, similarity)


def fits_better_slanted(claim: ImageFeatures, registration: Registration) -> bool:
    """Whether ``registration``'s similarity is a slant fitted roughly: its inliers line
    up clearly better (:data:`SLANT_ERROR_RATIO`) under a homography fitted to them by
    least squares, and were not already exact. Costs a fraction of a millisecond, no
    matching, no pixels."""
    if registration.fit != "similarity" or registration.pairs is None:
        return False
    src, dst = registration.pairs
    h = registration.homography
    if registration.mirrored:  # the pairs are in the mirror image's frame
        h = np.array([[-1.0, 0.0, claim.width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ h
    src = src.astype(np.float64)
    errors = np.linalg.norm(cv2.perspectiveTransform(src[None], h)[0] - dst, axis=1)
    inliers = errors < RANSAC_THRESHOLD_FRACTION * max(claim.width, claim.height)
    if inliers.sum() < 8:
        return False
    error = float(np.median(errors[inliers]))
    if error < SLANT_MIN_ERROR_FRACTION * max(claim.width, claim.height):
        return False
    slanted, _ = cv2.findHomography(src[inliers], dst[inliers].astype(np.float64), 0)
    if slanted is None or not np.all(np.isfinite(slanted)):
        return False
    slanted_errors = np.linalg.norm(
        cv2.perspectiveTransform(src[inliers][None], slanted)[0] - dst[inliers], axis=1
    )
    return float(np.median(slanted_errors)) < SLANT_ERROR_RATIO * error


def settle_slant(
    claim: ImageFeatures, reference: ImageFeatures, similarity: Registration | None
) -> Registration | None:
    """The registration whose verdict stands for ``reference``: ``similarity``, or the
    homography fitted to its matches when one is called for (the similarity is no
    certain copy, or a slant fits its inliers clearly better) and is the better geometry
    (it registers, on at least as many inliers). The better-aligned comparison's verdict
    stands, whether it accuses or not: a similarity that lines up a photograph of a
    print only roughly can hide its uneven light, as it can hide a copy's sameness."""
    if similarity is None:
        return None
    if (similarity.is_clear_copy or (similarity.registers and not similarity.is_copy)) and (
        not fits_better_slanted(claim, similarity)
    ):
        # Lined up as well as a slant would: a homography could only agree with it.
        return similarity
    slanted = register_perspective(claim, reference, similarity)
    if slanted is not None and slanted.registers and slanted.inliers >= similarity.inliers:
        return slanted
    return similarity


def register_perspective(
    claim: ImageFeatures, reference: ImageFeatures, similarity: Registration
) -> Registration | None:
    """Register ``reference`` onto ``claim`` by a homography, from the matches the
    similarity ``similarity`` was fitted to (no second matching). For a copy put on a
    slant, where the similarity explained too few of them or misaligned the rest."""
    if similarity.pairs is None or len(similarity.pairs[0]) < MIN_INLIERS:
        return None
    # Fitted once per similarity: the slant test and the screen recapture both ask.
    key = (id(claim), id(reference))
    if similarity.perspective_of != key:
        similarity.perspective = _register(
            claim, reference, similarity.pairs, fit="homography", mirrored=similarity.mirrored
        )
        similarity.perspective_of = key
    return similarity.perspective


def _register(
    claim: ImageFeatures,
    reference: ImageFeatures,
    pairs: tuple[np.ndarray, np.ndarray],
    *,
    fit: str,
    mirrored: bool = False,
) -> Registration | None:
    """Fit ``fit`` to ``pairs`` (claim points in the mirror image's frame when
    ``mirrored``), judge its geometry, and compare the pixels where it says to."""
    src, dst = pairs
    long_side = max(claim.width, claim.height)
    threshold = RANSAC_THRESHOLD_FRACTION * long_side
    fitted = (
        _fit_similarity(src, dst, threshold)
        if fit == "similarity"
        else _fit_homography(src, dst, threshold)
    )
    if fitted is None:
        return None
    h, inlier_mask = fitted
    inliers = int(inlier_mask.sum())
    reprojection = 0.0
    if inliers:
        projected = cv2.perspectiveTransform(src[inlier_mask][None].astype(np.float64), h)[0]
        reprojection = float(np.median(np.linalg.norm(projected - dst[inlier_mask], axis=1)))
    degenerate, spread = "", 1.0
    if fit == "homography":
        degenerate, spread = _homography_problem(
            h, src[inlier_mask], src, (reference.width, reference.height)
        )
        if not degenerate and reprojection > MAX_REPROJECTION_FRACTION * long_side:
            degenerate = "reprojection"
    rotation = float(np.degrees(np.arctan2(h[1, 0], h[0, 0])))  # in the fit's own frame
    if mirrored:  # the fit maps onto the mirror image; flip it back onto the claim photo
        h = np.array([[-1.0, 0.0, claim.width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ h
    rw, rh = reference.width, reference.height
    corners = np.float64([[0, 0], [rw, 0], [rw, rh], [0, rh]])
    warped_area = abs(
        cv2.contourArea(cv2.perspectiveTransform(corners[None], h)[0].astype(np.float32))
    )
    scale = float(np.sqrt(warped_area / (rw * rh))) if rw * rh else 0.0
    claim_overlap, reference_overlap = _polygon_overlap(
        h, (reference.width, reference.height), (claim.width, claim.height)
    )
    result = Registration(
        matches=len(src),
        inliers=inliers,
        homography=h,
        scale=scale,
        rotation_deg=rotation,
        claim_overlap=claim_overlap,
        reference_overlap=reference_overlap,
        sane=SCALE_RANGE[0] <= scale <= SCALE_RANGE[1] and not degenerate,
        fit=fit,
        mirrored=mirrored,
        degenerate=degenerate,
        reprojection_error=reprojection,
        inlier_spread=spread,
        pairs=pairs,
    )
    if not result.registers:
        return result

    thumbnails = _thumbnail_homography(claim, reference, h)
    if thumbnails is None:
        # As a reference whose stored features cannot be read at all: not comparable.
        logger.warning("unreadable stored thumbnail; the reference is set aside")
        return None
    reference_small, claim_small, h_small = thumbnails
    difference = _difference(claim, reference_small, h_small)
    result.residual = difference.residual
    valid_pixels = int(difference.valid.sum())
    if valid_pixels == 0 or difference.residual > MAX_RESIDUAL:
        return result  # another exposure: what differs is not worth localising
    changed = _hysteresis(difference.dist2, difference.valid)
    result.changed_fraction = float(changed.sum()) / valid_pixels
    content = difference.content()
    content_pixels = int(content.sum())
    result.content_changed_fraction = (
        float((changed & content).sum()) / content_pixels
        if content_pixels >= MIN_CONTENT_FRACTION * valid_pixels
        else result.changed_fraction
    )
    result.exposure_range, result.texture_residual = _exposure_evidence(difference, changed)
    result.regions = _regions(changed, valid_pixels)
    result.diff_size = (claim_small.shape[1], claim_small.shape[0])
    result.changed_mask = changed
    result.homography_small = h_small
    return result


def mirrored_features(image: DecodedImage) -> ImageFeatures:
    """:func:`compute_features` of the horizontally flipped working copy, computed once
    per image (kept in ``image.memo``, where the reuse check finds it too)."""
    features = image.memo.get("mirrored_features")
    if features is None:
        features = image.memo["mirrored_features"] = compute_features(cv2.flip(image.working, 1))
    return features


def _oriented_source(image: DecodedImage) -> np.ndarray:
    """The sharpest copy of the photo decoded (the display source, long side >= 1600
    unless the photo is smaller), oriented as the working copy; once per image."""
    source = image.memo.get("oriented_source")
    if source is None:
        from evidence.imaging import orient_array

        raw = getattr(image, "display_source", None)
        source = image.working if raw is None else orient_array(raw, image.orientation)
        if source.ndim == 2:
            source = cv2.cvtColor(source, cv2.COLOR_GRAY2BGR)
        image.memo["oriented_source"] = source
    return source


def is_tall_frame(width: int, height: int) -> bool:
    """A phone screen's shape (or a row of tiles): where a picture in it is small."""
    return max(width, height) >= TALL_FRAME_ASPECT * min(width, height)


def large_features(image: DecodedImage) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoints (in working-copy coordinates) and descriptors of a larger copy of
    the photo: its short side up to :data:`LARGE_SHORT_SIDE`. Once per image."""
    found = image.memo.get("large_features")
    if found is None:
        source = _oriented_source(image)
        sh, sw = source.shape[:2]
        f = min(1.0, LARGE_SHORT_SIDE / min(sw, sh), LARGE_LONG_SIDE / max(sw, sh))
        large = (
            source
            if f == 1.0
            else cv2.resize(source, (round(sw * f), round(sh * f)), interpolation=cv2.INTER_AREA)
        )
        gray = cv2.cvtColor(large, cv2.COLOR_BGR2GRAY)
        orb = cv2.ORB_create(
            nfeatures=LARGE_ORB_FEATURES, scaleFactor=ORB_SCALE_FACTOR, nlevels=8, fastThreshold=12
        )
        keypoints, descriptors = orb.detectAndCompute(gray, None)
        if descriptors is None or not keypoints:
            found = (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
        else:
            to_working = image.working.shape[1] / large.shape[1]
            found = (np.float32([kp.pt for kp in keypoints]) * to_working, descriptors)
        image.memo["large_features"] = found
    return found


def _located_box(
    h: np.ndarray, reference: ImageFeatures, width: int, height: int
) -> tuple[float, float, float, float, float] | None:
    """Where similarity ``h`` puts ``reference`` in a ``width`` x ``height`` frame, when
    it is a plausible picture shown in it: upright, a sane scale, mostly inside. The box
    (x0, y0, x1, y1), then the fraction of the frame the picture covers."""
    rotation = float(np.degrees(np.arctan2(h[1, 0], h[0, 0])))
    scale = float(np.hypot(h[0, 0], h[1, 0]))
    low, high = SUB_FRAME_SCALE_RANGE
    if abs(rotation) > SUB_FRAME_MAX_ROTATION or not low <= scale <= high:
        return None
    claim_overlap, inside = _polygon_overlap(
        h, (reference.width, reference.height), (width, height)
    )
    if inside < SUB_FRAME_MIN_INSIDE or claim_overlap >= 0.95:
        return None
    rw, rh = reference.width, reference.height
    corners = cv2.perspectiveTransform(np.float64([[[0, 0], [rw, 0], [rw, rh], [0, rh]]]), h)[0]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1), claim_overlap


def _locate(
    image: DecodedImage,
    claim: ImageFeatures,
    reference: ImageFeatures,
    first_fit: Registration | None,
) -> tuple[float, float, float, float, float] | None:
    """Where ``reference`` may be shown inside the claim frame (working-copy box, then the
    fraction of the frame it covers), from the working copy's fit or, in a tall frame,
    from a larger copy's features."""
    w, h = claim.width, claim.height
    if (
        first_fit is not None
        and first_fit.fit == "similarity"
        and not first_fit.mirrored
        and first_fit.inliers >= SUB_FRAME_MIN_INLIERS
        and first_fit.inlier_ratio >= SUB_FRAME_MIN_RATIO
    ):
        box = _located_box(first_fit.homography, reference, w, h)
        if box is not None:
            return box
    if not is_tall_frame(w, h):
        return None
    points, descriptors = large_features(image)
    pairs = _match(points, descriptors, reference)
    if pairs is None or len(pairs[0]) < SUB_FRAME_MIN_INLIERS:
        return None
    fitted = _fit_similarity(*pairs, RANSAC_THRESHOLD_FRACTION * max(w, h))
    if fitted is None:
        return None
    matrix, mask = fitted
    if mask.sum() < SUB_FRAME_MIN_INLIERS or mask.mean() < SUB_FRAME_MIN_RATIO:
        return None
    return _located_box(matrix, reference, w, h)


def sub_frame_gain(part_size: tuple[int, int], source_scale: float) -> float:
    """How many times finer a part of ``part_size`` source pixels (``source_scale``
    source pixels to a working-copy pixel) is registered when cut out than in the
    working copy: its features are computed at FEATURE_LONG_SIDE, never enlarged."""
    long_side = max(part_size)
    return min(FEATURE_LONG_SIDE, long_side) / (long_side / source_scale)


def register_inside_frame(
    image: DecodedImage,
    claim: ImageFeatures,
    reference: ImageFeatures,
    first_fit: Registration | None,
) -> Registration | None:
    """``reference`` found as a part of a larger claim frame (a screenshot, a chat, a
    collage): located (:func:`_locate`), cut out of the sharpest decoded copy and
    registered as a photo of its own, by a similarity and, where called for, a
    homography (:func:`settle_slant`). None when it is not located, or when the ordinary
    registration already judged it as well (:data:`SUB_FRAME_MIN_GAIN`)."""
    located = _locate(image, claim, reference, first_fit)
    if located is None:
        return None
    x0, y0, x1, y1, cover = located
    mx, my = SUB_FRAME_MARGIN * (x1 - x0), SUB_FRAME_MARGIN * (y1 - y0)
    source = _oriented_source(image)
    f = source.shape[1] / claim.width
    sx0, sy0 = max(0, int((x0 - mx) * f)), max(0, int((y0 - my) * f))
    sx1 = min(source.shape[1], int(np.ceil((x1 + mx) * f)))
    sy1 = min(source.shape[0], int(np.ceil((y1 + my) * f)))
    if sx1 - sx0 < 64 or sy1 - sy0 < 64:
        return None
    if cover >= MIN_CLAIM_OVERLAP and sub_frame_gain((sx1 - sx0, sy1 - sy0), f) < (
        SUB_FRAME_MIN_GAIN
    ):
        return None
    part = compute_features(np.ascontiguousarray(source[sy0:sy1, sx0:sx1]))
    registration = settle_slant(part, reference, register(part, reference))
    if registration is None:
        return None
    full = image.width / source.shape[1]
    registration.sub_frame = (
        round(sx0 * full),
        round(sy0 * full),
        round(sx1 * full),
        round(sy1 * full),
    )
    registration.sub_frame_features = part
    return registration


# ------------------------------------------------------------------------ artifacts

RED = (0, 0, 255)


def _side_by_side(
    reference: ImageFeatures, claim: ImageFeatures, registration: Registration
) -> np.ndarray:
    ref = reference.thumbnail.copy()
    photo = claim.thumbnail.copy()
    assert registration.homography_small is not None
    inverse = np.linalg.inv(registration.homography_small)
    thickness = max(2, photo.shape[1] // 256)
    for r in registration.regions:
        cv2.rectangle(photo, (r.x0, r.y0), (r.x1, r.y1), RED, thickness)
        corners = np.float32([[r.x0, r.y0], [r.x1, r.y0], [r.x1, r.y1], [r.x0, r.y1]])[None]
        on_ref = cv2.perspectiveTransform(corners, inverse)[0]
        cv2.polylines(ref, [np.round(on_ref).astype(np.int32)], True, RED, thickness)
    height = min(photo.shape[0], ref.shape[0], 480)

    def fit(img: np.ndarray) -> np.ndarray:
        f = height / img.shape[0]
        return cv2.resize(img, (max(1, round(img.shape[1] * f)), height))

    gap = np.full((height, 12, 3), 255, np.uint8)
    return np.hstack([fit(ref), gap, fit(photo)])


def _aligned_reference(
    reference: ImageFeatures, claim: ImageFeatures, registration: Registration
) -> np.ndarray:
    """The reference warped into the buyer's photo's frame (turned, scaled, cropped,
    mirrored or slanted as the registration found), colours untouched: shown over the
    buyer's photo, what did not change stays still and what changed stands out."""
    assert registration.homography_small is not None
    height, width = claim.thumbnail.shape[:2]
    return cv2.warpPerspective(
        reference.thumbnail,
        registration.homography_small,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )


def _overlay(claim: ImageFeatures, registration: Registration) -> np.ndarray:
    photo = claim.thumbnail.copy()
    assert registration.changed_mask is not None
    mask = cv2.dilate(registration.changed_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    tinted = photo.astype(np.float32)
    tinted[mask] = tinted[mask] * 0.35 + np.float32(RED) * 0.65
    out = tinted.astype(np.uint8)
    thickness = max(2, photo.shape[1] // 256)
    for r in registration.regions:
        cv2.rectangle(out, (r.x0, r.y0), (r.x1, r.y1), RED, thickness)
    return out


def _tone_curve(reference: np.ndarray, claim: np.ndarray) -> np.ndarray:
    """Per channel, the claim's median value for each band of the reference's value,
    made monotone and interpolated to a 256-entry table (uint8, 3 x 256)."""
    tables = np.zeros((3, 256), np.float32)
    levels = np.arange(256, dtype=np.float32)
    edges = np.linspace(0, 256, RECAPTURE_TONE_BINS + 1)
    for c in range(3):
        x, y = reference[:, c].astype(np.float32), claim[:, c].astype(np.float32)
        centres, medians = [], []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            inside = (x >= lo) & (x < hi)
            if inside.sum() >= 20:
                centres.append(float(np.median(x[inside])))
                medians.append(float(np.median(y[inside])))
        if len(centres) < 2:
            tables[c] = levels
            continue
        tables[c] = np.interp(levels, centres, np.maximum.accumulate(medians))
    return tables


def _cross_channel(toned: np.ndarray, claim: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``toned`` through the 3x4 colour matrix that best takes it to ``claim`` over
    ``valid`` (least squares, twice without the outliers: a display's primaries and the
    camera's colour matrix mix the channels, which per-channel curves cannot)."""
    x = toned[::4, ::4][valid[::4, ::4]].astype(np.float64)
    y = claim[::4, ::4][valid[::4, ::4]].astype(np.float64)
    if len(x) < 50:
        return toned
    design = np.hstack([x, np.ones((len(x), 1))])
    keep = np.ones(len(x), bool)
    matrix = np.vstack([np.eye(3), np.zeros((1, 3))])
    for _ in range(3):
        matrix, *_ = np.linalg.lstsq(design[keep], y[keep], rcond=None)
        error = np.linalg.norm(design @ matrix - y, axis=1)
        keep = error < max(3 * 1.4826 * float(np.median(error[keep])), 4.0)
        if keep.sum() < 50:
            break
    h, w = toned.shape[:2]
    flat = np.hstack([toned.reshape(-1, 3), np.ones((h * w, 1), np.float32)])
    return (flat @ matrix.astype(np.float32)).reshape(h, w, 3)


def _slow_field(
    residual: np.ndarray, valid: np.ndarray, block: int = RECAPTURE_FIELD_BLOCK
) -> np.ndarray:
    """The smooth part of ``residual`` (H x W x 3) over ``valid``: medians over blocks
    of ``block`` px, outlying blocks replaced by their neighbours' median, interpolated
    back to full size. A stain covers a few blocks and moves none of them."""
    h, w = valid.shape
    rows, cols = -(-h // block), -(-w // block)
    coarse = np.zeros((rows, cols, 3), np.float32)
    known = np.zeros((rows, cols), bool)
    for i in range(rows):
        for j in range(cols):
            cell = valid[i * block : (i + 1) * block, j * block : (j + 1) * block]
            if cell.sum() >= block:
                values = residual[i * block : (i + 1) * block, j * block : (j + 1) * block][cell]
                coarse[i, j] = np.median(values, axis=0)
                known[i, j] = True
    if not known.any():
        return np.zeros_like(residual)
    fill = np.median(coarse[known], axis=0)
    coarse[~known] = fill
    smoothed = np.stack([cv2.medianBlur(coarse[..., c], 3) for c in range(3)], axis=-1)
    return cv2.resize(smoothed, (w, h), interpolation=cv2.INTER_LINEAR)


def _display_model(
    claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The claim thumbnail smoothed past a screen's grid and moire, the reference warped
    onto it by ``h`` (reference working copy -> claim working copy) and put through the
    screen's and camera's changes (the blur, a per-channel tone curve, a colour matrix,
    the slow field of glare and light), where the reference lies, and the thumbnail
    homography; None when too little of the reference lies in the photo."""
    placed = _reference_on_claim(claim, reference, h)
    if placed is None:
        return None
    reference_small, claim_small, h_small, warped, valid = placed
    claim_soft = cv2.GaussianBlur(claim_small, (0, 0), RECAPTURE_BLUR_SIGMA)
    claim_f = claim_soft.astype(np.float32)
    # The screen shows the picture at its own, often lower, resolution (and the camera
    # may be out of focus): the reference is blurred as much as the photo is, the blur
    # that leaves the least behind.
    best_left, toned = np.inf, None
    for extra in RECAPTURE_EXTRA_BLUR:
        sigma = float(np.hypot(RECAPTURE_BLUR_SIGMA, extra))
        reference_soft = cv2.GaussianBlur(warped, (0, 0), sigma)
        tables = _tone_curve(reference_soft[valid], claim_soft[valid])
        candidate = np.stack([tables[c][reference_soft[..., c]] for c in range(3)], axis=-1).astype(
            np.float32
        )
        candidate = _cross_channel(candidate, claim_f, valid)
        candidate += _slow_field(claim_f - candidate, valid)
        left = float(np.median(np.abs(claim_f - candidate)[valid]))
        if left < best_left:
            best_left, toned = left, candidate
    assert toned is not None
    return claim_f, toned, valid, h_small


def _display_agreement(claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray) -> float:
    """How much of the photo's picture the reference explains once shown on a screen
    (:func:`_display_model`): the share of the claim's variance over the reference's
    area that the modelled reference accounts for (1.0 all of it, 0 none)."""
    model = _display_model(claim, reference, h)
    if model is None:
        return 0.0
    claim_f, toned, valid, _ = model
    observed = claim_f[valid].astype(np.float64)
    left = observed - toned[valid]
    total = float(((observed - observed.mean(axis=0)) ** 2).sum())
    return 1.0 - float((left**2).sum()) / total if total > 0 else 0.0


def _recapture_difference(
    claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray
) -> tuple[list[Region], np.ndarray, np.ndarray] | None:
    """What differs between a photographed screen and the reference it shows, aligned by
    ``h`` (reference working copy -> claim working copy): the regions, the changed mask
    and the thumbnail homography; None when the difference cannot be trusted (see the
    constants above :func:`_recapture_difference`'s use)."""
    model = _display_model(claim, reference, h)
    if model is None:
        return None
    claim_f, toned, valid, h_small = model
    valid_pixels = int(valid.sum())
    kernel = np.ones((RECAPTURE_ENVELOPE, RECAPTURE_ENVELOPE), np.uint8)
    outside = np.maximum(
        np.maximum(claim_f - cv2.dilate(toned, kernel), cv2.erode(toned, kernel) - claim_f), 0
    )
    dist2 = (outside * outside).sum(axis=2)
    distance = np.sqrt(dist2[valid])
    spread = 1.4826 * float(np.median(np.abs(distance - np.median(distance))))
    threshold = max(RECAPTURE_DIFF_THRESHOLD, RECAPTURE_DIFF_SPREAD * spread)
    changed = _hysteresis(dist2, valid, threshold)
    if changed.sum() > RECAPTURE_MAX_CHANGED_FRACTION * valid_pixels:
        return None
    return _regions(changed, valid_pixels), changed, h_small


# ---------------------------------------------------------------------------- check

_Match = tuple[Registration, ReferencePhoto, ImageFeatures, int]


def _reference_tiles(
    reference: ImageFeatures, h: np.ndarray, f: float
) -> Callable[[int, int, int], np.ndarray] | None:
    """For the screen's grid test: the reference thumbnail warped onto an n x n tile at
    (x, y) of the claim's decoded source (``h``: reference working copy -> claim
    working copy; ``f``: source pixels per claim working pixel)."""
    try:
        thumbnail = reference.thumbnail
    except CorruptFeatures:
        return None
    sr = thumbnail.shape[1] / reference.width
    to_source = np.diag([f, f, 1.0]) @ h @ np.diag([1 / sr, 1 / sr, 1.0])

    def tile(x: int, y: int, n: int) -> np.ndarray:
        shift = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y], [0.0, 0.0, 1.0]])
        return cv2.warpPerspective(
            thumbnail,
            shift @ to_source,
            (n, n),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    return tile


def _shows_whole_picture(
    registration: Registration, min_ratio: float = RECAPTURE_MIN_RATIO
) -> bool:
    """The geometry of a screen showing the reference: a sane fit most matches agree on
    (``min_ratio`` of them), the whole picture inside the frame, covering a fair part
    of it."""
    return (
        registration.sane
        and not registration.mirrored
        and registration.inliers >= MIN_INLIERS
        and registration.inlier_ratio >= min_ratio
        and registration.reference_overlap >= RECAPTURE_MIN_INSIDE
        and registration.claim_overlap >= RECAPTURE_MIN_COVER
    )


def _thumbnail_homography(
    claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The reference thumbnail, the claim's, and ``h`` between them (None: unreadable)."""
    try:
        reference_small = reference.thumbnail
    except CorruptFeatures:
        return None
    claim_small = claim.thumbnail
    sc = claim_small.shape[1] / claim.width
    sr = reference_small.shape[1] / reference.width
    return reference_small, claim_small, np.diag([sc, sc, 1.0]) @ h @ np.diag([1 / sr, 1 / sr, 1.0])


def _reference_on_claim(claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray):
    """:func:`_thumbnail_homography`, the reference thumbnail warped onto the claim's (edges
    replicated) and where it lies, eroded from its edges: ``(reference_small,
    claim_small, h_small, warped, valid)``; None when unreadable or too little overlaps."""
    thumbnails = _thumbnail_homography(claim, reference, h)
    if thumbnails is None:
        return None
    reference_small, claim_small, h_small = thumbnails
    ch, cw = claim_small.shape[:2]
    warped = cv2.warpPerspective(
        reference_small, h_small, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = np.full(reference_small.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(inside, h_small, (cw, ch), flags=cv2.INTER_NEAREST)
    valid = cv2.erode(valid, np.ones((9, 9), np.uint8)) > 0
    if int(valid.sum()) < MIN_EVIDENCE_SAMPLES:
        return None
    return reference_small, claim_small, h_small, warped, valid


def _refined_on_screen(
    claim: ImageFeatures, reference: ImageFeatures, registration: Registration
) -> Registration | None:
    """``registration`` with its homography refined by ECC on the smoothed grey
    thumbnails (the reference's as the template, the claim's as the image: see
    RECAPTURE_REFINE_MAX_SHIFT); None when it does not converge, or moves too far."""
    pair = _thumbnail_homography(claim, reference, registration.homography)
    if pair is None:
        return None
    reference_small, claim_small, to_small = pair

    def grey(bgr: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return cv2.GaussianBlur(g, (0, 0), RECAPTURE_BLUR_SIGMA)

    warp = (to_small / to_small[2, 2]).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, RECAPTURE_REFINE_ITERATIONS, 1e-5)
    try:
        _, warp = cv2.findTransformECC(
            grey(reference_small), grey(claim_small), warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 1
        )
    except cv2.error:
        return None  # did not converge
    if not np.all(np.isfinite(warp)):
        return None
    rh, rw = reference_small.shape[:2]
    corners = np.float64([[[0, 0], [rw, 0], [rw, rh], [0, rh]]])
    before = cv2.perspectiveTransform(corners, to_small)[0]
    after = cv2.perspectiveTransform(corners, warp.astype(np.float64))[0]
    diagonal = float(np.linalg.norm(before[2] - before[0]))
    if float(np.linalg.norm(after - before, axis=1).max()) > RECAPTURE_REFINE_MAX_SHIFT * diagonal:
        return None
    sc = claim_small.shape[1] / claim.width
    sr = reference_small.shape[1] / reference.width
    h = np.diag([1 / sc, 1 / sc, 1.0]) @ warp.astype(np.float64) @ np.diag([sr, sr, 1.0])
    h /= h[2, 2]
    claim_overlap, reference_overlap = _polygon_overlap(
        h, (reference.width, reference.height), (claim.width, claim.height)
    )
    return dataclasses.replace(
        registration,
        homography=h,
        fit="homography",
        claim_overlap=claim_overlap,
        reference_overlap=reference_overlap,
    )


def _channel_affine(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares gain and offset taking ``x`` to ``y``."""
    design = np.stack([x, np.ones_like(x)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(gain), float(offset)


def _physical_agreement(claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray) -> float:
    """As :func:`_display_agreement`, through a screen's and a camera's narrower model
    (see RECAPTURE_MIN_PHYSICAL_AGREEMENT): one tone curve shared by the channels, a gain
    and an offset per channel, a grey field at the picture's scale."""
    placed = _reference_on_claim(claim, reference, h)
    if placed is None:
        return 0.0
    _reference_small, claim_small, _h_small, warped, valid = placed
    ch, cw = claim_small.shape[:2]
    observed = cv2.GaussianBlur(claim_small, (0, 0), RECAPTURE_BLUR_SIGMA)[valid].astype(np.float64)
    total = float(((observed - observed.mean(axis=0)) ** 2).sum())
    if total <= 0:
        return 0.0
    ys, xs = np.nonzero(valid)
    block = max(8, int(max(np.ptp(xs), np.ptp(ys)) / RECAPTURE_PHYSICAL_FIELD_BLOCKS))
    edges = np.linspace(0, 256, RECAPTURE_TONE_BINS + 1)
    best = -np.inf
    for extra in RECAPTURE_EXTRA_BLUR:
        sigma = float(np.hypot(RECAPTURE_BLUR_SIGMA, extra))
        x = cv2.GaussianBlur(warped, (0, 0), sigma)[valid].astype(np.float64)
        # Each channel's gain and offset taken out, the curve the channels share.
        normalised = np.empty_like(observed)
        for c in range(3):
            gain, offset = _channel_affine(x[:, c], observed[:, c])
            normalised[:, c] = (observed[:, c] - offset) / (gain if abs(gain) > 1e-3 else 1e-3)
        xp, yp = x.ravel(), normalised.ravel()
        centres, medians = [], []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            band = (xp >= lo) & (xp < hi)
            if band.sum() >= 20:
                centres.append(float(np.median(xp[band])))
                medians.append(float(np.median(yp[band])))
        curved = np.interp(x, centres, np.maximum.accumulate(medians)) if len(centres) >= 2 else x
        predicted = np.empty_like(observed)
        for c in range(3):
            gain, offset = _channel_affine(curved[:, c], observed[:, c])
            predicted[:, c] = gain * curved[:, c] + offset
        # The light across the picture: one grey field, blocks at the picture's scale.
        residual = np.zeros((ch, cw, 3), np.float32)
        residual[valid] = np.repeat((observed - predicted).mean(axis=1, keepdims=True), 3, axis=1)
        field = _slow_field(residual, valid, block)[..., 0][valid]
        left = observed - predicted - field[:, None]
        best = max(best, 1.0 - float((left**2).sum()) / total)
    return float(best)


def _warped_reference_grey(
    claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The claim thumbnail's grey, the reference thumbnail's warped onto it by ``h``, and
    where the reference lies (eroded from its edges); None when too little overlaps."""
    thumbnails = _thumbnail_homography(claim, reference, h)
    if thumbnails is None:
        return None
    reference_small, claim_small, h_small = thumbnails
    ch, cw = claim_small.shape[:2]
    warped = cv2.warpPerspective(reference_small, h_small, (cw, ch), flags=cv2.INTER_LINEAR)
    inside = np.full(reference_small.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(inside, h_small, (cw, ch), flags=cv2.INTER_NEAREST)
    valid = cv2.erode(valid, np.ones((9, 9), np.uint8)) > 0
    if valid.sum() < MIN_EVIDENCE_SAMPLES:
        return None

    def grey(bgr: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)

    return grey(claim_small), grey(warped), valid


def _structure_agreement(claim: ImageFeatures, reference: ImageFeatures, h: np.ndarray) -> float:
    """Normalised correlation of the gradient magnitude of the claim's thumbnail and of
    the reference's warped onto it by ``h``: the same picture's edges, whatever its
    colours (1.0 the same, ~0 unrelated)."""
    pair = _warped_reference_grey(claim, reference, h)
    if pair is None:
        return 0.0
    claim_grey, reference_grey, valid = pair

    def gradient(grey: np.ndarray) -> np.ndarray:
        grey = cv2.GaussianBlur(grey, (0, 0), 1.5)
        return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))

    a = gradient(claim_grey)[valid].astype(np.float64)
    b = gradient(reference_grey)[valid].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-9))


def _told_by_display(
    claim: ImageFeatures,
    features: ImageFeatures,
    registration: Registration,
    *,
    edges_agree: bool = False,
) -> tuple[Registration | None, bool]:
    """The fit through which a screen shows the reference's picture: ``registration``
    itself when its edges agree (``edges_agree``: RECAPTURE_MIN_STRUCTURE with most
    matches on it) or the display model explains it (RECAPTURE_MIN_DISPLAY_AGREEMENT),
    or the fit refined by ECC when the display model explains that; and in every case
    the physical model too (RECAPTURE_MIN_PHYSICAL_AGREEMENT): the edges and the free
    display model explain another colourway of the same layout on a monitor as well as
    the listing (version 9). With it, whether the edges or the free display model
    explained a fit the physical model then refused (a screen showing a picture laid out
    like the reference: :meth:`ReferenceMatchCheck._screen_look_alike`)."""
    h = registration.homography
    explained = (
        edges_agree or _display_agreement(claim, features, h) >= RECAPTURE_MIN_DISPLAY_AGREEMENT
    )
    if explained and _physical_agreement(claim, features, h) >= RECAPTURE_MIN_PHYSICAL_AGREEMENT:
        return registration, True
    refined = _refined_on_screen(claim, features, registration)
    if (
        refined is not None
        and refined.reference_overlap >= RECAPTURE_MIN_INSIDE
        and refined.claim_overlap >= RECAPTURE_MIN_COVER
        and _display_agreement(claim, features, refined.homography)
        >= RECAPTURE_MIN_DISPLAY_AGREEMENT
    ):
        if (
            _physical_agreement(claim, features, refined.homography)
            >= RECAPTURE_MIN_PHYSICAL_AGREEMENT
        ):
            return refined, True
        explained = True
    return None, explained


def _on_screen_details(
    registration: Registration, reference: ReferencePhoto, strength: float
) -> dict[str, Any]:
    """What a finding about a photographed screen records of its fit and grid."""
    return {
        "reference_id": reference.id,
        "reference_kind": reference.kind,
        "fit": registration.fit,
        "matches": registration.matches,
        "inliers": registration.inliers,
        "homography": [[float(f"{v:.8g}") for v in row] for row in registration.homography],
        "homography_space": "reference working copy -> claim working copy",
        "claim_overlap": round(registration.claim_overlap, 3),
        "reference_overlap": round(registration.reference_overlap, 3),
        "grid_strength": round(strength),
        "min_grid_strength": round(screen_recapture.MIN_GRID_STRENGTH),
    }


def _better(
    best: _Match | None,
    registration: Registration | None,
    reference: ReferencePhoto,
    features: ImageFeatures,
    distance: int,
) -> _Match | None:
    """The better explanation of the photo: a digital copy over a doubtful one, then the
    more similar, then the one more matches agree on. Registrations that are no copy at
    all do not count."""
    if registration is None or not registration.is_copy:
        return best
    key = (registration.is_digital_copy, registration.similarity, registration.inliers)
    if best is not None and key <= (
        best[0].is_digital_copy,
        best[0].similarity,
        best[0].inliers,
    ):
        return best
    return (registration, reference, features, distance)


class ReferenceMatchCheck(Check):
    """Says when a buyer's photo is a copy of one of the merchant's reference photos.

    Promises: ``reference_copy`` (critical) whenever the photo registers onto a listing or
    packing photo as the same picture, digitally copied — after resizing (down to ~500 px
    wide), cropping up to ~10% a side, JPEG re-compression, ±10% brightness/contrast/
    saturation, a few degrees of rotation, mirroring left to right (``details["mirrored"]``
    and a message that says so), or a slant of up to ~20 degrees (``details["fit"]`` is
    ``"homography"``), or all of these at once — including an unaltered copy;
    ``reference_altered_region`` (high) when, inside such a copy, a region differs from
    the reference, with its boxes (one per separate alteration, largest first) in
    full-resolution and relative coordinates and a side-by-side and an overlay picture;
    ``reference_match_inconclusive`` (low) instead of both when the photo shows the same
    picture but also a mark of another exposure (uneven light, a photograph's texture):
    a photo of a flat printed item can look like this, so nothing is accused.
    ``reference_copy`` and ``reference_match_inconclusive`` carry an ``aligned_reference``
    picture: the reference warped into the buyer photo's frame (for a compare control).
    A different photograph of the same product (another viewpoint, background or light)
    is not a copy, nor is a photo of another product shot the same way. References are
    tried nearest pHash/dHash first and the search stops at a certain copy; the slant and
    the mirror are tried only when no reference explains the photo as it is. Only the
    reduced working copy is used; references are never decoded here.
    """

    name = "reference_match"
    # 5 (detectq): the screen's grid told from a print's halftone dots; a photographed
    # screen's damage boxed (reference_altered_region with details["on_screen"]).
    # 6 (screens): a screen's picture also told the reference's by the display model
    # (RECAPTURE_MIN_DISPLAY_AGREEMENT) where moire pulls the edge correlation down.
    # 7 (screens, issue 10): fewer matches on the fit, or the fit refined by ECC, where a
    # screen's physical display model explains the picture too (RECAPTURE_MIN_PHYSICAL_
    # AGREEMENT).
    # 8 (screens, session 10): a panel's grid aliased by the camera (finer than two
    # camera pixels) read from its motion across the picture, an OLED's PenTile lattice
    # told from a print's 45-degree screen by its harmonic's amplitude (screen_recapture),
    # and every whole-picture fit measured, not only the first the edges accept.
    # 9 (session 10): every recapture explained by the physical display model too; the
    # edges and the free display model alone accused honest photos of a monitor showing
    # another colourway of the same layout (2 of 50 in the full benchmark); such a photo,
    # with a screen's grid, is "inconclusive" (_screen_look_alike).
    version = 9
    codes = {
        "reference_copy": (90, "The photo is a copy of the merchant's listing or packing photo."),
        "reference_altered_region": (
            70,
            "A copy of the merchant's photo with a region altered (damage painted on).",
        ),
        # An aid, never an accusation on its own: the photo shows the reference's
        # picture, but could be an honest photograph of a flat printed item.
        "reference_match_inconclusive": (
            10,
            "The photo shows the merchant's picture, but may be a photo of the printed item.",
        ),
        # A photo of the listing on a screen: as strong as a copy, never the item itself.
        "reference_screen_recapture": (
            80,
            "The photo is a photograph of a screen showing the merchant's photo.",
        ),
    }
    submitted_by = frozenset({"buyer", "platform"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        if not context.references:
            return []
        claim = compute_features(image)
        candidates: list[tuple[int, ReferencePhoto, ImageFeatures]] = []
        for reference in context.references:
            features = _as_features(reference.features)
            if features is not None:
                candidates.append((hash_distance(claim, features), reference, features))
        candidates.sort(key=lambda c: c[0])
        tried = candidates[:MAX_REFERENCES_TRIED]
        best: _Match | None = None
        first_fits: list[Registration | None] = []
        for distance, reference, features in tried:
            registration = register(claim, features)
            first_fits.append(registration)
            best = _better(best, registration, reference, features, distance)
            if registration is not None and registration.is_clear_copy:
                break  # no other reference can be a better answer; each costs ~10 ms
        settled: ImageFeatures | None = None
        if best is not None:
            # A copy, but perhaps a slanted one that the similarity lines up only roughly.
            registration, reference, features, distance = best
            registration = settle_slant(claim, features, registration)
            settled = features
            best = (registration, reference, features, distance) if registration.is_copy else None
        if best is None:
            # Nothing explains the photo as it is. A copy put on a slant, or the mirror
            # image: tried only now, so that a plain copy pays nothing for them, and an
            # honest photo only once the ordinary fit has failed everywhere.
            best = self._slanted_or_mirrored(image, claim, tried, first_fits, settled)
        if best is None:
            # Nor as a slant or a mirror image: perhaps a part of a larger frame.
            for i, (distance, reference, features) in enumerate(tried):
                first_fit = first_fits[i] if i < len(first_fits) else None
                registration = register_inside_frame(image, claim, features, first_fit)
                best = _better(best, registration, reference, features, distance)
                if registration is not None and registration.is_clear_copy:
                    break
        strength = None
        if best is None or not best[0].is_digital_copy:
            recapture, strength = self._screen_recapture(image, claim, tried, first_fits)
            if recapture is not None:
                return recapture
        if best is None:
            return []
        registration, reference, features, distance = best
        findings = self._findings(image, claim, registration, reference, features, distance)
        if strength is not None:
            for finding in findings:  # "inconclusive": the screen's grid was looked for
                finding.details["grid_strength"] = round(strength)
        return findings

    def _screen_recapture(
        self,
        image: DecodedImage,
        claim: ImageFeatures,
        tried: list[tuple[int, ReferencePhoto, ImageFeatures]],
        first_fits: list[Registration | None],
    ) -> tuple[list[FindingData] | None, float | None]:
        """``reference_screen_recapture`` when the photo shows a reference's whole
        picture (by a similarity or a homography) and carries a screen's grid in it;
        with the strongest grid measured (None: the geometry never allowed a look). A
        whole picture with a screen's grid that the edges or the free display model
        explain but the physical model does not is said, never accused
        (:meth:`_screen_look_alike`)."""
        measured: float | None = None
        look_alike: tuple[Registration, ReferencePhoto, float] | None = None
        for i, (distance, reference, features) in enumerate(tried):
            similarity = first_fits[i] if i < len(first_fits) else None
            # The matches, not the similarity's inliers: a screen seen small and on a
            # slant can leave the similarity under MIN_INLIERS and the homography over.
            if similarity is None or similarity.pairs is None:
                continue
            if len(similarity.pairs[0]) < MIN_INLIERS:
                continue
            fits = [similarity]
            slanted = register_perspective(claim, features, similarity)
            if slanted is not None:
                fits.append(slanted)
            whole = sorted(
                (r for r in fits if _shows_whole_picture(r, RECAPTURE_DISPLAY_MIN_RATIO)),
                key=lambda r: -r.inliers,
            )
            by_edges = [
                r
                for r in whole
                if _shows_whole_picture(r)
                and _structure_agreement(claim, features, r.homography) >= RECAPTURE_MIN_STRUCTURE
            ]
            # The display model costs ~0.25 s of CPU: asked only of a fit whose picture
            # carries a screen's grid, which honest photos almost never do. Every whole
            # fit is measured: the similarity can pass the edge test on a slanted screen
            # and place the tiles too roughly for an aliased grid's reading (see
            # screen_recapture.ALIAS_PITCH_RANGE), which the homography places right.
            told_by_edges = {id(r) for r in by_edges}
            found = None
            for registration in [*by_edges, *(r for r in whole if id(r) not in told_by_edges)]:
                source = _oriented_source(image)
                f = source.shape[1] / claim.width
                rw, rh = features.width, features.height
                corners = np.float64([[[0, 0], [rw, 0], [rw, rh], [0, rh]]])
                quad = cv2.perspectiveTransform(corners, registration.homography)[0] * f
                strength = screen_recapture.grid_strength(
                    source, quad, _reference_tiles(features, registration.homography, f)
                )
                if strength is None:
                    continue
                measured = max(measured or 0.0, strength)
                if strength < screen_recapture.MIN_GRID_STRENGTH:
                    continue
                told, explained = _told_by_display(
                    claim, features, registration, edges_agree=id(registration) in told_by_edges
                )
                if told is not None:
                    found = told, strength
                    break
                if explained and look_alike is None:
                    look_alike = registration, reference, strength
            if found is None:
                continue
            registration, strength = found
            recapture = FindingData(
                code="reference_screen_recapture",
                severity=Severity.CRITICAL,
                message=gettext_noop(
                    "This photo is a photograph of a screen showing your photo"
                    " “%(label)s”: it lines up with your picture, and the screen's pixel"
                    " grid shows across it as a regular pattern (moiré). It was not taken"
                    " of the item the buyer received."
                ),
                params={"label": reference.label},
                details={
                    **_on_screen_details(registration, reference, strength),
                    "hash_distance": distance,
                    "image_size": [image.width, image.height],
                    "boxes": [],
                },
                related_reference_id=reference.id,
            )
            return [
                recapture,
                *self._recapture_altered(
                    recapture, image, claim, registration, reference, features
                ),
            ], strength
        if look_alike is not None:
            return [self._screen_look_alike(*look_alike)], measured
        return None, measured

    def _screen_look_alike(
        self, registration: Registration, reference: ReferencePhoto, strength: float
    ) -> FindingData:
        """``reference_match_inconclusive`` for a photo of a screen whose picture is laid out
        as the reference is, but whose colours no screen showing the reference would give
        (another product or colourway of the same layout, or a screen of the listing the
        physical model cannot follow through its moire and glare): a photo of a screen is
        no photo of the item received, but which picture it shows is not settled."""
        return FindingData(
            code="reference_match_inconclusive",
            severity=Severity.LOW,
            message=gettext_noop(
                "This photo is a photograph of a screen (its pixel grid shows across it)"
                " showing a picture laid out like your photo “%(label)s”, but in colours"
                " your photo would not take on any screen: it may show another product or"
                " colour of the same layout. Compare the two before deciding."
            ),
            params={"label": reference.label},
            details={**_on_screen_details(registration, reference, strength), "on_screen": True},
            related_reference_id=reference.id,
        )

    def _recapture_altered(
        self,
        recapture: FindingData,
        image: DecodedImage,
        claim: ImageFeatures,
        registration: Registration,
        reference: ReferencePhoto,
        features: ImageFeatures,
    ) -> list[FindingData]:
        """``reference_altered_region`` inside a photographed screen: what differs from
        the reference once the screen's tone curve, glare and moire are taken out
        (:func:`_recapture_difference`), boxed; the boxes also go on ``recapture``."""
        found = _recapture_difference(claim, features, registration.homography)
        if found is None or not found[0]:
            return []
        regions, changed, h_small = found
        diffed = dataclasses.replace(
            registration,
            regions=regions,
            changed_mask=changed,
            homography_small=h_small,
            diff_size=(claim.thumbnail.shape[1], claim.thumbnail.shape[0]),
        )
        boxes = _full_resolution_boxes(image, diffed)
        recapture.details["boxes"] = boxes
        side_by_side = Artifact(
            "side_by_side",
            to_png(_side_by_side(features, claim, diffed)),
            gettext_noop(
                "Left: your photo. Right: the buyer's photo. Red boxes mark what differs."
            ),
        )
        details = {**recapture.details, "on_screen": True}
        return [_altered_region(reference, boxes, details, side_by_side, claim, diffed)]

    def _slanted_or_mirrored(
        self,
        image: DecodedImage,
        claim: ImageFeatures,
        tried: list[tuple[int, ReferencePhoto, ImageFeatures]],
        first_fits: list[Registration | None],
        settled: ImageFeatures | None,
    ) -> _Match | None:
        best: _Match | None = None
        for i, (distance, reference, features) in enumerate(tried):
            if features is settled:
                continue
            # (References after a clear copy that turned out to be none: not yet fitted.)
            similarity = first_fits[i] if i < len(first_fits) else register(claim, features)
            registration = settle_slant(claim, features, similarity)
            best = _better(best, registration, reference, features, distance)
            if registration is not None and registration.is_clear_copy:
                return best
        if best is not None:
            return best
        mirrored = mirrored_features(image)
        for distance, reference, features in tried:
            registration = register_mirrored(claim, mirrored, features)
            best = _better(best, registration, reference, features, distance)
            if registration is not None and registration.is_clear_copy:
                break
        return best

    def _findings(
        self,
        image: DecodedImage,
        claim: ImageFeatures,
        registration: Registration,
        reference: ReferencePhoto,
        features: ImageFeatures,
        distance: int,
    ) -> list[FindingData]:
        if registration.sub_frame is not None and registration.sub_frame_features is not None:
            claim = registration.sub_frame_features
        boxes = _full_resolution_boxes(image, registration)
        details = {
            "reference_id": reference.id,
            "reference_kind": reference.kind,
            "similarity": registration.similarity,
            "changed_fraction": round(registration.changed_fraction, 4),
            "residual": round(registration.residual, 2),
            "matches": registration.matches,
            "inliers": registration.inliers,
            # Significant digits: a homography's perspective terms are ~1e-4.
            "homography": [[float(f"{v:.8g}") for v in row] for row in registration.homography],
            "homography_space": "reference working copy -> claim working copy",
            "fit": registration.fit,
            "mirrored": registration.mirrored,
            "scale": round(registration.scale, 4),
            "rotation_deg": round(registration.rotation_deg, 2),
            "claim_overlap": round(registration.claim_overlap, 3),
            "reference_overlap": round(registration.reference_overlap, 3),
            "reprojection_error": round(registration.reprojection_error, 2),
            "exposure_range": _rounded(registration.exposure_range),
            "texture_residual": _rounded(registration.texture_residual),
            "hash_distance": distance,
            "boxes": boxes,
            "image_size": [image.width, image.height],
        }
        if registration.fit == "homography":
            details["inlier_spread"] = round(registration.inlier_spread, 3)
        if registration.sub_frame is not None:
            # The homography and overlaps refer to the part registered, cut out here.
            details["found_in_larger_frame"] = True
            details["sub_region"] = list(registration.sub_frame)
            details["homography_space"] = "reference working copy -> sub_region working copy"
        side_by_side = Artifact(
            "side_by_side",
            to_png(_side_by_side(features, claim, registration)),
            gettext_noop(
                "Left: your photo. Right: the buyer's photo. Red boxes mark what differs."
            ),
        )
        # For the claim page's compare control: the reference in the buyer photo's frame.
        aligned = Artifact(
            "aligned_reference",
            to_png(_aligned_reference(features, claim, registration)),
            gettext_noop("Your photo, turned and scaled to lie exactly over the buyer's photo."),
        )
        if not registration.is_digital_copy:
            # The same pixels, but not every mark of a copied file: a photograph of the
            # printed artwork can come this close. Said, never accused.
            return [
                FindingData(
                    code="reference_match_inconclusive",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "This photo shows the same picture as your photo “%(label)s”"
                        " (%(similarity)s%% similar), but not every sign of a copied file is"
                        " there: it may be a photo of the printed item itself. Compare the"
                        " two before deciding."
                    ),
                    params={"label": reference.label, "similarity": registration.similarity},
                    details={**details, "doubts": registration.doubts},
                    artifacts=[side_by_side, aligned],
                    related_reference_id=reference.id,
                )
            ]
        if registration.sub_frame is not None:
            copy_message = gettext_noop(
                "This photo shows a copy of your photo “%(label)s” (%(similarity)s%%"
                " similar) inside a larger picture (a screenshot, a chat or a collage): it"
                " was not taken of the item the buyer received."
            )
        elif registration.mirrored and reference.kind == "packing":
            copy_message = gettext_noop(
                "This photo is a mirror image of your packing photo “%(label)s”"
                " (%(similarity)s%% similar), flipped left to right: it was not taken of the"
                " item the buyer received."
            )
        elif registration.mirrored:
            copy_message = gettext_noop(
                "This photo is a mirror image of your listing photo “%(label)s”"
                " (%(similarity)s%% similar), flipped left to right: it was not taken of the"
                " item the buyer received."
            )
        elif reference.kind == "packing":
            copy_message = gettext_noop(
                "This photo is a copy of your packing photo “%(label)s” (%(similarity)s%%"
                " similar): it was not taken of the item the buyer received."
            )
        else:
            copy_message = gettext_noop(
                "This photo is a copy of your listing photo “%(label)s” (%(similarity)s%%"
                " similar): it was not taken of the item the buyer received."
            )
        copy = FindingData(
            code="reference_copy",
            severity=Severity.CRITICAL,
            message=copy_message,
            params={"label": reference.label, "similarity": registration.similarity},
            details=details,
            artifacts=[aligned],
            related_reference_id=reference.id,
        )
        if not boxes:
            copy.artifacts.append(side_by_side)
            return [copy]
        altered = _altered_region(reference, boxes, details, side_by_side, claim, registration)
        return [copy, altered]


def _altered_region(
    reference: ReferencePhoto,
    boxes: list[dict],
    details: dict,
    side_by_side: Artifact,
    claim: ImageFeatures,
    registration: Registration,
) -> FindingData:
    """``reference_altered_region`` for ``boxes`` (largest first), with the side-by-side
    and the overlay of what changed."""
    largest = boxes[0]["relative"]
    return FindingData(
        code="reference_altered_region",
        severity=Severity.HIGH,
        message=gettext_noop(
            "This copy of “%(label)s” has an area altered at %(left)s–%(right)s%% across"
            " and %(top)s–%(bottom)s%% down the picture (%(area)s%% of it, outlined in"
            " red): damage may have been painted on."
        ),
        params={
            "label": reference.label,
            "left": round(largest[0] * 100),
            "right": round(largest[2] * 100),
            "top": round(largest[1] * 100),
            "bottom": round(largest[3] * 100),
            "area": _percent(sum(b["area_fraction"] for b in boxes)),
        },
        details={**details, "regions": len(boxes)},
        artifacts=[
            side_by_side,
            Artifact(
                "overlay",
                to_png(_overlay(claim, registration)),
                gettext_noop("The buyer's photo with the pixels that differ from yours in red."),
            ),
        ],
        related_reference_id=reference.id,
    )


def _full_resolution_boxes(image: DecodedImage, registration: Registration) -> list[dict]:
    """The registration's changed regions as boxes in the photo's full-resolution pixels
    (and relative to its size), largest first."""
    dw, dh = registration.diff_size
    # Inside a larger frame, the difference map covers the part registered only.
    ox, oy, ow, oh = 0, 0, image.width, image.height
    if registration.sub_frame is not None and registration.sub_frame_features is not None:
        ox, oy, sx1, sy1 = registration.sub_frame
        ow, oh = sx1 - ox, sy1 - oy
    fx, fy = ow / dw, oh / dh
    boxes = []
    for r in registration.regions:
        x0, y0 = ox + round(r.x0 * fx), oy + round(r.y0 * fy)
        x1, y1 = ox + round(r.x1 * fx), oy + round(r.y1 * fy)
        boxes.append(
            {
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "relative": [
                    round(x0 / image.width, 4),
                    round(y0 / image.height, 4),
                    round(x1 / image.width, 4),
                    round(y1 / image.height, 4),
                ],
                "area_fraction": round(r.pixels * fx * fy / (image.width * image.height), 5),
            }
        )
    return boxes


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _percent(fraction: float) -> str:
    value = fraction * 100
    return f"{value:.1f}" if value < 10 else str(round(value))
