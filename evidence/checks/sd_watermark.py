"""The Stable Diffusion invisible watermark (dwtDct), read back from full-resolution pixels.

Stable Diffusion's reference scripts (136 bits, ``StableDiffusionV1``) and diffusers' SDXL
pipelines (48 bits, ``0xB3EC907BB19E``) hide a message in the U channel: one Haar DWT
level, 4x4 blocks of the approximation band, the largest non-DC coefficient of each block
quantised with step 36 to 1/4 (bit 0) or 3/4 (bit 1) of a step; the message repeats over
all blocks and each bit is decided by the average over its blocks (see
:mod:`testing.synthetic_watermark` for the embedding side).

The mark does not survive a JPEG re-save below about quality 98 or a resize, so this is a
positive-only signal and the check only looks where it can still be: PNG, lossless WebP
and near-lossless JPEG (largest quantisation step <= 5), up to MAX_PIXELS. Anything else
returns no finding without decoding.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.watermark_scheme import (
    MIN_PIXELS,
    SCALE,
    SD_V1_MESSAGE,
    SDXL_MESSAGE,
    message_bits,
    strongest_coefficients,
)

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

MAX_PIXELS = 20_000_000
MAX_JPEG_QUANT_STEP = 5  # quality ~98: every entry of every table at most 5
# Bit errors tolerated; by chance a random picture matches with p < 1e-8.
MESSAGES: tuple[tuple[str, bytes, int], ...] = (
    ("Stable Diffusion 1.x/2.x (StableDiffusionV1)", SD_V1_MESSAGE, 12),
    ("Stable Diffusion XL", SDXL_MESSAGE, 5),
)


def decode_bits(bgr: np.ndarray, length: int, scale: float = SCALE) -> np.ndarray:
    """The ``length`` bits the dwtDct scheme reads from a BGR image (uint8 or float)."""
    import cv2
    import pywt

    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    h4, w4 = rows // 4 * 4, cols // 4 * 4
    approx, _ = pywt.dwt2(yuv[:h4, :w4, 1].astype(np.float64), "haar")
    _, _, values = strongest_coefficients(approx)
    votes = (np.abs(values) % scale) > 0.5 * scale
    index = np.arange(len(values)) % length
    ones = np.bincount(index, weights=votes, minlength=length)
    counts = np.bincount(index, minlength=length)
    return (ones / np.maximum(counts, 1) > 0.5).astype(np.uint8)


def detect(bgr: np.ndarray) -> tuple[str, int, int, str] | None:
    """``(variant, bit errors, bits, channel order)`` of the first mark found, else None.

    Both channel orders are tried: the CompVis scripts pass BGR as intended, diffusers
    passes RGB to the same BGR conversion.
    """
    if bgr.shape[0] * bgr.shape[1] < MIN_PIXELS:
        return None
    for order, pixels in (("bgr", bgr), ("rgb", bgr[:, :, ::-1])):
        for variant, message, tolerance in MESSAGES:
            expected = message_bits(message)
            errors = int(np.count_nonzero(decode_bits(pixels, len(expected)) != expected))
            if errors <= tolerance:
                return variant, errors, len(expected), order
    return None


def lossless_enough(image: DecodedImage) -> bool:
    """Whether the stored pixels can still hold the mark (and are cheap enough to read)."""
    if image.width * image.height > MAX_PIXELS or image.width * image.height < MIN_PIXELS:
        return False
    if image.format == "PNG":
        return True
    if image.format == "WEBP":
        return image.data[12:16] == b"VP8L" or b"VP8L" in image.data[12:64]
    if image.format == "JPEG":
        tables = getattr(image.pil, "quantization", None) or {}
        steps = [max(table) for table in tables.values() if len(table)]
        return bool(steps) and max(steps) <= MAX_JPEG_QUANT_STEP
    return False


def full_resolution_bgr(image: DecodedImage) -> np.ndarray:
    """The stored pixels at full size, in file order (no EXIF rotation), as BGR uint8."""
    from PIL import Image

    with Image.open(io.BytesIO(image.data)) as pil:
        rgb = np.asarray(pil.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


class SdWatermarkCheck(Check):
    """Detects the Stable Diffusion dwtDct watermark (SD 1.x/2.x and SDXL messages).

    Promises: positive-only (a missing mark proves nothing and is never reported), looks
    only at PNG / lossless WebP / near-lossless JPEG up to 20 MP, never reports on a match
    weaker than the tolerance that random pictures reach with p < 1e-8.
    """

    name = "sd_watermark"
    version = 1
    codes = {
        "sd_watermark_detected": (
            65,
            "The invisible watermark Stable Diffusion embeds in generated pictures.",
        ),
    }
    attached_to = frozenset({"claim", "product", "shipment"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        if not lossless_enough(image):
            return []
        found = detect(full_resolution_bgr(image))
        if found is None:
            return []
        variant, errors, bits, order = found
        return [
            FindingData(
                code="sd_watermark_detected",
                severity=Severity.CRITICAL,
                message=gettext_noop(
                    "The picture carries the invisible watermark that %(variant)s adds to"
                    " every image it generates."
                ),
                params={"variant": variant},
                details={
                    "variant": variant,
                    "bit_errors": errors,
                    "bits": bits,
                    "channel_order": order,
                },
            )
        ]
