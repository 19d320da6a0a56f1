"""Is the buyer's photo a copy of the merchant's own listing or packing photo?

The fraud this catches: the buyer downloads the merchant's listing photo, paints (or has
an AI paint) cracks, stains or tears on it, and submits it as "damage on arrival". The
edited copy is almost pixel-identical to the listing photo except for the damage.

How (DESIGN.md, "Checks"): perceptual hashes only *order* the references (a crop breaks
them); ORB features + RANSAC registration *decide*. A reference is a copy when

1. enough ORB matches agree on one homography (:data:`MIN_INLIERS`),
2. that homography is what re-sharing does to a picture — a similarity transform (resize,
   crop, slight rotation), not the perspective of another viewpoint,
3. the warped reference covers most of the claim frame (the claim may be a crop of the
   reference, not the other way round), and
4. once the reference is warped onto the claim photo and its colours are normalised,
   most of the overlap is the same picture (:data:`MAX_CHANGED_FRACTION`) and what is
   left over the overlap is compression noise, not another exposure
   (:data:`MAX_RESIDUAL`).

A genuinely different photo of the same product fails 2-4 even when its printed label
registers (the label is planar, so it matches under a perspective homography, but the
silhouette, background and light do not). What differs inside a copy is localised as
boxes in the claim photo's own pixel coordinates and drawn for the merchant.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
from django.utils.translation import gettext_noop

from evidence import hashing
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

FEATURES_VERSION = 1
ORB_FEATURES = 1000
FEATURE_LONG_SIDE = 1024  # keypoints are in the working copy's coordinates
DIFF_LONG_SIDE = 512  # the difference map is computed at this size
THUMBNAIL_JPEG_QUALITY = 92

RATIO_TEST = 0.8
MIN_GOOD_MATCHES = 12
MIN_INLIERS = 20
RANSAC_THRESHOLD_FRACTION = 0.005  # of the claim's long side: 5 px at 1024
MAX_ANISOTROPY = 1.3  # ratio of the affine part's singular values
MAX_PERSPECTIVE = 0.12  # relative scale change the projective terms cause across the frame
SCALE_RANGE = (0.2, 5.0)
MIN_CLAIM_OVERLAP = 0.5  # of the claim frame the warped reference must cover
MIN_REFERENCE_OVERLAP = 0.15  # of the reference that must be in the claim: crops allowed
MAX_CHANGED_FRACTION = 0.35  # more than this and it is not "the same picture, edited"
# Median Lab distance left over the overlap: copies measured 0.02-1.7 (JPEG q60, 0.5x,
# +-10% colour, 3 degrees), other shots of the same product under slightly other light 7+.
MAX_RESIDUAL = 4.0
DIFF_THRESHOLD = 24.0  # Lab distance (8-bit units) after photometric normalisation
MIN_REGION_FRACTION = 0.0006  # of the overlap area
MAX_REGIONS = 5
MAX_REFERENCES_TRIED = 20


@dataclass
class ImageFeatures:
    """What the check needs of one picture; cached per reference photo as bytes."""

    width: int  # size of the picture the keypoints refer to (working copy)
    height: int
    phash: int
    dhash: int
    points: np.ndarray  # float32 (N, 2) keypoint positions
    descriptors: np.ndarray  # uint8 (N, 32) ORB descriptors
    thumbnail: np.ndarray  # BGR uint8, long side <= DIFF_LONG_SIDE
    version: int = FEATURES_VERSION


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
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    orb = cv2.ORB_create(nfeatures=ORB_FEATURES, scaleFactor=1.2, nlevels=8, fastThreshold=12)
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
        thumbnail=_downscale(bgr, DIFF_LONG_SIDE).copy(),
    )


def features_to_bytes(features: ImageFeatures) -> bytes:
    """A compact, pickle-free serialisation (numpy ``savez``; the thumbnail as JPEG)."""
    ok, jpeg = cv2.imencode(
        ".jpg", features.thumbnail, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY]
    )
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError("could not encode the reference thumbnail")
    buf = io.BytesIO()
    np.savez(
        buf,
        meta=np.array(
            [features.version, features.width, features.height, features.phash, features.dhash],
            dtype=np.int64,
        ),
        points=features.points.astype(np.float32),
        descriptors=features.descriptors.astype(np.uint8),
        thumbnail=jpeg.reshape(-1),
    )
    return buf.getvalue()


def features_from_bytes(data: bytes | memoryview) -> ImageFeatures:
    """Inverse of :func:`features_to_bytes`; refuses pickled objects."""
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as npz:
        version, width, height, phash, dhash = (int(v) for v in npz["meta"])
        thumbnail = cv2.imdecode(npz["thumbnail"], cv2.IMREAD_COLOR)
        if thumbnail is None:
            raise ValueError("corrupt reference thumbnail")
        return ImageFeatures(
            width=width,
            height=height,
            phash=phash,
            dhash=dhash,
            points=npz["points"].reshape(-1, 2).astype(np.float32),
            descriptors=npz["descriptors"].reshape(-1, 32).astype(np.uint8),
            thumbnail=thumbnail,
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
    homography: np.ndarray  # reference working coords -> claim working coords
    scale: float
    rotation_deg: float
    claim_overlap: float  # fraction of the claim frame the warped reference covers
    reference_overlap: float  # fraction of the warped reference inside the claim frame
    sane: bool
    changed_fraction: float = 1.0
    residual: float = 255.0  # median Lab distance over the overlap after normalisation
    regions: list[Region] = field(default_factory=list)
    diff_size: tuple[int, int] = (0, 0)  # (width, height) of the difference map
    changed_mask: np.ndarray | None = None
    homography_small: np.ndarray | None = None  # reference thumbnail -> claim diff map

    @property
    def similarity(self) -> int:
        return int(np.floor(100 * (1 - self.changed_fraction)))

    @property
    def is_copy(self) -> bool:
        return (
            self.sane
            and self.inliers >= MIN_INLIERS
            and self.claim_overlap >= MIN_CLAIM_OVERLAP
            and self.reference_overlap >= MIN_REFERENCE_OVERLAP
            and self.changed_fraction <= MAX_CHANGED_FRACTION
            and self.residual <= MAX_RESIDUAL
        )


def _homography_shape(h: np.ndarray, width: int, height: int) -> tuple[bool, float, float]:
    """Is ``h`` what resizing/cropping/straightening does? Returns (sane, scale, rotation)."""
    if not np.all(np.isfinite(h)) or abs(h[2, 2]) < 1e-9:
        return False, 0.0, 0.0
    h = h / h[2, 2]
    a = h[:2, :2]
    det = float(np.linalg.det(a))
    if det <= 0:
        return False, 0.0, 0.0
    s = np.linalg.svd(a, compute_uv=False)
    scale = float(np.sqrt(s[0] * s[1]))
    rotation = float(np.degrees(np.arctan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])))
    perspective = abs(h[2, 0]) * width + abs(h[2, 1]) * height
    sane = (
        s[0] / max(s[1], 1e-9) <= MAX_ANISOTROPY
        and perspective <= MAX_PERSPECTIVE
        and SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]
    )
    return sane, scale, rotation


def _polygon_overlap(
    h: np.ndarray, ref_size: tuple[int, int], claim_size: tuple[int, int]
) -> tuple[float, float]:
    rw, rh = ref_size
    cw, ch = claim_size
    corners = np.float32([[0, 0], [rw, 0], [rw, rh], [0, rh]])[None]
    warped = cv2.perspectiveTransform(corners, h)[0]
    ref_area = abs(cv2.contourArea(warped))
    if ref_area <= 0:
        return 0.0, 0.0
    frame = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])
    inter, _ = cv2.intersectConvexConvex(warped.astype(np.float32), frame)
    return float(inter / (cw * ch)), float(inter / ref_area)


def _fit_channel(ref: np.ndarray, claim: np.ndarray) -> tuple[float, float]:
    """Robust gain/offset mapping reference values onto claim values (colour shifts).

    Least squares in closed form, refitted once without the outliers (the painted damage).
    """
    x, y = ref, claim
    a, b = 1.0, 0.0
    for _ in range(2):
        if x.size < 50:
            break
        mx, my = float(x.mean()), float(y.mean())
        dx = x - mx
        vx = float(np.dot(dx, dx)) / x.size
        if vx < 1e-3:
            a, b = 1.0, float(np.median(y - x))
        else:
            a = float(np.dot(dx, y - my)) / x.size / vx
            b = my - a * mx
        residual = np.abs(claim - (a * ref + b))
        mad = float(np.median(residual)) * 1.4826
        keep = residual < max(3 * mad, 4.0)
        x, y = ref[keep], claim[keep]
    return float(np.clip(a, 0.6, 1.6)), float(b)


def _envelope_distance(claim: np.ndarray, ref: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """How far ``claim`` falls outside the reference's 3x3 min/max envelope.

    Tolerates the sub-pixel misregistration a homography fitted on keypoints leaves at
    edges, which a plain absolute difference would report as "changes" along every edge.
    """
    low = cv2.erode(ref, kernel)
    high = cv2.dilate(ref, kernel)
    return np.maximum(claim - high, 0) + np.maximum(low - claim, 0)


def _difference(
    claim_small: np.ndarray, ref_thumb: np.ndarray, h_small: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Changed-pixel mask, validity mask and median residual of the warped reference.

    The median residual measures the *unchanged* part: a copy re-compressed, resized or
    colour-shifted leaves ~1-3 levels; another photograph of the scene (other sensor
    noise, other light falling across the frame) leaves much more even where it looks
    alike, and that tells them apart even when the changed fraction is small.
    """
    ch, cw = claim_small.shape[:2]
    warped = cv2.warpPerspective(ref_thumb, h_small, (cw, ch), flags=cv2.INTER_LINEAR)
    valid = cv2.warpPerspective(
        np.full(ref_thumb.shape[:2], 255, np.uint8), h_small, (cw, ch), flags=cv2.INTER_NEAREST
    )
    valid = cv2.erode(valid, np.ones((7, 7), np.uint8)) > 0
    valid[:3, :] = valid[-3:, :] = False
    valid[:, :3] = valid[:, -3:] = False

    lab_c = cv2.cvtColor(cv2.GaussianBlur(claim_small, (0, 0), 1.0), cv2.COLOR_BGR2Lab)
    lab_r = cv2.cvtColor(cv2.GaussianBlur(warped, (0, 0), 1.0), cv2.COLOR_BGR2Lab)
    lab_c = lab_c.astype(np.float32)
    lab_r = lab_r.astype(np.float32)
    # One pixel in 16 is plenty for a 2-parameter fit.
    sample = np.zeros_like(valid)
    sample[::4, ::4] = valid[::4, ::4]
    kernel = np.ones((3, 3), np.uint8)
    dist2 = np.zeros((ch, cw), np.float32)
    for c in range(3):
        a, b = _fit_channel(lab_r[..., c][sample], lab_c[..., c][sample])
        ref_c = lab_r[..., c] * a + b
        d = _envelope_distance(lab_c[..., c], ref_c, kernel)
        dist2 += d * d
    changed = (dist2 > DIFF_THRESHOLD**2) & valid
    in_sample = dist2[sample]
    residual = float(np.sqrt(np.median(in_sample))) if in_sample.size else 255.0
    return changed, valid, residual


def _drop_specks(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return mask
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[labels]


def _regions(changed: np.ndarray, valid_pixels: int) -> list[Region]:
    h, w = changed.shape
    closed = cv2.morphologyEx(
        changed.astype(np.uint8),
        cv2.MORPH_CLOSE,
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)),
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(closed, 8)
    min_area = max(12, int(MIN_REGION_FRACTION * valid_pixels))
    boxes = []
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area >= min_area:
            boxes.append([x, y, x + bw, y + bh, area])
    # Merge boxes closer than 3% of the diagonal: one painted crack is one region.
    gap = 0.03 * float(np.hypot(w, h))
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
                dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
                if dx <= gap and dy <= gap:
                    boxes[i] = [
                        min(a[0], b[0]),
                        min(a[1], b[1]),
                        max(a[2], b[2]),
                        max(a[3], b[3]),
                        a[4] + b[4],
                    ]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    boxes.sort(key=lambda b: -b[4])
    return [Region(*b) for b in boxes[:MAX_REGIONS]]


def register(claim: ImageFeatures, reference: ImageFeatures) -> Registration | None:
    """Register ``reference`` onto ``claim``; None when the features do not agree at all."""
    if len(claim.descriptors) < MIN_GOOD_MATCHES or len(reference.descriptors) < 2:
        return None
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(claim.descriptors, reference.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
    if len(good) < MIN_GOOD_MATCHES:
        return None
    dst = claim.points[[m.queryIdx for m in good]]
    src = reference.points[[m.trainIdx for m in good]]
    threshold = RANSAC_THRESHOLD_FRACTION * max(claim.width, claim.height)
    h, inlier_mask = cv2.findHomography(
        src, dst, cv2.RANSAC, threshold, maxIters=2000, confidence=0.995
    )
    if h is None or inlier_mask is None:
        return None
    inliers = int(inlier_mask.sum())
    h = h / h[2, 2]
    sane, scale, rotation = _homography_shape(h, reference.width, reference.height)
    claim_overlap, reference_overlap = _polygon_overlap(
        h, (reference.width, reference.height), (claim.width, claim.height)
    )
    result = Registration(
        matches=len(good),
        inliers=inliers,
        homography=h,
        scale=scale,
        rotation_deg=rotation,
        claim_overlap=claim_overlap,
        reference_overlap=reference_overlap,
        sane=sane,
    )
    if not sane or inliers < MIN_INLIERS or claim_overlap < MIN_CLAIM_OVERLAP:
        return result
    if reference_overlap < MIN_REFERENCE_OVERLAP:
        return result

    claim_small = claim.thumbnail
    sc = claim_small.shape[1] / claim.width
    sr = reference.thumbnail.shape[1] / reference.width
    h_small = np.diag([sc, sc, 1.0]) @ h @ np.diag([1 / sr, 1 / sr, 1.0])
    changed, valid, residual = _difference(claim_small, reference.thumbnail, h_small)
    result.residual = residual
    valid_pixels = int(valid.sum())
    if valid_pixels == 0:
        return result
    changed = _drop_specks(changed, 6)
    result.changed_fraction = float(changed.sum()) / valid_pixels
    result.regions = _regions(changed, valid_pixels)
    result.diff_size = (claim_small.shape[1], claim_small.shape[0])
    result.changed_mask = changed
    result.homography_small = h_small
    return result


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


# ---------------------------------------------------------------------------- check


class ReferenceMatchCheck(Check):
    """Says when a buyer's photo is a copy of one of the merchant's reference photos.

    Promises: ``reference_copy`` (critical) whenever the photo registers onto a listing or
    packing photo as the same picture — after resizing, cropping up to ~10% a side, JPEG
    re-compression, ±10% brightness/contrast/saturation or a few degrees of rotation —
    including an unaltered copy; ``reference_altered_region`` (high) when, inside such a
    copy, a region differs from the reference, with its boxes in full-resolution and
    relative coordinates and a side-by-side and an overlay picture. A different photograph
    of the same product (another viewpoint, background or light) is not a copy.
    Only the reduced working copy is used; references are never decoded here.
    """

    name = "reference_match"
    version = 1
    codes = {
        "reference_copy": (90, "The photo is a copy of the merchant's listing or packing photo."),
        "reference_altered_region": (
            70,
            "A copy of the merchant's photo with a region altered (damage painted on).",
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
        best: tuple[Registration, ReferencePhoto, ImageFeatures, int] | None = None
        for distance, reference, features in candidates[:MAX_REFERENCES_TRIED]:
            registration = register(claim, features)
            if registration is None or not registration.is_copy:
                continue
            key = (registration.similarity, registration.inliers)
            if best is None or key > (best[0].similarity, best[0].inliers):
                best = (registration, reference, features, distance)
        if best is None:
            return []
        registration, reference, features, distance = best
        return self._findings(image, claim, registration, reference, features, distance)

    def _findings(
        self,
        image: DecodedImage,
        claim: ImageFeatures,
        registration: Registration,
        reference: ReferencePhoto,
        features: ImageFeatures,
        distance: int,
    ) -> list[FindingData]:
        dw, dh = registration.diff_size
        fx, fy = image.width / dw, image.height / dh
        boxes = [
            {
                "x0": round(r.x0 * fx),
                "y0": round(r.y0 * fy),
                "x1": round(r.x1 * fx),
                "y1": round(r.y1 * fy),
                "relative": [
                    round(r.x0 / dw, 4),
                    round(r.y0 / dh, 4),
                    round(r.x1 / dw, 4),
                    round(r.y1 / dh, 4),
                ],
                "area_fraction": round(r.pixels / (dw * dh), 5),
            }
            for r in registration.regions
        ]
        details = {
            "reference_id": reference.id,
            "reference_kind": reference.kind,
            "similarity": registration.similarity,
            "changed_fraction": round(registration.changed_fraction, 4),
            "residual": round(registration.residual, 2),
            "matches": registration.matches,
            "inliers": registration.inliers,
            "homography": [[round(float(v), 6) for v in row] for row in registration.homography],
            "homography_space": "reference working copy -> claim working copy",
            "scale": round(registration.scale, 4),
            "rotation_deg": round(registration.rotation_deg, 2),
            "claim_overlap": round(registration.claim_overlap, 3),
            "reference_overlap": round(registration.reference_overlap, 3),
            "hash_distance": distance,
            "boxes": boxes,
            "image_size": [image.width, image.height],
        }
        side_by_side = Artifact(
            "side_by_side",
            to_png(_side_by_side(features, claim, registration)),
            gettext_noop(
                "Left: your photo. Right: the buyer's photo. Red boxes mark what differs."
            ),
        )
        if reference.kind == "packing":
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
            related_reference_id=reference.id,
        )
        if not boxes:
            copy.artifacts.append(side_by_side)
            return [copy]
        largest = boxes[0]["relative"]
        altered = FindingData(
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
                    gettext_noop(
                        "The buyer's photo with the pixels that differ from yours in red."
                    ),
                ),
            ],
            related_reference_id=reference.id,
        )
        return [copy, altered]


def _percent(fraction: float) -> str:
    value = fraction * 100
    return f"{value:.1f}" if value < 10 else str(round(value))
