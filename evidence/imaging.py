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
import struct
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

from evidence import containers

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


def open_header(data: bytes, fmt: str | None) -> Image.Image:
    """Pillow's parser for ``fmt`` (a key of ALLOWED_TYPES) over ``data``: the header read,
    no pixels decoded. Unlike ``Image.open`` it skips Pillow's decompression-bomb check
    (a warning over 89 MP, an error over 178 MP), so that the caller can refuse any size
    over MAX_PIXELS as ``too_many_pixels`` with its width and height, rather than as an
    unreadable file. Parser errors propagate. Pillow's global limit is left alone."""
    if fmt not in Image.OPEN:
        Image.init()
    if fmt not in Image.OPEN:
        raise UnidentifiedImageError("not a format Claimlens accepts")
    factory, _accept = Image.OPEN[fmt]
    try:
        return factory(io.BytesIO(data), "")
    except (SyntaxError, IndexError, TypeError, struct.error) as exc:
        # What Image.open turns a parser's refusal into.
        raise UnidentifiedImageError(f"cannot identify image file: {exc}") from exc


@dataclass
class DecodedImage:
    """An uploaded image decoded once; checks read what they need from here."""

    data: bytes  # the original bytes, untouched
    format: str  # key of ALLOWED_TYPES
    width: int  # full-resolution size, after EXIF orientation
    height: int
    pil: Image.Image  # opened (header read), not necessarily fully loaded
    working: np.ndarray  # BGR uint8, oriented, long side <= WORKING_LONG_SIDE
    info: dict = field(default_factory=dict)  # Pillow's info dict (PNG text, icc, xmp...)
    # What went wrong while decoding without stopping it, as stable codes from
    # DECODE_WARNINGS (e.g. "jpeg_truncated"); the integrity check turns them into findings.
    decode_warnings: list[str] = field(default_factory=list)
    # Values derived from the pixels that more than one step needs (e.g. the ORB
    # features: reference matching, reuse and copy-move all use them), computed once.
    memo: dict = field(default_factory=dict)
    # The BGR decode the working copy was made from (long side >= DISPLAY_LONG_SIDE
    # unless the photo is smaller; EXIF orientation not yet applied) and that
    # orientation: ``display_copy`` resamples it instead of decoding the bytes again.
    display_source: np.ndarray | None = field(default=None, repr=False)
    orientation: int = 1

    @property
    def mime(self) -> str:
        return ALLOWED_TYPES[self.format]

    @property
    def structure(self) -> containers.StructureReport | None:
        """The container walk (cut short? damaged? data after the end?); ``decode``
        already walked a JPEG's to choose its codec, so that one is not walked twice."""
        if "structure" not in self.memo:
            self.memo["structure"] = containers.structure_of(self.format, self.data)
        return self.memo["structure"]

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
        where = self.data
        if self.format == "JPEG":
            # Metadata sits before the picture data; no need to search megabytes of it.
            segments = containers.jpeg_segments(self.data)
            if segments and segments[-1][0] == 0xDA:
                where = b"".join(payload for marker, payload in segments[:-1])
        start = where.find(b"<x:xmpmeta")
        if start < 0:
            return None
        end = where.find(b"</x:xmpmeta>", start)
        return where[start : end + len(b"</x:xmpmeta>")] if end > 0 else None


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


def decode(data: bytes) -> DecodedImage:
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
    walk = containers.structure_of(fmt, data) if fmt == "JPEG" else None
    # A JPEG that is whole and undamaged goes to OpenCV's libjpeg-turbo (the same pixels
    # as Pillow's, as a BGR array with no conversion: ~10 ms less at 12 MP). Damaged and
    # cut-short files stay with Pillow, which refuses what cannot be trusted and greys
    # what is missing (below), as does anything OpenCV refuses.
    fast_jpeg = walk is not None and not walk.truncated and walk.damaged_at is None
    header: list[Image.Image] = []
    try:
        source, width, height, orientation, info = _decode_source(
            data, decode_warnings, fast_jpeg=fast_jpeg, header=header
        )
    except ImageRejected:
        raise
    except Exception as exc:
        if fmt == "JPEG" and _is_truncation(exc):
            # libjpeg stops at an EOI marker and greys what is missing; Pillow only
            # refuses because the stream ended without one. Give it the marker.
            try:
                source, width, height, orientation, info = _decode_source(
                    data + b"\xff\xd9", decode_warnings, fast_jpeg=False
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
    working = orient_array(_resize_to_fit(source, WORKING_LONG_SIDE), orientation)
    return DecodedImage(
        data=data,
        format=fmt,
        width=width,
        height=height,
        # Headers only, for the metadata readers: the parser that sized the photo when
        # OpenCV decoded it (nothing loaded, its EXIF read whole), else opened afresh.
        pil=header[0] if header and not decode_warnings else open_header(data, fmt),
        # Its own array: a small picture's working copy is not a resized one, and no
        # check may change the pixels the display copy is made from.
        working=working.copy() if working is source else working,
        info=info,
        decode_warnings=decode_warnings,
        memo={"structure": walk} if walk is not None else {},
        display_source=source,
        orientation=orientation,
    )


def _decode_source(
    data: bytes,
    decode_warnings: list[str],
    *,
    fast_jpeg: bool,
    header: list[Image.Image] | None = None,
) -> tuple[np.ndarray, int, int, int, dict]:
    """Open and size-check with Pillow, then decode the reduced BGR copy that both the
    working and the display copies come from; decoder errors propagate. When OpenCV
    decoded the pixels, Pillow's parser (headers read, no pixel loaded) is appended to
    ``header``: parsing the headers and the EXIF again costs ~1 ms at 12 MP."""
    import cv2

    with warnings.catch_warnings():
        # Pillow's own bomb check no longer runs at open (open_header); anything later
        # that still checks (another frame, a crop) fails instead of warning.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        pil = open_header(data, sniff(data))
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
            # smallest that still covers the display copy (which covers the working copy).
            # Ask for the photo's own aspect: ``(1600, 1600)`` would force a full decode
            # of a 4000x3000 photo (draft bounds both sides).
            scale = DISPLAY_LONG_SIDE / max(width, height)
            wanted = (math.ceil(width * scale), math.ceil(height * scale))
            if fast_jpeg and pil.mode in ("RGB", "L"):  # CMYK: Pillow knows Adobe's ink
                reduction = _draft_reduction(width, height, wanted)
                flags = {
                    1: cv2.IMREAD_COLOR,
                    2: cv2.IMREAD_REDUCED_COLOR_2,
                    4: cv2.IMREAD_REDUCED_COLOR_4,
                    8: cv2.IMREAD_REDUCED_COLOR_8,
                }[reduction] | cv2.IMREAD_IGNORE_ORIENTATION
                bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
                if bgr is not None and bgr.shape[:2] == (
                    math.ceil(height / reduction),
                    math.ceil(width / reduction),
                ):
                    if header is not None:
                        header.append(pil)
                    return bgr, width, height, orientation, info
            if scale < 1:
                pil.draft("RGB", wanted)
        if getattr(pil, "n_frames", 1) > 1:
            pil.seek(0)  # animations: the first frame is the photo
        pil.load()
        rgb = pil if pil.mode == "RGB" else pil.convert("RGB")
        # What the JPEG's DCT reduction does, for every other format: average whole
        # blocks down to the smallest size that still covers the display copy, before
        # any copy is made. A 50 MP PNG then costs its decode plus a few MB, not three
        # full copies (~520 MB), and area averaging does not alias.
        factor = max(rgb.size) // DISPLAY_LONG_SIDE  # a drafted JPEG is reduced already
        reduced = rgb.reduce(factor) if factor >= 2 else rgb
        bgr, size = reduced.tobytes("raw", "BGR"), reduced.size  # Pillow swaps the channels
        for opened in (reduced, rgb, pil):  # the same image twice is fine: close is idempotent
            opened.close()
    array = np.frombuffer(bgr, np.uint8).reshape(size[1], size[0], 3)  # read-only
    return array, width, height, orientation, info


def _draft_reduction(width: int, height: int, wanted: tuple[int, int]) -> int:
    """The DCT scale denominator Pillow's ``draft`` picks for ``wanted``."""
    most = min(width // wanted[0], height // wanted[1])  # 0 for a photo under the size
    return next((d for d in (8, 4, 2) if d <= most), 1)


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


def orient_array(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` turned the way EXIF ``orientation`` (1..8) says, as
    ``ImageOps.exif_transpose`` turns a picture."""
    import cv2

    if orientation == 2:
        return cv2.flip(array, 1)
    if orientation == 3:
        return cv2.rotate(array, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(array, 0)
    if orientation == 5:
        return cv2.transpose(array)
    if orientation == 6:
        return cv2.rotate(array, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(array), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(array, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return array


def _resize_to_fit(array: np.ndarray, long_side: int) -> np.ndarray:
    """``array`` scaled down (never up) to fit ``long_side``, sized as
    ``Image.thumbnail`` would size it.

    A JPEG arrives DCT-reduced to a long side in [1600, 3200): a downscale by less than
    2, where bilinear interpolation aliases little (and matches Lanczos within 38-50 dB
    PSNR on camera photos, under the JPEG's own error) at a fraction of Pillow's
    resampling time. Larger factors (full decodes of PNG, HEIC...) average areas."""
    import cv2

    height, width = array.shape[:2]
    scale = long_side / max(width, height)
    if scale >= 1:
        return array
    size = _thumbnail_size(width, height, long_side)
    interpolation = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    return cv2.resize(array, size, interpolation=interpolation)


def _thumbnail_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The size ``Image.thumbnail((long_side, long_side))`` gives a picture this size:
    the long side set, the short one rounded to the integer that keeps the aspect best."""
    aspect = width / height
    if width >= height:
        candidates = (math.floor(long_side / aspect), math.ceil(long_side / aspect))
        short = min(candidates, key=lambda n: abs(aspect - long_side / n) if n else math.inf)
        return long_side, max(short, 1)
    candidates = (math.floor(long_side * aspect), math.ceil(long_side * aspect))
    short = min(candidates, key=lambda n: abs(aspect - n / long_side))
    return max(short, 1), long_side


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
    shown = orient_array(_resize_to_fit(image.display_source, DISPLAY_LONG_SIDE), image.orientation)
    # Encoded from bare pixels: OpenCV writes a JFIF header and nothing else, so no EXIF,
    # XMP, ICC profile or JPEG comment of the original can be carried over.
    ok, encoded = cv2.imencode(".jpg", shown, [cv2.IMWRITE_JPEG_QUALITY, DISPLAY_QUALITY])
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError("could not encode the display copy")
    return encoded.tobytes()
