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

Crops (:func:`crop_hashes`): cutting 3 % off each side of a picture moves its pHash by
2-12 bits (median 6), 5 % by up to 16 and 10 % by 16-24, past the index's radius: the
commonest way to dress up a photo taken from someone else's claim. So a claim photo is
indexed again through the hashes of crops of it (:data:`CROP_BOXES`); a later picture cut
from it is found when its own crop box lies close enough to one of them. How close is
close enough was measured (docs/detection.md, "Crops off any side"): moving one edge of
the box by 2 % of the picture keeps 94 % of such pairs within the radius, 3 % 72 %, 5 %
40 %; shifting the box by 2 % keeps 62 %. A set covering every crop of up to 20 % off
any combination of sides at that tolerance would need ~1,300 boxes, so the stored boxes
are the commonest kinds of crop at a few rows each: the centred ladder, each side alone,
two adjacent sides (a corner cut away) and two opposite sides. Registration still
decides for every candidate found through a crop.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, NamedTuple

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
# The crop hashes' index (43 rows a claim photo) has chunks of its own, longer ones, so
# that a lookup's candidates do not grow with the 43 rows as the 16-bit chunks' do (each
# 16-bit value holds rows / 65,536 entries; a 21-bit one rows / 2M). A hash within
# CROP_INDEX_RADIUS bits of a stored one is, in at least one chunk i, within
# CROP_PROBE_RADII[i] bits of it (pigeonhole: the radii plus one sum to 7 > 6), so a
# lookup probes 232 + 22 + 23 = 277 chunk values, whatever the number of rows.
# 6 and not 7 bits: a pHash has exactly 32 bits set (64 coefficients against their
# median), so two pHashes differ by an even number of bits and 6 finds what 7 does (the
# radius 7 exactly would take radii (2, 2, 1): 487 probes, measured slower;
# docs/scaling.md, "The perceptual-hash index beyond 10M rows").
CROP_CHUNK_BITS = (21, 21, 22)
CROP_PROBE_RADII = (2, 1, 1)
CROP_INDEX_RADIUS = sum(radius + 1 for radius in CROP_PROBE_RADII) - 1
assert sum(CROP_CHUNK_BITS) == 64
assert CROP_INDEX_RADIUS == INDEX_RADIUS - 1  # the nearest even radius: see above
# Per cent cut off each side for the centred crop hashes. Rungs 5 points apart leave any
# centred crop of 0-17 % within 2.5 points of one: measured on the benchmark's product
# photos, 39-40 of 40 crops of 3, 5 and 10 % and 37 of 40 of 15 % within the radius (full
# hash alone: 30, 12, 0 and 0 of 40); no other shot of the same product came within 10 bits.
CROP_LADDER = (5, 10, 15)
# Per cent cut off one side alone (4 boxes per rung) and off two sides at once (each of
# the 4 corners and 2 pairs of opposite sides: 4 boxes per rung pair).
ONE_SIDE_LADDER = (5, 10, 15, 20)
TWO_SIDES_LADDER = (7, 14)


class CropBox(NamedTuple):
    """Per cent of the picture's height (top, bottom) or width (left, right) cut off."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def percent(self) -> int:
        """The most cut off any one side (what a candidate's ``crop_percent`` reports)."""
        return max(self)


def _crop_boxes() -> tuple[CropBox, ...]:
    boxes = [CropBox(p, p, p, p) for p in CROP_LADDER]
    for side in range(4):
        boxes += [CropBox(*(p if i == side else 0 for i in range(4))) for p in ONE_SIDE_LADDER]
    # (top, left), (top, right), (bottom, left), (bottom, right), (top, bottom), (left, right)
    for a, b in ((0, 2), (0, 3), (1, 2), (1, 3), (0, 1), (2, 3)):
        for p in TWO_SIDES_LADDER:
            for q in TWO_SIDES_LADDER:
                boxes.append(CropBox(*(p if i == a else q if i == b else 0 for i in range(4))))
    return tuple(dict.fromkeys(boxes))


# 3 centred + 16 one-sided + 24 two-sided = 43 rows per claim photo (docs/performance.md,
# "Crop boxes in the near-duplicate index").
CROP_BOXES = _crop_boxes()
# The long side of the grey thumbnail the crop hashes are cut from: one area resize for
# all boxes (a box edge then falls within 0.4 % of where it is asked for).
CROP_THUMBNAIL = 256


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


def crop_hashes(image: DecodedImage | Image.Image | np.ndarray) -> list[tuple[CropBox, int]]:
    """``(box, phash)`` of the picture cut to each of :data:`CROP_BOXES` (the index's
    further entries for a claim photo)."""
    gray = _gray(image)
    h, w = gray.shape[:2]
    if max(h, w) > CROP_THUMBNAIL:
        f = CROP_THUMBNAIL / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        h, w = gray.shape[:2]
    hashes = []
    for box in CROP_BOXES:
        y0, y1 = round(h * box.top / 100), h - round(h * box.bottom / 100)
        x0, x1 = round(w * box.left / 100), w - round(w * box.right / 100)
        hashes.append((box, phash(gray[y0:y1, x0:x1])))
    return hashes


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


def crop_hash_chunks(value: int) -> tuple[int, ...]:
    """The chunks of :data:`CROP_CHUNK_BITS` (most significant first) of a 64-bit hash: the
    crop hashes' own multi-index keys (``CropHash.chunk_<i>``)."""
    u, shift, chunks = value & MASK64, 64, []
    for bits in CROP_CHUNK_BITS:
        shift -= bits
        chunks.append((u >> shift) & ((1 << bits) - 1))
    return tuple(chunks)


def chunk_neighbours(chunk: int, *, bits: int, radius: int) -> list[int]:
    """``chunk`` first, then every other ``bits``-bit value within ``radius`` bits of it
    (1 + bits + C(bits, 2) + ... values)."""
    found = [chunk]
    for flips in range(1, radius + 1):
        for positions in combinations(range(bits), flips):
            value = chunk
            for position in positions:
                value ^= 1 << position
            found.append(value)
    return found


def crop_chunk_probes(value: int) -> list[list[int]]:
    """For each crop-table chunk of ``value``, the chunk values to look up so that every
    stored crop hash within :data:`CROP_INDEX_RADIUS` bits is among the candidates."""
    return [
        chunk_neighbours(chunk, bits=bits, radius=radius)
        for chunk, bits, radius in zip(
            crop_hash_chunks(value), CROP_CHUNK_BITS, CROP_PROBE_RADII, strict=True
        )
    ]


def is_low_information(image: DecodedImage | Image.Image | np.ndarray) -> bool:
    """True for near-flat pictures (blank, single colour) whose hashes match everything."""
    small = _small(_gray(image), (32, 32))
    return float(small.std()) < 3.0
