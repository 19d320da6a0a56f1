"""Pixel-level forensics: aids for a reviewer, weighted low, never a verdict alone.

* :class:`ElaCheck` — error-level analysis heatmap of the working copy. ELA measures how
  much a region still changes when re-compressed: edges and textures always light up,
  re-saved files flatten out (DESIGN.md). It is shown, never scored.
* :class:`JpegCompressionCheck` — reads the JPEG quantisation tables, estimates the
  quality, recognises the standard libjpeg (IJG) tables most software writes and Adobe's
  APP14 marker, and looks for double compression in the luminance DCT histograms.
* :class:`ExifThumbnailCheck` — compares the preview a camera embeds in EXIF (IFD1) with
  the picture itself: when they show different pictures, the photo was changed after the
  camera wrote it.

All work on the reduced working copy except the EXIF thumbnail (a few KB read from the
original bytes). None of these checks emits HIGH or CRITICAL.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import cv2
import numpy as np
from django.utils.translation import gettext_noop
from PIL import ExifTags, Image

from evidence import hashing
from evidence.checks.base import (
    Artifact,
    Check,
    CheckContext,
    FindingData,
    Severity,
    palette_png,
    to_png,
)
from evidence.containers import jpeg_segments
from evidence.imaging import orient_array

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

CAMERA_MAKE = 0x010F
CAMERA_MODEL = 0x0110
ORIENTATION = 0x0112

# ------------------------------------------------------------------------------ ELA

ELA_QUALITY = 90
ELA_MAX_GAIN = 20.0
ELA_HEATMAP_LONG_SIDE = 512


def error_level_map(bgr: np.ndarray, quality: int = ELA_QUALITY) -> np.ndarray:
    """Per-pixel re-compression error (max over channels), uint8, same size as ``bgr``."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError("could not re-encode for ELA")
    resaved = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    diff = cv2.absdiff(bgr, resaved)
    if diff.ndim == 2:
        return diff
    b, g, r = cv2.split(diff)  # numpy's max over the last axis is ten times slower
    return cv2.max(cv2.max(b, g), r)


def _percentile_u8(values: np.ndarray, q: float) -> float:
    """Percentile of a uint8 array through its histogram (no sort)."""
    counts = cv2.calcHist([values], [0], None, [256], [0, 256]).ravel()
    return float(np.searchsorted(np.cumsum(counts), q / 100 * values.size))


# The heatmap's colours: inferno, BGR, one entry per amplified error level.
ELA_PALETTE = cv2.applyColorMap(np.arange(256, dtype=np.uint8), cv2.COLORMAP_INFERNO)


def ela_levels(error: np.ndarray) -> tuple[np.ndarray, float]:
    """The heatmap's levels (uint8) and the gain used (bounded: noise stays dark).

    The map is reduced to at most ELA_HEATMAP_LONG_SIDE by keeping the brightest pixel of
    each block, so a small bright patch stays as bright, at a quarter of the pixels to
    encode (the page shows the heatmap at about that size anyway)."""
    p99 = _percentile_u8(error, 99.5)
    gain = min(ELA_MAX_GAIN, 255.0 / max(p99, 1.0))
    return cv2.convertScaleAbs(_max_pool(error, ELA_HEATMAP_LONG_SIDE), alpha=gain), gain


def _max_pool(values: np.ndarray, long_side: int) -> np.ndarray:
    """``values`` reduced by a whole factor to fit ``long_side``, each block's maximum."""
    factor = -(-max(values.shape[:2]) // long_side)  # ceil
    if factor <= 1:
        return values
    block = np.ones((factor, factor), np.uint8)
    return cv2.dilate(values, block, anchor=(0, 0))[::factor, ::factor].copy()


class ElaCheck(Check):
    """Attaches an error-level-analysis heatmap for reviewers (INFO, weight 0).

    Promises: one ``ela_heatmap`` finding with an "ela" PNG of at most
    ELA_HEATMAP_LONG_SIDE (the working copy's error, each block's brightest pixel kept),
    captioned with the caveat that bright edges and textures are normal. It says nothing
    by itself; on photos above 1024 px it shows the reduced copy's re-compression error.
    """

    name = "ela"
    version = 2  # 2: the heatmap max-pooled to 512 px (1: the working copy's size)
    codes = {"ela_heatmap": (0, "Error-level analysis heatmap, a reviewer aid (not a signal).")}

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        error = error_level_map(image.working)
        # Stored as an indexed PNG of the levels through the inferno palette: the same
        # picture as the colour-mapped array, at a fraction of the encoding time.
        levels, gain = ela_levels(error)
        return [
            FindingData(
                code="ela_heatmap",
                severity=Severity.INFO,
                message=gettext_noop(
                    "An error-level analysis heatmap is attached as an aid for reviewers."
                ),
                details={
                    "quality": ELA_QUALITY,
                    "gain": round(gain, 2),
                    "mean_error": round(float(error.mean()), 3),
                    "p99_error": _percentile_u8(error, 99),
                    "size": [int(levels.shape[1]), int(levels.shape[0])],
                },
                artifacts=[
                    Artifact(
                        "ela",
                        palette_png(levels, ELA_PALETTE),
                        gettext_noop(
                            "Error-level analysis: bright edges and textures are normal and"
                            " re-saved photos look flat. Only a sharply bounded bright patch"
                            " on an otherwise even surface deserves a closer look. This is an"
                            " aid, not proof."
                        ),
                    )
                ],
            )
        ]


# ---------------------------------------------------------------------- JPEG tables

# ITU-T T.81 Annex K tables (natural order), which libjpeg scales by quality.
IJG_LUMINANCE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.int32,
)  # fmt: skip
IJG_CHROMINANCE = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
     24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99]
    + [99] * 32,
    dtype=np.int32,
)  # fmt: skip


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """The table libjpeg writes for ``quality`` (1-100), baseline-clamped to 1..255."""
    quality = min(100, max(1, quality))
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


# Row q - 1: the luminance table libjpeg writes at quality q.
_IJG_LUMINANCE_BY_QUALITY = np.stack([ijg_table(IJG_LUMINANCE, q) for q in range(1, 101)])


def estimate_quality(tables: dict[int, list[int]]) -> tuple[int, bool]:
    """(estimated IJG quality of the luminance table, whether all tables are exactly IJG)."""
    luma = np.asarray(tables.get(0, []), dtype=np.int32)
    if luma.size != 64:
        return 0, False
    errors = np.abs(_IJG_LUMINANCE_BY_QUALITY - luma).sum(axis=1)
    quality = int(np.argmin(errors)) + 1
    exact = bool(errors[quality - 1] == 0)
    chroma = tables.get(1)
    if exact and chroma is not None and len(chroma) == 64:
        exact = bool(np.array_equal(ijg_table(IJG_CHROMINANCE, quality), np.asarray(chroma)))
    return quality, exact


def _dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II matrix D (a block's 2-D DCT is D @ B @ D.T)."""
    n = np.arange(8)
    d = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * np.sqrt(2 / 8)
    d[0] /= np.sqrt(2)
    return d.astype(np.float32)


_DCT = _dct_matrix()
_FREQUENCIES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1))
HISTOGRAM_BINS = 16


def double_compression_score(gray: np.ndarray, luma_table: list[int]) -> tuple[float, int]:
    """Periodic dips and peaks in quantised DCT histograms: (score 0..1, frequencies used).

    A picture compressed once has smoothly falling coefficient histograms; compressed at
    one quality, then again at another, it shows bins that are periodically (nearly) empty
    or doubled. ``gray`` must be the full-resolution luminance aligned on the 8x8 grid.
    """
    h, w = (s - s % 8 for s in gray.shape)
    if h < 64 or w < 64:
        return 0.0, 0
    blocks = gray[:h, :w].astype(np.float32) - 128.0
    blocks = blocks.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    coefficients = _DCT @ blocks @ _DCT.T
    table = np.asarray(luma_table, dtype=np.float32).reshape(8, 8)
    scores = []
    for u, v in _FREQUENCIES:
        step = float(table[u, v])
        if step < 2:
            continue
        k = np.abs(np.round(coefficients[..., u, v] / step)).astype(np.int64).ravel()
        hist = np.bincount(k, minlength=HISTOGRAM_BINS + 2)[: HISTOGRAM_BINS + 2].astype(float)
        centre = hist[1:-1]
        neighbours = (hist[:-2] + hist[2:]) / 2
        usable = neighbours[1:] >= 20  # skip bin 0 (always the peak) and sparse tails
        if usable.sum() < 4:
            continue
        ratio = centre[1:][usable] / neighbours[1:][usable]
        scores.append(float(np.mean((ratio < 0.5) | (ratio > 1.8))))
    if not scores:
        return 0.0, 0
    return float(np.median(scores)), len(scores)


DOUBLE_COMPRESSION_THRESHOLD = 0.4  # single saves measured <= 0.25, double 0.67-1.0


class JpegCompressionCheck(Check):
    """Reads how the JPEG was last saved and whether it was compressed twice (LOW at most).

    Promises, for JPEG files: ``jpeg_resaved`` (low) when camera EXIF is present but the
    quantisation tables are the standard libjpeg ones or an Adobe APP14 marker is there,
    i.e. software re-saved the photo after the camera; ``jpeg_double_compression`` (low)
    when the luminance DCT histograms show the periodic pattern of two compressions —
    assessed only when the working copy is the full-resolution picture (<= 1024 px,
    upright), because the 8x8 grid is lost in a reduced decode.
    """

    name = "jpeg_compression"
    version = 1
    codes = {
        "jpeg_resaved": (
            5,
            "Camera EXIF, but the JPEG was last saved by software (an editor or an app).",
        ),
        "jpeg_double_compression": (
            10,
            "The JPEG shows traces of having been compressed twice (edited and re-saved).",
        ),
    }

    def applies_to(self, image: DecodedImage, context: CheckContext) -> bool:
        return image.format == "JPEG" and super().applies_to(image, context)

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        tables = getattr(image.pil, "quantization", None) or {}
        if 0 not in tables:
            return []
        quality, standard = estimate_quality(tables)
        adobe = any(m == 0xEE and p.startswith(b"Adobe") for m, p in jpeg_segments(image.data))
        exif = image.exif
        make = str(exif.get(CAMERA_MAKE) or "").strip("\x00 ")
        model = str(exif.get(CAMERA_MODEL) or "").strip("\x00 ")
        family = "ijg" if standard else ("adobe" if adobe else "custom")
        details = {
            "quality_estimate": quality,
            "table_family": family,
            "adobe_app14": adobe,
            "camera": " ".join(p for p in (make, model) if p) or None,
        }
        findings = []
        if (make or model) and (standard or adobe):
            findings.append(
                FindingData(
                    code="jpeg_resaved",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "The photo says it comes from a %(camera)s camera, but it was last"
                        " saved by software (JPEG quality about %(quality)s), not by the camera."
                    ),
                    params={"camera": details["camera"], "quality": quality},
                    details=details,
                )
            )
        upright = exif.get(ORIENTATION, 1) in (0, 1)
        full_resolution = image.working.shape[1] == image.width and upright
        if full_resolution:
            score, used = double_compression_score(image.gray, list(tables[0]))
            details = {**details, "double_compression_score": round(score, 3), "frequencies": used}
            if used >= 3 and score >= DOUBLE_COMPRESSION_THRESHOLD:
                findings.append(
                    FindingData(
                        code="jpeg_double_compression",
                        severity=Severity.LOW,
                        message=gettext_noop(
                            "The JPEG shows traces of two compressions: it was probably opened,"
                            " changed and saved again (many apps also do this when sharing)."
                        ),
                        details=details,
                    )
                )
        return findings


# ------------------------------------------------------------------- EXIF thumbnail

THUMBNAIL_MISMATCH_DISTANCE = 20  # of 64 pHash bits; unrelated pictures average ~32
THUMBNAIL_PARTIAL_DISTANCE = 12


def exif_thumbnail(data: bytes, exif: Image.Exif) -> bytes | None:
    """The JPEG preview stored in EXIF IFD1 (JPEGInterchangeFormat/Length), if any."""
    try:
        ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
    except Exception:  # noqa: BLE001 - a damaged IFD1 simply has no thumbnail
        return None
    offset, length = ifd1.get(0x0201), ifd1.get(0x0202)
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return None
    for marker, payload in jpeg_segments(data):
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            tiff = payload[6:]
            thumb = tiff[offset : offset + length]
            return thumb if thumb[:2] == b"\xff\xd8" else None
    return None


def _trim_bars(gray: np.ndarray) -> np.ndarray:
    """Drop the black bars cameras add to fit a 3:2 picture in a 4:3 (160x120) preview."""
    rows = np.nonzero(gray.mean(axis=1) > 12)[0]
    cols = np.nonzero(gray.mean(axis=0) > 12)[0]
    if rows.size < 8 or cols.size < 8:
        return gray
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


class ExifThumbnailCheck(Check):
    """Compares the EXIF preview (IFD1 thumbnail) with the picture (MEDIUM at most).

    Promises, for files carrying an EXIF thumbnail: ``exif_thumbnail_mismatch`` (medium)
    when the preview and the picture are different pictures (pHash distance >= 20 of 64),
    ``exif_thumbnail_differs`` (low) when they differ noticeably (>= 12), each with a
    side-by-side "exif_thumbnail" picture. Black letterbox bars and EXIF orientation are
    accounted for. No thumbnail, no finding.
    """

    name = "exif_thumbnail"
    version = 1
    codes = {
        "exif_thumbnail_mismatch": (
            15,
            "The preview embedded by the camera shows a different picture: edited after capture.",
        ),
        "exif_thumbnail_differs": (
            5,
            "The preview embedded by the camera differs noticeably from the picture.",
        ),
    }

    def applies_to(self, image: DecodedImage, context: CheckContext) -> bool:
        return image.format == "JPEG" and super().applies_to(image, context)

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        thumb_bytes = exif_thumbnail(image.data, image.exif)
        if thumb_bytes is None:
            return []
        try:
            with Image.open(io.BytesIO(thumb_bytes)) as thumb_image:
                thumb = np.asarray(thumb_image.convert("RGB"))[:, :, ::-1].copy()
        except Exception:  # noqa: BLE001 - an undecodable preview proves nothing
            return []
        if min(thumb.shape[:2]) < 16:
            return []
        orientation = image.exif.get(ORIENTATION, 1)
        thumb = orient_array(thumb, orientation if isinstance(orientation, int) else 1)
        thumb_gray = _trim_bars(cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY))
        main_gray = image.gray
        if hashing.is_low_information(thumb_gray) and hashing.is_low_information(main_gray):
            return []
        distance = hashing.hamming_distance(hashing.phash(thumb_gray), hashing.phash(main_gray))
        thumb_aspect = thumb_gray.shape[1] / thumb_gray.shape[0]
        main_aspect = main_gray.shape[1] / main_gray.shape[0]
        details = {
            "phash_distance": distance,
            "thumbnail_size": [int(thumb.shape[1]), int(thumb.shape[0])],
            "thumbnail_aspect": round(thumb_aspect, 3),
            "image_aspect": round(main_aspect, 3),
        }
        if distance >= THUMBNAIL_MISMATCH_DISTANCE:
            code, severity = "exif_thumbnail_mismatch", Severity.MEDIUM
            message = gettext_noop(
                "The small preview the camera stored inside the file shows a different picture"
                " from the photo itself: the photo was changed after it was taken."
            )
        elif distance >= THUMBNAIL_PARTIAL_DISTANCE:
            code, severity = "exif_thumbnail_differs", Severity.LOW
            message = gettext_noop(
                "The small preview stored inside the file differs noticeably from the photo:"
                " it may have been cropped or edited after it was taken."
            )
        else:
            return []
        return [
            FindingData(
                code=code,
                severity=severity,
                message=message,
                details=details,
                artifacts=[
                    Artifact(
                        "exif_thumbnail",
                        to_png(_thumbnail_side_by_side(thumb, image.working)),
                        gettext_noop("Left: the preview stored inside the file. Right: the photo."),
                    )
                ],
            )
        ]


def _thumbnail_side_by_side(thumb: np.ndarray, working: np.ndarray) -> np.ndarray:
    height = 240

    def fit(img: np.ndarray) -> np.ndarray:
        f = height / img.shape[0]
        return cv2.resize(img, (max(1, round(img.shape[1] * f)), height))

    return np.hstack([fit(thumb), np.full((height, 12, 3), 255, np.uint8), fit(working)])
