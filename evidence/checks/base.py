"""The contract every evidence check follows.

A check is a small, versioned, *pure* unit: it receives an already decoded image
(:class:`evidence.imaging.DecodedImage`) and a :class:`CheckContext` assembled by the
pipeline, and returns a list of :class:`FindingData`. It never touches the database,
the file system, the network or Celery. That is what
makes every check testable on fixtures and benchmarkable in isolation.

Messages are English msgids marked with ``gettext_noop`` plus ``params``: they are
translated when shown (``Finding.display_message``), so a merchant reads them in the
language of the page and the catalogues stay the single source of wording.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from evidence.imaging import DecodedImage


class Severity(StrEnum):
    """How strongly a finding speaks against the photo, from a merchant's point of view."""

    INFO = "info"  # a fact worth showing, not a signal (e.g. "GPS present, kept private")
    LOW = "low"  # a weak aid (ELA, missing EXIF)
    MEDIUM = "medium"  # suspicious, worth a look
    HIGH = "high"  # strong evidence of editing / generation / copying
    CRITICAL = "critical"  # near proof (signed AI manifest, copy of the listing photo)
    ERROR = "error"  # the check itself failed; says nothing about the photo


@dataclass(frozen=True)
class Artifact:
    """An image a check produced to show a person what it found (PNG bytes)."""

    name: str  # short slug, unique within the finding: "side_by_side", "overlay", "ela"
    png: bytes
    caption: str = ""  # English msgid, translated when shown


@dataclass
class FindingData:
    """One thing a check found. ``code`` is stable (weights are keyed by it)."""

    code: str
    severity: Severity
    message: str  # English msgid with %(name)s placeholders, marked with gettext_noop
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable
    artifacts: list[Artifact] = field(default_factory=list)
    # Which EvidenceFile / ProductPhoto a finding points at besides its own file
    # (e.g. the matched listing photo), by the ids the context gave.
    related_reference_id: int | None = None
    related_evidence_id: int | None = None


@dataclass(frozen=True)
class ReferencePhoto:
    """A merchant's listing/shipping photo with its features computed once and cached."""

    id: int  # ProductPhoto or packing EvidenceFile id, as the pipeline assigns
    kind: str  # "listing" | "packing"
    label: str  # human label: product title, "packing photo 2"
    # Opaque to the pipeline: what checks.reference_match.compute_features() produces, or
    # its stored bytes (features_to_bytes), which the check reads back itself.
    features: Any


@dataclass(frozen=True)
class SimilarImage:
    """A near-identical image elsewhere, found by the pipeline's perceptual-hash index."""

    evidence_id: int
    claim_id: int | None
    buyer_id: int | None
    order_id: int | None
    distance: int  # Hamming distance of the 64-bit pHash
    confirmed_forgery: bool = False
    same_sha256: bool = False
    # Found by the pHash of the horizontally flipped picture: a mirrored re-use.
    mirrored: bool = False
    # Found through the hash of a crop of the earlier file (evidence.hashing.CROP_BOXES:
    # the most per cent the box cuts off any one side; 0: its whole picture's hash):
    # never decided on the hash alone.
    crop_percent: int = 0
    # Its stored ORB features (checks.reference_match.ImageFeatures), when the pipeline
    # loaded them for verification by registration; None for files checked before
    # features were stored, or when not needed.
    features: Any = field(default=None, compare=False, repr=False)


@dataclass
class CheckContext:
    """Everything a check may need besides the image; built by the pipeline."""

    submitted_by: str = "buyer"  # buyer | merchant | platform
    attached_to: str = "claim"  # claim | product | shipment
    claim_id: int | None = None
    buyer_id: int | None = None
    order_id: int | None = None
    paid_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    claim_created_at: dt.datetime | None = None
    references: list[ReferencePhoto] = field(default_factory=list)
    similar_images: list[SimilarImage] = field(default_factory=list)
    duplicate_sha256_evidence_ids: list[int] = field(default_factory=list)
    # The one-time code a reviewer asked the buyer to photograph, and when it was issued
    # (evidence.checks.challenge_code); empty when none was asked for.
    challenge_code: str = ""
    challenge_issued_at: dt.datetime | None = None


class Check:
    """Base class. Subclasses set the class attributes and implement :meth:`run`.

    ``codes`` lists every finding code the check can emit with its default weight
    (0-100 points towards the claim's risk score) and an English description; the
    scoring tables are seeded from it and administrators can change weights later.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    codes: ClassVar[dict[str, tuple[int, str]]]
    # Which files the check applies to: by who submitted them and what they are attached to.
    submitted_by: ClassVar[frozenset[str]] = frozenset({"buyer", "merchant", "platform"})
    attached_to: ClassVar[frozenset[str]] = frozenset({"claim"})

    def applies_to(self, image: DecodedImage, context: CheckContext) -> bool:
        return context.submitted_by in self.submitted_by and context.attached_to in self.attached_to

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        raise NotImplementedError  # pragma: no cover - abstract


def to_png(array: np.ndarray) -> bytes:
    """Encode a BGR or grey uint8 array as PNG bytes (for artifacts).

    fpng (one deflate pass tuned for 24-bit pictures) writes a photo ~8x faster than
    libpng at its fastest setting, for files ~25 % larger: 2 ms instead of 16 for a
    reference side-by-side, on every forged copy."""
    import cv2
    import fpng

    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    return fpng.from_cv2(array)  # converts to RGB (a contiguous copy) first


def palette_png(indices: np.ndarray, palette_bgr: np.ndarray) -> bytes:
    """Encode a grey uint8 array as an indexed PNG through a 256-colour BGR palette
    (e.g. a colour-mapped heatmap): it reads back exactly as ``palette_bgr[indices]``.

    A third of the bytes of the colour image to compress, and the Huffman-only zlib
    strategy (no string matching) suits a heatmap's few dominant values: ~4x faster
    and ~5x smaller than ``to_png`` of the colour-mapped array.
    """
    import io
    import zlib

    from PIL import Image

    image = Image.fromarray(indices)  # 2-D uint8: mode "L"
    image.putpalette(palette_bgr.reshape(256, 3)[:, ::-1].tobytes())  # -> P mode, RGB
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1, compress_type=zlib.Z_HUFFMAN_ONLY)
    return out.getvalue()
