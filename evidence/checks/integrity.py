"""File integrity: damaged or cut-short files, extra data, exact re-submissions, tiny images.

The decoder (``evidence.imaging.decode``) already refused what cannot be an image at all;
this check reads the *structure* of what was accepted, from the bytes, without decoding
pixels again (a regex over the compressed data, a few milliseconds for 12 MP):

* JPEG: a marker walk from SOI to EOI. A stream that ends before EOI is cut short; an
  invalid marker inside the compressed data, or a block of 0xFF / 0x00 filler bytes where
  picture data should be, means the file was damaged (a storage or transfer fault), so
  part of the picture is garbage; data after EOI that is not an appended preview JPEG
  is reported weakly.
* PNG: a chunk walk with CRC checks, up to IEND.
* WebP: the RIFF length against the file length.
* Metadata (EXIF or XMP) describing a different pixel size than the file holds.
* The same file (SHA-256) already submitted as other evidence, from the pipeline's
  ``duplicate_sha256_evidence_ids``.
* Pictures too small to show any detail.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.checks.metadata import IFD_EXIF, NS_EXIF, TAG_PIXEL_X, TAG_PIXEL_Y, parse_xmp
from evidence.checks.metadata import xmp_values as _xmp_values

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

TINY_SHORT_SIDE = 256
FILLER_FF_RUN = 512  # 0xFF bytes in a row inside compressed data: an erased flash block
FILLER_00_RUN = 4096  # zero bytes in a row inside compressed data: a zeroed block
TRAILING_IGNORED = 16  # a few padding bytes after EOI are common and harmless

# After 0xFF inside entropy-coded data only these may follow: 0x00 (stuffing),
# RST0-7, 0xFF (fill) or a real marker ending the scan.
_SCAN_END = re.compile(rb"\xff(?![\x00\xd0-\xd7\xff])")
_VALID_AFTER_SCAN = frozenset(
    [0xC4, 0xCC, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xFE]
    + list(range(0xC0, 0xD0))
    + list(range(0xE0, 0xF0))
)


@dataclass
class StructureReport:
    """What the structural walk found; offsets are byte positions in the file."""

    truncated: bool = False
    damaged_at: int | None = None
    damage: str = ""  # "invalid_marker" | "ff_block" | "zero_block" | "bad_chunk_crc" | ...
    filler_bytes: int = 0
    trailing_bytes: int = 0
    trailing_kind: str = ""  # "jpeg" | "data"
    notes: list[str] = field(default_factory=list)


def jpeg_structure(data: bytes) -> StructureReport:
    """Walk the JPEG markers and scans; never raises."""
    report = StructureReport()
    pos, size = 2, len(data)
    has_mpf = False
    while True:
        # Skip fill bytes before a marker.
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 1 >= size:
            report.truncated = True
            return report
        if data[pos] != 0xFF:
            report.damaged_at, report.damage = pos, "garbage_between_segments"
            return report
        marker = data[pos + 1]
        if marker == 0xD9:
            end = pos + 2
            break
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 4 > size:
            report.truncated = True
            return report
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            report.damaged_at, report.damage = pos, "bad_segment_length"
            return report
        if marker == 0xE2 and data[pos + 4 : pos + 8] == b"MPF\x00":
            has_mpf = True
        segment_end = pos + 2 + length
        if segment_end > size:
            report.truncated = True
            return report
        if marker != 0xDA:
            pos = segment_end
            continue
        match = _SCAN_END.search(data, segment_end)
        scan_end = match.start() if match else size
        run = _filler_run(data, segment_end, scan_end)
        if run is not None:
            report.damaged_at, report.damage, report.filler_bytes = run
        if match is None:
            report.truncated = True
            return report
        next_marker = data[scan_end + 1]
        if next_marker not in _VALID_AFTER_SCAN:
            if report.damaged_at is None:
                report.damaged_at, report.damage = scan_end, "invalid_marker"
            report.notes.append(f"invalid marker 0x{next_marker:02X} at {scan_end}")
            # The codec resynchronises on the next restart marker; we only need to know
            # whether the file still ends properly.
            report.truncated = not data.rstrip(b"\x00").endswith(b"\xff\xd9")
            return report
        pos = scan_end
    trailing = data[end:]
    if len(trailing.strip(b"\x00\xff \r\n")) > TRAILING_IGNORED:
        report.trailing_bytes = len(trailing)
        # Phones append preview / depth / gain-map JPEGs (MPF) after the main image.
        report.trailing_kind = "jpeg" if (has_mpf or b"\xff\xd8\xff" in trailing[:64]) else "data"
    return report


def _filler_run(data: bytes, start: int, end: int) -> tuple[int, str, int] | None:
    """The first long run of 0xFF or 0x00 filler in ``data[start:end]``: (offset, kind, size).

    ``bytes.find`` of a long needle is a fast substring search, unlike a regex repeat.
    """
    runs = []
    for byte, minimum, kind in (
        (0xFF, FILLER_FF_RUN, "ff_block"),
        (0x00, FILLER_00_RUN, "zero_block"),
    ):
        offset = data.find(bytes([byte]) * minimum, start, end)
        if offset >= 0:
            tail = data[offset:end]
            runs.append((offset, kind, len(tail) - len(tail.lstrip(bytes([byte])))))
    return min(runs, default=None)


def png_structure(data: bytes) -> StructureReport:
    """Walk the PNG chunks, checking lengths and CRCs, up to IEND; never raises."""
    report = StructureReport()
    pos, size = 8, len(data)
    while True:
        if pos + 8 > size:
            report.truncated = True
            return report
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            report.truncated = True
            return report
        crc = struct.unpack(">I", data[end - 4 : end])[0]
        if zlib.crc32(data[pos + 4 : end - 4]) & 0xFFFFFFFF != crc:
            report.damaged_at, report.damage = pos, "bad_chunk_crc"
            report.notes.append(f"chunk {kind!r} CRC mismatch")
            return report
        pos = end
        if kind == b"IEND":
            break
    if len(data) - pos > TRAILING_IGNORED:
        report.trailing_bytes, report.trailing_kind = len(data) - pos, "data"
    return report


def webp_structure(data: bytes) -> StructureReport:
    report = StructureReport()
    if len(data) < 12:
        report.truncated = True
        return report
    (declared,) = struct.unpack("<I", data[4:8])
    actual = len(data) - 8
    if actual < declared:
        report.truncated = True
    elif actual - declared > TRAILING_IGNORED:
        report.trailing_bytes, report.trailing_kind = actual - declared, "data"
    return report


def structure(image: DecodedImage) -> StructureReport | None:
    if image.format == "JPEG":
        return jpeg_structure(image.data)
    if image.format == "PNG":
        return png_structure(image.data)
    if image.format == "WEBP":
        return webp_structure(image.data)
    return None  # HEIF/AVIF: libheif validates the boxes it needs


class FileIntegrityCheck(Check):
    """Reports damaged, cut-short or padded files, size-mismatching metadata, re-used files
    and tiny pictures.

    Promises: reads bytes and metadata only (no pixel decode), never raises on malformed
    structure, and a damaged file is described by where the damage starts, not guessed at.
    """

    name = "file_integrity"
    version = 1
    codes = {
        "file_truncated": (
            15,
            "The file is cut short: the end of the picture is missing (greyed out).",
        ),
        "file_damaged": (
            15,
            "Part of the compressed picture data is garbage: the file was damaged.",
        ),
        "file_trailing_data": (5, "Unexplained data follows the end of the picture."),
        "file_metadata_size_mismatch": (
            5,
            "The metadata describes a different pixel size: the picture was resized or"
            " re-exported after it was taken.",
        ),
        "file_exif_unreadable": (5, "The EXIF block is damaged and cannot be read."),
        "file_duplicate": (
            25,
            "The very same file (byte for byte) was already submitted as other evidence.",
        ),
        "file_tiny": (10, "The picture is too small to show any detail."),
    }
    attached_to = frozenset({"claim", "product", "shipment"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        findings: list[FindingData] = []
        report = structure(image)
        truncated = "jpeg_truncated" in image.decode_warnings or bool(report and report.truncated)
        if truncated:
            findings.append(
                FindingData(
                    code="file_truncated",
                    severity=Severity.MEDIUM,
                    message=gettext_noop(
                        "The file is cut short: it ends before the picture is complete, so"
                        " the missing part is shown grey. Ask for the original photo."
                    ),
                    details={"file_bytes": len(image.data), "format": image.format},
                )
            )
        if report and report.damaged_at is not None:
            findings.append(self._damage_finding(image, report))
        if report and report.trailing_bytes and report.trailing_kind == "data":
            findings.append(
                FindingData(
                    code="file_trailing_data",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "%(size)s bytes of unexplained data follow the end of the picture."
                    ),
                    params={"size": report.trailing_bytes},
                    details={"trailing_bytes": report.trailing_bytes},
                )
            )
        if "exif_unreadable" in image.decode_warnings:
            findings.append(
                FindingData(
                    code="file_exif_unreadable",
                    severity=Severity.LOW,
                    message=gettext_noop("The file's EXIF block is damaged and cannot be read."),
                )
            )
        declared = _declared_size(image)
        if declared and not _same_size(declared, (image.width, image.height)):
            findings.append(
                FindingData(
                    code="file_metadata_size_mismatch",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "The file's metadata describes a %(declared_width)s x"
                        " %(declared_height)s picture, but it holds %(width)s x %(height)s"
                        " pixels: it was resized or re-exported after it was taken."
                    ),
                    params={
                        "declared_width": declared[0],
                        "declared_height": declared[1],
                        "width": image.width,
                        "height": image.height,
                    },
                    details={"declared": list(declared), "actual": [image.width, image.height]},
                )
            )
        if context.duplicate_sha256_evidence_ids:
            ids = sorted(set(context.duplicate_sha256_evidence_ids))
            findings.append(
                FindingData(
                    code="file_duplicate",
                    severity=Severity.MEDIUM,
                    message=gettext_noop(
                        "This very file, byte for byte, was already submitted before as"
                        " evidence %(evidence_ids)s."
                    ),
                    params={"evidence_ids": ", ".join(f"#{i}" for i in ids[:10])},
                    details={"evidence_ids": ids},
                    related_evidence_id=ids[0],
                )
            )
        if min(image.width, image.height) < TINY_SHORT_SIDE:
            findings.append(
                FindingData(
                    code="file_tiny",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "The picture is only %(width)s x %(height)s pixels: too small to"
                        " show damage in detail."
                    ),
                    params={"width": image.width, "height": image.height},
                    details={"width": image.width, "height": image.height},
                )
            )
        return findings

    def _damage_finding(self, image: DecodedImage, report: StructureReport) -> FindingData:
        offset = report.damaged_at or 0
        percent = round(100 * offset / max(len(image.data), 1))
        if report.damage in ("ff_block", "zero_block"):
            message = gettext_noop(
                "The file is damaged: %(size)s bytes of blank filler replace picture data"
                " %(percent)s%% of the way into the file (a storage or transfer fault). Part"
                " of the picture is garbled or grey."
            )
        else:
            message = gettext_noop(
                "The file is damaged: its compressed picture data is broken %(percent)s%% of"
                " the way into the file. Part of the picture is garbled or grey."
            )
        return FindingData(
            code="file_damaged",
            severity=Severity.MEDIUM,
            message=message,
            params={"size": report.filler_bytes, "percent": percent},
            details={
                "damage": report.damage,
                "offset": offset,
                "filler_bytes": report.filler_bytes,
                "notes": report.notes[:5],
            },
        )


def _declared_size(image: DecodedImage) -> tuple[int, int] | None:
    """PixelXDimension/PixelYDimension from EXIF, else from XMP."""
    try:
        sub = image.exif.get_ifd(IFD_EXIF)
    except Exception:  # noqa: BLE001
        sub = {}
    width, height = sub.get(TAG_PIXEL_X), sub.get(TAG_PIXEL_Y)
    if not (isinstance(width, int) and isinstance(height, int)):
        root = parse_xmp(image)
        xs = _xmp_values(root, NS_EXIF, "PixelXDimension")
        ys = _xmp_values(root, NS_EXIF, "PixelYDimension")
        try:
            width, height = int(xs[0]), int(ys[0])
        except (IndexError, ValueError):
            return None
    if width <= 0 or height <= 0:
        return None
    return width, height


def _same_size(declared: tuple[int, int], actual: tuple[int, int]) -> bool:
    # Orientation may swap the sides; JPEG encoders pad to 8/16-pixel blocks.
    for w, h in (actual, actual[::-1]):
        if abs(declared[0] - w) <= 16 and abs(declared[1] - h) <= 16:
            return True
    return False
