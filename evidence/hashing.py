"""Perceptual hashes of an image's working copy, and what the hash index needs of them.

Hashes are 64-bit and returned as *signed* Python ints in the int64 range, so that they
fit a ``BigIntegerField`` on every database. They shortlist near-identical pictures; they
never decide alone (a crop breaks them: see DESIGN.md, "Checks").

Multi-index hashing (:func:`hash_chunks`): split the 64-bit hash into four 16-bit chunks
and index each chunk as its own exact-match column. If two hashes differ in at most 3
bits, those (at most) 3 differing bits fall into at most 3 of the 4 chunks, so at least one
chunk is bit-for-bit equal (pigeonhole). A query "chunk0 = a OR chunk1 = b OR chunk2 = c
OR chunk3 = d" therefore returns *every* stored hash within Hamming distance 3 (plus some
farther ones, to be filtered by :func:`hamming_distance`). With m chunks the guaranteed
radius is m - 1. Probing each chunk *and its 16 one-bit neighbours* doubles that:
within 7 bits, at least one chunk differs by at most one bit (4 chunks x 2 bits = 8 > 7),
so the index answers exactly up to :data:`INDEX_RADIUS` (see
``evidence.selectors.near_duplicates``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from evidence.imaging import DecodedImage

MASK64 = (1 << 64) - 1
CHUNK_BITS = 16
CHUNKS = 4
GUARANTEED_RADIUS = CHUNKS - 1  # pigeonhole: see the module docstring
INDEX_RADIUS = 2 * CHUNKS - 1  # with one-bit probing of every chunk


def _gray(image: DecodedImage | Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return image
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if hasattr(image, "working"):
        return image.gray  # type: ignore[union-attr]
    return np.asarray(image.convert("L"))  # type: ignore[union-attr]


def _bits_to_int(bits: np.ndarray) -> int:
    value = 0
    for bit in bits.ravel():
        value = (value << 1) | int(bit)
    return to_signed64(value)


def to_signed64(value: int) -> int:
    """An unsigned 64-bit value as the signed int64 with the same bits."""
    value &= MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned64(value: int) -> int:
    return value & MASK64


def _small(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # Two-step area resize: a 1024 px image goes to 128 px first, cheap and alias-free.
    h, w = gray.shape[:2]
    if max(h, w) > 256:
        f = 128 / max(h, w)
        gray = cv2.resize(
            gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
        )
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def phash(image: DecodedImage | Image.Image | np.ndarray) -> int:
    """64-bit DCT perceptual hash (the 8x8 lowest frequencies of a 32x32 DCT vs their median)."""
    small = _small(_gray(image), (32, 32))
    low = cv2.dct(small)[:8, :8]
    return _bits_to_int(low > np.median(low))


def mirrored_phash(image: DecodedImage | Image.Image | np.ndarray) -> int:
    """:func:`phash` of the horizontally flipped picture: what a mirrored re-use hashes to."""
    return phash(cv2.flip(_gray(image), 1))


def dhash(image: DecodedImage | Image.Image | np.ndarray) -> int:
    """64-bit difference hash (is each pixel of a 9x8 grey thumbnail brighter than its left)."""
    small = _small(_gray(image), (9, 8))
    return _bits_to_int(small[:, 1:] > small[:, :-1])


def hamming_distance(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & MASK64).bit_count()


def hash_chunks(value: int) -> tuple[int, int, int, int]:
    """The four 16-bit chunks (0..65535, most significant first) of a 64-bit hash.

    Any hash within Hamming distance :data:`GUARANTEED_RADIUS` (3) of ``value`` shares at
    least one chunk with it at the same position.
    """
    u = value & MASK64
    return tuple(  # type: ignore[return-value]
        (u >> (CHUNK_BITS * (CHUNKS - 1 - i))) & 0xFFFF for i in range(CHUNKS)
    )


def is_low_information(image: DecodedImage | Image.Image | np.ndarray) -> bool:
    """True for near-flat pictures (blank, single colour) whose hashes match everything."""
    small = _small(_gray(image), (32, 32))
    return float(small.std()) < 3.0
