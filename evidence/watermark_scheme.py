"""The Stable Diffusion invisible watermark's published scheme (dwtDct): its constants and
the block layout shared by the check that reads it (:mod:`evidence.checks.sd_watermark`)
and the test encoder that writes it (``testing/synthetic_watermark.py``)."""

from __future__ import annotations

import numpy as np

SCALE = 36.0
BLOCK = 4
SD_V1_MESSAGE = b"StableDiffusionV1"  # 136 bits, CompVis scripts and SD 1.x/2.x
SDXL_MESSAGE = bytes.fromhex("B3EC907BB19E")  # 48 bits, diffusers' SDXL watermarker
MIN_PIXELS = 256 * 256


def message_bits(message: bytes) -> np.ndarray:
    """The bits of ``message``, most significant first, as a uint8 array of 0/1."""
    return np.unpackbits(np.frombuffer(message, dtype=np.uint8))


def block_view(band: np.ndarray) -> tuple[np.ndarray, int, int]:
    """View the approximation band as (N, 16) blocks, row-major; returns (blocks, nbh, nbw)."""
    rows, cols = band.shape
    nbh, nbw = rows // BLOCK, cols // BLOCK
    cropped = band[: nbh * BLOCK, : nbw * BLOCK]
    blocks = cropped.reshape(nbh, BLOCK, nbw, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK**2)
    return blocks, nbh, nbw


def strongest_coefficients(band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 4x4 block: (blocks, index of the largest non-DC magnitude, that value)."""
    blocks, _, _ = block_view(band)
    position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    values = blocks[np.arange(len(blocks)), position]
    return blocks, position, values
