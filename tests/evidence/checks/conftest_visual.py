"""Shared helpers for the visual checks' tests (import explicitly: not a conftest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evidence.imaging import DecodedImage, decode
from testing import synthetic

TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"


def decoded(image: np.ndarray, *, quality: int = 95, **jpeg_options: object) -> DecodedImage:
    """A BGR array as the pipeline would see it after upload (a JPEG, decoded once)."""
    return decode(synthetic.encode_jpeg(image, quality=quality, **jpeg_options))


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def contains_centre(box: tuple[int, int, int, int], truth: tuple[int, int, int, int]) -> bool:
    cx, cy = (truth[0] + truth[2]) / 2, (truth[1] + truth[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def is_png(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n"
