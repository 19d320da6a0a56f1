"""Embed the Stable Diffusion invisible watermark (dwtDct), for tests and the benchmark.

The reference pipelines (CompVis txt2img, diffusers' SDXL watermarker) call the
``invisible-watermark`` package's dwtDct method. That package pulls in torch, so this is
an independent implementation of the same published scheme with numpy, PyWavelets and
OpenCV only:

1. convert BGR to YUV (OpenCV's full-range conversion) and take the U channel, cropped to a
   multiple of 4;
2. one level of the Haar DWT; work on the approximation band;
3. cut it into 4x4 blocks, row-major; block ``n`` carries bit ``n mod L``;
4. in each block take the coefficient (other than [0, 0]) of largest magnitude and move its
   magnitude into the quarter of a step of 36 that encodes the bit (``m mod 36`` near 9
   for 0, near 27 for 1), keeping the sign; a decoder reads ``m mod 36 > 18``;
5. inverse DWT, back to BGR.

:mod:`evidence.checks.sd_watermark` reads it back.
"""

from __future__ import annotations

import numpy as np

from evidence.watermark_scheme import (  # noqa: F401 - the scheme, re-exported for tests
    BLOCK,
    MIN_PIXELS,
    SCALE,
    SD_V1_MESSAGE,
    SDXL_MESSAGE,
    block_view,
    message_bits,
    strongest_coefficients,
)


def embed(bgr: np.ndarray, bits: np.ndarray, scale: float = SCALE, passes: int = 3) -> np.ndarray:
    """A copy of the uint8 BGR image with ``bits`` repeated over its U channel.

    Any decoder of the published scheme reads the result. Unlike the reference encoder
    (which rounds the magnitude *down* into the wanted quarter, so the chosen coefficient
    can stop being the largest of its block), this one moves it to the nearest value in
    the wanted quarter that keeps it the largest of its block, and repeats the embedding
    ``passes`` times to absorb the rounding of the uint8 round trip. The mark reads back
    far more reliably; it is still destroyed by a lossy re-save, as the real one is.
    """
    import cv2
    import pywt

    rows, cols = bgr.shape[:2]
    if rows * cols < MIN_PIXELS:
        raise ValueError("image too small for the watermark (needs 256 x 256 pixels)")
    out = np.ascontiguousarray(bgr, dtype=np.uint8)
    h4, w4 = rows // 4 * 4, cols // 4 * 4
    for _ in range(passes):
        yuv = cv2.cvtColor(out, cv2.COLOR_BGR2YUV).astype(np.float64)
        approx, details = pywt.dwt2(yuv[:h4, :w4, 1], "haar")
        blocks, nbh, nbw = block_view(approx)
        position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
        index = np.arange(len(blocks))
        values = blocks[index, position]
        wanted = bits[index % len(bits)].astype(np.float64)
        target_phase = (0.25 + 0.5 * wanted) * scale
        magnitude = np.abs(values)
        ranked = np.sort(np.abs(blocks[:, 1:]), axis=1)
        runner_up = ranked[:, -2] if ranked.shape[1] > 1 else np.zeros(len(blocks))
        base = np.floor(magnitude / scale) * scale + target_phase
        candidates = np.stack([base - scale, base, base + scale], axis=1)
        allowed = candidates >= (runner_up + 2.0)[:, None]
        distance = np.where(allowed, np.abs(candidates - magnitude[:, None]), np.inf)
        magnitude = candidates[index, np.argmin(distance, axis=1)]
        blocks[index, position] = np.where(values < 0, -magnitude, magnitude)
        approx[: nbh * BLOCK, : nbw * BLOCK] = (
            blocks.reshape(nbh, nbw, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(nbh * BLOCK, -1)
        )
        yuv[:h4, :w4, 1] = pywt.idwt2((approx, details), "haar")
        out = cv2.cvtColor(np.clip(np.rint(yuv), 0, 255).astype(np.uint8), cv2.COLOR_YUV2BGR)
    return out


def embed_sd_v1(bgr: np.ndarray) -> np.ndarray:
    return embed(bgr, message_bits(SD_V1_MESSAGE))


def embed_sdxl(bgr: np.ndarray) -> np.ndarray:
    return embed(bgr, message_bits(SDXL_MESSAGE))
