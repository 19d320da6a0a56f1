"""Decoding uploaded images exactly once, without trusting the client.

``sniff`` decides the type from the bytes (never the name or the client's
content type), ``decode`` opens the image with Pillow under a pixel budget and builds
the reduced, orientation-corrected working copy that every check shares, and
``display_copy`` re-encodes a metadata-free JPEG that is safe to show a merchant
(no GPS, no EXIF at all).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from pillow_heif import register_heif_opener

register_heif_opener()

logger = logging.getLogger(__name__)

# A 12 MP phone photo is 12e6 px; 50 MP phones exist. Anything above this is refused
# before it is decoded (a decompression bomb costs memory in proportion to pixels).
MAX_PIXELS = 60_000_000
MAX_BYTES = 25 * 1024 * 1024
WORKING_LONG_SIDE = 1024

ALLOWED_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
    "AVIF": "image/avif",
}


class ImageRejected(ValueError):
    """The bytes are not an image we accept. ``code`` is stable, ``message`` a msgid."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.code = code
        self.message = message
        self.params = params


def sniff(data: bytes) -> str | None:
    """The container format from magic bytes, or None. Returns a key of ALLOWED_TYPES."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIF"
    return None


@dataclass
class DecodedImage:
    """An uploaded image decoded once; checks read what they need from here."""

    data: bytes  # the original bytes, untouched
    format: str  # key of ALLOWED_TYPES
    width: int  # full-resolution size, after EXIF orientation
    height: int
    pil: Image.Image  # opened (header read), not necessarily fully loaded
    working: np.ndarray  # BGR uint8, oriented, long side <= WORKING_LONG_SIDE
    path: Path | None = None  # a file holding ``data`` (c2pa reads from a path)
    info: dict = field(default_factory=dict)  # Pillow's info dict (PNG text, icc, xmp...)
    # What went wrong while decoding without stopping it, as stable codes from
    # DECODE_WARNINGS (e.g. "jpeg_truncated"); the integrity check turns them into findings.
    decode_warnings: list[str] = field(default_factory=list)
    # Values derived from the pixels that more than one step needs (e.g. the ORB
    # features: reference matching, reuse and copy-move all use them), computed once.
    memo: dict = field(default_factory=dict)

    @property
    def mime(self) -> str:
        return ALLOWED_TYPES[self.format]

    @cached_property
    def gray(self) -> np.ndarray:
        import cv2

        return cv2.cvtColor(self.working, cv2.COLOR_BGR2GRAY)

    @cached_property
    def exif(self) -> Image.Exif:
        """The EXIF directory; empty (never an exception) when it cannot be parsed."""
        if self.format == "PNG" and "exif" not in self.info:
            # Pillow looks for an eXIf chunk after the pixels by decoding them all;
            # reading the chunk straight from the bytes costs nothing.
            return _png_exif_chunk(self.data)
        try:
            return self.pil.getexif()
        except Exception:  # noqa: BLE001 - a damaged EXIF block must not break the checks
            logger.debug("unreadable EXIF", exc_info=True)
            return Image.Exif()

    @cached_property
    def xmp(self) -> bytes | None:
        """The raw XMP packet, wherever the container keeps it."""
        raw = self.info.get("xmp") or self.info.get("XML:com.adobe.xmp")
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if raw:
            return raw
        start = self.data.find(b"<x:xmpmeta")
        if start < 0:
            return None
        end = self.data.find(b"</x:xmpmeta>", start)
        return self.data[start : end + len(b"</x:xmpmeta>")] if end > 0 else None


def _png_exif_chunk(data: bytes) -> Image.Exif:
    exif = Image.Exif()
    at = data.find(b"eXIf", 8)
    if at < 12:
        return exif
    length = int.from_bytes(data[at - 4 : at], "big")
    payload = data[at + 4 : at + 4 + length]
    if len(payload) == length:
        try:
            exif.load(payload if payload[:6] != b"Exif\x00\x00" else payload[6:])
        except Exception:  # noqa: BLE001 - damaged EXIF reads as none
            logger.debug("unreadable PNG eXIf chunk", exc_info=True)
            return Image.Exif()
    return exif


def decode(data: bytes, path: Path | None = None) -> DecodedImage:
    """Decode ``data`` once. Raises :class:`ImageRejected` with a clear reason.

    Every failure of the decoder ends in ``ImageRejected`` (never another exception);
    a JPEG that is merely cut short is decoded as far as it goes (the codec greys the
    rest) and carries ``"jpeg_truncated"`` in ``decode_warnings`` for the integrity check.
    """
    if len(data) > MAX_BYTES:
        raise ImageRejected(
            "file_too_large",
            "The file is %(size)s MB; the limit is %(limit)s MB.",
            size=round(len(data) / 1e6, 1),
            limit=MAX_BYTES // (1024 * 1024),
        )
    fmt = sniff(data)
    if fmt is None:
        raise ImageRejected(
            "unsupported_type",
            "This file is not a JPEG, PNG, WebP, HEIC or AVIF image.",
        )
    decode_warnings: list[str] = []
    try:
        work, width, height, orientation, info = _decode_working(data, decode_warnings)
    except ImageRejected:
        raise
    except Exception as exc:
        if fmt == "JPEG" and _is_truncation(exc):
            # libjpeg stops at an EOI marker and greys what is missing; Pillow only
            # refuses because the stream ended without one. Give it the marker.
            try:
                work, width, height, orientation, info = _decode_working(
                    data + b"\xff\xd9", decode_warnings
                )
            except ImageRejected:
                raise
            except Exception as retry_exc:
                raise _undecodable(retry_exc) from retry_exc
            decode_warnings.append("jpeg_truncated")
        elif _is_truncation(exc):
            raise ImageRejected(
                "truncated",
                "The file is cut short: it ends before the image data is complete.",
            ) from exc
        else:
            raise _undecodable(exc) from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    work.thumbnail((WORKING_LONG_SIDE, WORKING_LONG_SIDE), Image.Resampling.BILINEAR)
    if orientation != 1:
        exif_holder = Image.Exif()
        exif_holder[0x0112] = orientation
        work.info["exif"] = exif_holder.tobytes()
        work.getexif()[0x0112] = orientation
        work = ImageOps.exif_transpose(work)
    working = np.asarray(work)[:, :, ::-1].copy()
    # Re-open for metadata readers: ``draft`` changed the decoder state of ``pil``.
    meta = Image.open(io.BytesIO(data))
    return DecodedImage(
        data=data,
        format=fmt,
        width=width,
        height=height,
        pil=meta,
        working=working,
        path=path,
        info=info,
        decode_warnings=decode_warnings,
    )


def _decode_working(
    data: bytes, decode_warnings: list[str]
) -> tuple[Image.Image, int, int, int, dict]:
    """Open, size-check and decode the reduced RGB copy; Pillow errors propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            pil = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(
                "decompression_bomb",
                "The image declares an impossible size: %(error)s",
                error=str(exc)[:200],
            ) from exc
        width, height = pil.size
        if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
            raise ImageRejected(
                "too_many_pixels",
                "The image is %(width)s x %(height)s pixels; the limit is %(limit)s megapixels.",
                width=width,
                height=height,
                limit=MAX_PIXELS // 1_000_000,
            )
        info = dict(pil.info)
        orientation = _orientation(pil, decode_warnings)
        if pil.format == "JPEG":
            # Reduced DCT decode: 1/2, 1/4 or 1/8 scale straight from the codec.
            pil.draft("RGB", (WORKING_LONG_SIDE, WORKING_LONG_SIDE))
        if getattr(pil, "n_frames", 1) > 1:
            pil.seek(0)  # animations: the first frame is the photo
        work = pil.convert("RGB")
    return work, width, height, orientation, info


def _orientation(pil: Image.Image, decode_warnings: list[str]) -> int:
    """The EXIF orientation (1..8); 1 when absent, unreadable or nonsensical."""
    try:
        value = pil.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - damaged EXIF: keep the pixels, note it
        decode_warnings.append("exif_unreadable")
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _is_truncation(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (OSError, SyntaxError, EOFError)) and (
        "truncated" in text or "end of file" in text or isinstance(exc, EOFError)
    )


def _undecodable(exc: BaseException) -> ImageRejected:
    if "broken data stream" in str(exc):
        return ImageRejected(
            "damaged",
            "The file is damaged: its picture data is broken and cannot be decoded.",
        )
    return ImageRejected(
        "undecodable", "The image cannot be decoded: %(error)s", error=str(exc)[:200]
    )


def display_copy(data: bytes, max_side: int = 1600, quality: int = 85) -> bytes:
    """A JPEG without any metadata (no EXIF, no GPS, no XMP), EXIF orientation applied."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            # Let the codec decode at 1/2, 1/4 or 1/8 scale (never below max_side): a
            # 12 MP photo then costs a fraction of a full decode.
            img.draft("RGB", (max_side, max_side))
        img = ImageOps.exif_transpose(img)
        img = img.convert("RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, "JPEG", quality=quality, optimize=True)
        return out.getvalue()
