"""Copy-move: has one area of the photo been copied onto another area of the same photo?

A buyer who wants more damage can clone a crack or a tear onto another spot of the
product. The cloned pixels are the same as their source, so the ORB keypoints of the
two areas match each other far better than anything else in the picture, and the
matched pairs all agree on one displacement (a similarity transform when the clone was
scaled or turned). That is what this check looks for, with the keypoints the reference
match check already computed (``compute_features`` is memoised on the image): matching
them against themselves costs a few milliseconds.

It is an aid, weighted low, and says so: repeated prints (the same word twice on a
label) and two identical items side by side look the same to it. Smooth clones (a
stain with no corners) carry too few keypoints to be found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from django.utils.translation import gettext_noop

from evidence.checks.base import Artifact, Check, CheckContext, FindingData, Severity, to_png
from evidence.checks.reference_match import compute_features

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

RATIO_TEST = 0.6  # nearest other keypoint vs the second nearest (Lowe's ratio)
MAX_DESCRIPTOR_DISTANCE = 40  # of 256 bits: clones match at a few bits, strangers at 80+
MIN_SHIFT = 30  # px in the working copy: closer pairs are the same corner seen twice
RANSAC_THRESHOLD = 3.0  # px in the working copy
MIN_INLIERS = 15
MIN_INLIER_RATIO = 0.4
# Each side of a cloned area spans at least this many working-copy pixels: a line of
# repeated small print (a word twice on a label) is long but thin, and stays quiet.
MIN_REGION_SIDE = 30
SCALE_RANGE = (0.7, 1.4)
GREEN, RED = (0, 200, 0), (0, 0, 255)


def candidate_pairs(points: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """The keypoint pairs ``(i, j)`` (rows, ``i < j``, in the order of ``i``) whose
    descriptors are each other's clone: ``j`` is ``i``'s nearest other keypoint within
    :data:`MAX_DESCRIPTOR_DISTANCE` bits, clearly nearer than the second nearest
    (:data:`RATIO_TEST`), and at least :data:`MIN_SHIFT` px away.

    The three nearest of each descriptor come as arrays from ``cv2.batchDistance``, the
    very call ``BFMatcher.knnMatch(k=3)`` makes (same distances, same order among ties),
    without the 3000 ``DMatch`` objects and the Python loop over them (~4 ms at 1000
    keypoints); the selection is the loop's, vectorised.
    """
    n = len(descriptors)
    distances, nearest = cv2.batchDistance(
        descriptors, descriptors, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=min(3, n)
    )
    # knnMatch stops a row at its first missing neighbour (-1), then drops the keypoint
    # itself; the first two left are the best and the second.
    present = np.cumprod(nearest >= 0, axis=1).astype(bool)
    other = present & (nearest != np.arange(n)[:, None])
    rank = np.cumsum(other, axis=1)
    rows = np.flatnonzero(rank[:, -1] >= 2)
    first = np.argmax(other[rows] & (rank[rows] == 1), axis=1)
    second = np.argmax(other[rows] & (rank[rows] == 2), axis=1)
    best, best_distance = nearest[rows, first], distances[rows, first]
    second_distance = distances[rows, second]
    keep = (
        (rows <= best)  # each pair once
        & (best_distance <= MAX_DESCRIPTOR_DISTANCE)
        & (best_distance < RATIO_TEST * second_distance)
    )
    rows, best = rows[keep], best[keep]
    shift = points[rows] - points[best]
    far = np.hypot(shift[:, 0], shift[:, 1]) >= MIN_SHIFT
    return np.stack([rows[far], best[far]], axis=1)


def find_copy_move(points: np.ndarray, descriptors: np.ndarray) -> dict | None:
    """The source and destination boxes of the strongest cloned area, or None.

    ``points`` are keypoint positions and ``descriptors`` their ORB descriptors, in the
    working copy's coordinates. The result holds ``source``/``target`` boxes
    ``[x0, y0, x1, y1]``, the ``inliers`` pairs and the transform ``scale``/``angle``/
    ``shift``.
    """
    if len(descriptors) < MIN_INLIERS * 2:
        return None
    pairs = candidate_pairs(points, descriptors)
    if len(pairs) < MIN_INLIERS:
        return None
    src, dst = points[pairs[:, 0]], points[pairs[:, 1]]
    # A pair may have been found in either direction; orient all along the dominant one.
    transform, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_THRESHOLD
    )
    if transform is None or mask is None:
        return None
    inliers = mask.ravel().astype(bool)
    count = int(inliers.sum())
    if count < MIN_INLIERS or count < MIN_INLIER_RATIO * len(src):
        return None
    scale = float(np.hypot(transform[0, 0], transform[1, 0]))
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        return None
    source_box, target_box = _box(src[inliers]), _box(dst[inliers])
    for x0, y0, x1, y1 in (source_box, target_box):
        if min(x1 - x0, y1 - y0) < MIN_REGION_SIDE:
            return None
    if _overlaps(source_box, target_box):
        return None  # a shifted view of one textured area, not two areas
    return {
        "source": source_box,
        "target": target_box,
        "inliers": count,
        "pairs": [
            (tuple(map(float, a)), tuple(map(float, b)))
            for a, b in zip(src[inliers], dst[inliers], strict=True)
        ],
        "scale": round(scale, 3),
        "angle": round(float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0]))), 1),
        "shift": [round(float(transform[0, 2]), 1), round(float(transform[1, 2]), 1)],
    }


def _box(points: np.ndarray) -> list[float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return [float(x0), float(y0), float(x1), float(y1)]


def _overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _picture(working: np.ndarray, found: dict) -> np.ndarray:
    canvas = working.copy()
    if canvas.ndim == 2:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    thickness = max(2, round(max(canvas.shape[:2]) / 400))
    for (ax, ay), (bx, by) in found["pairs"][:60]:
        cv2.line(canvas, (round(ax), round(ay)), (round(bx), round(by)), (0, 200, 255), 1)
    for box, colour in ((found["source"], GREEN), (found["target"], RED)):
        x0, y0, x1, y1 = (round(v) for v in box)
        pad = thickness * 3
        cv2.rectangle(canvas, (x0 - pad, y0 - pad), (x1 + pad, y1 + pad), colour, thickness)
    return canvas


class CopyMoveCheck(Check):
    """Says when two areas of one photo are copies of each other.

    Promises: ``copy_move_region`` (low) when at least :data:`MIN_INLIERS` keypoint pairs
    agree on one displacement between two separate areas, each at least
    :data:`MIN_REGION_SIDE` working-copy pixels a side; details carry both boxes in
    full-resolution and relative coordinates; the artifact draws them (green: one area,
    red: its copy) with the matched pairs. Quiet on photos without repeated areas.
    """

    name = "copy_move"
    version = 1
    codes = {
        "copy_move_region": (
            10,
            "Two areas of the photo are copies of each other (an aid: repeated prints or "
            "identical items look the same).",
        ),
    }
    submitted_by = frozenset({"buyer", "platform"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        features = compute_features(image)
        found = find_copy_move(features.points, features.descriptors)
        if found is None:
            return []
        fx, fy = image.width / features.width, image.height / features.height

        def boxes(box: list[float]) -> tuple[list[int], list[float]]:
            x0, y0, x1, y1 = box
            full = [round(x0 * fx), round(y0 * fy), round(x1 * fx), round(y1 * fy)]
            relative = [
                round(x0 / features.width, 4),
                round(y0 / features.height, 4),
                round(x1 / features.width, 4),
                round(y1 / features.height, 4),
            ]
            return full, relative

        source, source_relative = boxes(found["source"])
        target, target_relative = boxes(found["target"])
        working = image.working
        if working.shape[1] != features.width:
            working = cv2.resize(working, (features.width, features.height))
        return [
            FindingData(
                code="copy_move_region",
                severity=Severity.LOW,
                message=gettext_noop(
                    "Two areas of this photo are identical: one may have been copied onto "
                    "the other (%(pairs)s matching points). Repeated prints or identical "
                    "items look the same: compare the green and the red box."
                ),
                params={"pairs": found["inliers"]},
                details={
                    "boxes": [source, target],
                    "boxes_relative": [source_relative, target_relative],
                    "inliers": found["inliers"],
                    "scale": found["scale"],
                    "angle": found["angle"],
                    "shift": found["shift"],
                },
                artifacts=[
                    Artifact(
                        name="copy_move",
                        png=to_png(_picture(working, found)),
                        caption=gettext_noop(
                            "Green: an area of the photo. Red: the same pixels elsewhere."
                        ),
                    )
                ],
            )
        ]
