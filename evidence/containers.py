"""The byte-level structure of the accepted containers, read without decoding pixels.

* :func:`jpeg_segments`: the marker segments before the first scan, where a JPEG keeps
  its metadata (EXIF, XMP, ICC, C2PA's JUMBF boxes, quantisation tables).
* :func:`jpeg_structure`: a marker walk from SOI to EOI through the compressed data. A
  stream that ends before EOI is cut short; an invalid marker inside the compressed data,
  or a block of 0xFF / 0x00 filler bytes where picture data should be, means the file was
  damaged; data after EOI is reported with what it looks like.
* :func:`png_structure`: a chunk walk with CRC checks, up to IEND.
* :func:`webp_structure`: the RIFF length against the file length.

The decoder uses the JPEG walk to choose its codec, the integrity check turns every walk
into findings. None of these raises on malformed input.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """JPEG marker segments before the first scan: (marker, payload). The metadata lives
    here (EXIF, XMP, ICC, C2PA's JUMBF boxes, quantisation tables); never raises."""
    out: list[tuple[int, bytes]] = []
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    return out


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
        if match is None or scan_end + 1 >= size:  # no marker after the data, or a lone 0xFF
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


def structure_of(fmt: str, data: bytes) -> StructureReport | None:
    """The walk for ``fmt`` (a key of ``imaging.ALLOWED_TYPES``); None for HEIF/AVIF,
    whose boxes libheif validates itself."""
    walk = {"JPEG": jpeg_structure, "PNG": png_structure, "WEBP": webp_structure}.get(fmt)
    return walk(data) if walk else None
