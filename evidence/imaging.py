"""Decoding uploaded images exactly once, without trusting the client.

``sniff`` decides the type from the bytes (never the name or the client's
content type), ``decode`` opens the image with Pillow under a pixel budget and builds
the reduced, orientation-corrected working copy that every check shares, and
``display_copy`` re-encodes a metadata-free JPEG that is safe to show a merchant
(no GPS, no EXIF at all) from that same decode: the entropy decoding of a 12 MP JPEG
is the largest single cost of checking it, so it is paid once.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()

logger = logging.getLogger(__name__)

# A 12 MP phone photo is 12e6 px; 50 MP phones exist. Anything above this is refused
# before it is decoded (a decompression bomb costs memory in proportion to pixels).
MAX_PIXELS = 60_000_000
MAX_BYTES = 25 * 1024 * 1024
WORKING_LONG_SIDE = 1024
DISPLAY_LONG_SIDE = 1600
DISPLAY_QUALITY = 85

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
    # The RGB decode the working copy was made from (long side >= DISPLAY_LONG_SIDE
    # unless the photo is smaller; EXIF orientation not yet applied) and that
    # orientation: ``display_copy`` resamples it instead of decoding the bytes again.
    display_source: Image.Image | None = field(default=None, repr=False)
    orientation: int = 1

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
    import cv2

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
    working = _orient(_working_copy(work), orientation)
    # Re-open for metadata readers: ``draft`` changed the decoder state of ``pil``.
    meta = Image.open(io.BytesIO(data))
    return DecodedImage(
        data=data,
        format=fmt,
        width=width,
        height=height,
        pil=meta,
        # cvtColor: the same contiguous BGR array as [:, :, ::-1].copy(), 4x faster.
        working=cv2.cvtColor(np.asarray(working), cv2.COLOR_RGB2BGR),
        path=path,
        info=info,
        decode_warnings=decode_warnings,
        display_source=work,
        orientation=orientation,
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
            # Reduced DCT decode: 1/2, 1/4 or 1/8 scale straight from the codec, the
            # smallest that still covers the display copy (which covers the working
            # copy). ``draft`` bounds both sides, so ask for the photo's own aspect:
            # ``(1600, 1600)`` would force a full decode of a 4000x3000 photo.
            scale = DISPLAY_LONG_SIDE / max(width, height)
            if scale < 1:
                pil.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        if getattr(pil, "n_frames", 1) > 1:
            pil.seek(0)  # animations: the first frame is the photo
        pil.load()
        # convert() would copy an RGB picture (a JPEG after draft) for nothing: ~10 ms
        # at 12 MP. The working copy is made from a copy of it anyway (see ``_fit``).
        work = pil if pil.mode == "RGB" else pil.convert("RGB")
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


# What ImageOps.exif_transpose does for each EXIF orientation.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orient(img: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img


def _working_copy(img: Image.Image) -> Image.Image:
    """``img`` scaled down (never up) to fit WORKING_LONG_SIDE, sized as
    ``Image.thumbnail`` would size it.

    A JPEG arrives DCT-reduced to a long side in [1024, 2048): a downscale by less than
    2, where OpenCV's bilinear costs a quarter of Pillow's antialiased filter (~4 ms
    instead of ~19 at 12 MP) and aliases little. Larger factors (full decodes of PNG,
    HEIC...) keep Pillow's antialiased bilinear."""
    width, height = img.size
    scale = WORKING_LONG_SIDE / max(width, height)
    if scale >= 1:
        return img
    if scale < 0.5:
        return _fit(img, WORKING_LONG_SIDE, Image.Resampling.BILINEAR)
    import cv2

    size = _thumbnail_size(width, height, WORKING_LONG_SIDE)
    return Image.fromarray(cv2.resize(np.asarray(img), size, interpolation=cv2.INTER_LINEAR))


def _thumbnail_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    probe = Image.new("1", (width, height))
    probe.thumbnail((long_side, long_side))
    return probe.size


def _fit(img: Image.Image, long_side: int, resample: Image.Resampling) -> Image.Image:
    """``img`` scaled down (never up) to fit ``long_side``, exactly as
    ``Image.thumbnail`` sizes it, leaving ``img`` itself untouched."""
    if max(img.size) <= long_side:
        return img
    small = img.copy()  # a memcpy; thumbnail's own size rounding is worth keeping
    small.thumbnail((long_side, long_side), resample)
    return small


def display_copy(image: DecodedImage | bytes) -> bytes:
    """A JPEG without any metadata (no EXIF, no GPS, no XMP), EXIF orientation applied,
    long side at most DISPLAY_LONG_SIDE.

    Pass the :class:`DecodedImage` of the pipeline: the copy is then resampled from the
    decode the working copy came from, with no second decode. Bytes are decoded first
    (and may raise :class:`ImageRejected`).
    """
    import cv2

    if not isinstance(image, DecodedImage):
        image = decode(image)
    elif image.display_source is None:  # built by hand, not by decode()
        image = decode(image.data)
    rgb = np.asarray(image.display_source)
    height, width = rgb.shape[:2]
    scale = DISPLAY_LONG_SIDE / max(width, height)
    if scale < 1:
        # A JPEG arrives DCT-reduced to a long side in [1600, 3200): a downscale by less
        # than 2, where OpenCV's bilinear matches Lanczos within 38-50 dB PSNR on camera
        # photos (under the JPEG's own error) at a third of Pillow's resampling time.
        # Larger factors (full decodes of PNG, HEIC...) need area averaging not to alias.
        rgb = cv2.resize(
            rgb,
            (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_LINEAR if scale > 0.5 else cv2.INTER_AREA,
        )
    shown = _orient(Image.fromarray(rgb), image.orientation)
    out = io.BytesIO()
    # A new image from bare pixels: no EXIF, XMP, ICC profile or JPEG comment of the
    # original can be carried over.
    shown.save(out, "JPEG", quality=DISPLAY_QUALITY)
    return out.getvalue()
