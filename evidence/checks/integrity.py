"""File integrity: damaged or cut-short files, extra data, exact re-submissions, tiny images.

The decoder (``evidence.imaging.decode``) already refused what cannot be an image at all;
this check reports the *structure* of what was accepted (``evidence.containers``: a walk
of the bytes, no pixels decoded, done once per file and shared with the decoder):

* JPEG: cut short, damaged (a storage or transfer fault: part of the picture is
  garbage), or followed by data that is not an appended preview JPEG (reported weakly).
* PNG: a chunk with a wrong CRC, or cut short before IEND.
* WebP: the RIFF length against the file length.
* Metadata (EXIF or XMP) describing a different pixel size than the file holds.
* The same file (SHA-256) already submitted as other evidence, from the pipeline's
  ``duplicate_sha256_evidence_ids``.
* Pictures too small to show any detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.checks.metadata import IFD_EXIF, NS_EXIF, TAG_PIXEL_X, TAG_PIXEL_Y, parse_xmp
from evidence.checks.metadata import xmp_values as _xmp_values

if TYPE_CHECKING:
    from evidence.containers import StructureReport
    from evidence.imaging import DecodedImage

TINY_SHORT_SIDE = 256


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
        report = image.structure  # walked once, by the decoder for a JPEG
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
