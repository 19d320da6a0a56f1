"""Packing videos: what is accepted, and the frames kept from them as references.

A shop films the item being packed before shipment. The video is accepted when its bytes
are an MP4, QuickTime (MOV) or WebM container holding one of ``CODECS``, within the
limits below (checked while the uploader waits, from the container's header and its first
frame); the original is kept byte for byte with its SHA-256 like every evidence file.

In the worker (:func:`packing_video_check`) the video is decoded once with PyAV and
split into segments at scene changes (and at most ``MAX_SEGMENT_SECONDS`` long); the
sharpest frame of each segment is kept, as a JPEG evidence file attached to the same
shipment, with its time in the video and a link to it (``EvidenceFile.source_video``).
Each kept frame is then checked like a packing photo, so the reference match compares
a claim's photos with it exactly as with a listing photo
(``evidence.selectors.reference_files_for_order``).
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass

import av
import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image

log = logging.getLogger(__name__)

MAX_BYTES = 80 * 1024 * 1024
MAX_DURATION_SECONDS = 180
MAX_LONG_SIDE = 3840
MAX_SHORT_SIDE = 2160
# ffmpeg's decoder names: what phones and cameras record (H.264/HEVC in MP4 and MOV,
# VP8/VP9/AV1 in WebM).
CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1"})
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}

# Frame sampling: analysed at a small size; a scene change is a mean grey-level jump of
# SCENE_CHANGE_LEVEL (0-255) between analysed frames.
ANALYSIS_FPS = 6.0
THUMB_SIZE = (64, 36)
SHARPNESS_WIDTH = 480
SCENE_CHANGE_LEVEL = 18.0
MAX_SEGMENT_SECONDS = 8.0
# Phones put a keyframe every second or two: then only keyframes are decoded (a 60 s
# 1080p video in well under a second instead of seconds for every frame).
MAX_KEYFRAME_GAP = 2.0
MAX_FRAMES = 12
FRAME_JPEG_QUALITY = 92


class VideoRejected(ValueError):
    """The video is refused; ``message`` (translated) says why, ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VideoInfo:
    container: str  # a key of CONTENT_TYPES
    codec: str
    width: int
    height: int
    duration: float  # seconds

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.container]


@dataclass(frozen=True)
class KeptFrame:
    time: float  # seconds from the start
    sharpness: float
    jpeg: bytes
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The container from magic bytes (a key of CONTENT_TYPES), or None."""
    if data[4:8] == b"ftyp":
        return "mov" if data[8:12] == b"qt  " else "mp4"
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if data[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in data[:64]:
        return "webm"
    return None


def _open(data: bytes):
    return av.open(io.BytesIO(data), mode="r")


def probe(data: bytes) -> VideoInfo:
    """The facts the limits are about, from the container and its first frame (cheap:
    done while the uploader waits). Raises :class:`VideoRejected`."""
    container_kind = sniff(data)
    if container_kind is None:
        raise VideoRejected("unsupported_type", _("This file is not an MP4, MOV or WebM video."))
    try:
        with _open(data) as container:
            if not container.streams.video:
                raise VideoRejected("no_video", _("This file holds no video picture."))
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in CODECS:
                raise VideoRejected(
                    "unsupported_codec",
                    _("The video is encoded as %(codec)s; accepted are %(codecs)s.")
                    % {"codec": codec, "codecs": ", ".join(sorted(CODECS))},
                )
            width, height = stream.codec_context.width, stream.codec_context.height
            duration = _duration(container, stream)
            first = next(container.decode(stream), None)
    except VideoRejected:
        raise
    except (av.FFmpegError, StopIteration, ValueError, IndexError) as exc:
        raise VideoRejected(
            "undecodable", _("The video cannot be read; the file may be damaged.")
        ) from exc
    if first is None:
        raise VideoRejected("undecodable", _("The video cannot be read; the file may be damaged."))
    width, height = width or first.width, height or first.height
    if max(width, height) > MAX_LONG_SIDE or min(width, height) > MAX_SHORT_SIDE:
        raise VideoRejected(
            "resolution_too_high",
            _("The video is %(width)s × %(height)s; the limit is %(long)s × %(short)s (4K).")
            % {"width": width, "height": height, "long": MAX_LONG_SIDE, "short": MAX_SHORT_SIDE},
        )
    if duration > MAX_DURATION_SECONDS:
        raise VideoRejected(
            "video_too_long",
            _("The video lasts %(seconds)s seconds; the limit is %(limit)s seconds.")
            % {"seconds": round(duration), "limit": MAX_DURATION_SECONDS},
        )
    return VideoInfo(container_kind, codec, width, height, duration)


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _mean_keyframe_gap(data: bytes) -> float:
    """Seconds between keyframes on average, from the packets alone (no decoding);
    infinite when the stream has fewer than two."""
    times = []
    try:
        with _open(data) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.is_keyframe and packet.pts is not None:
                    times.append(float(packet.pts * stream.time_base))
    except av.FFmpegError:
        return float("inf")
    if len(times) < 2:
        return float("inf")
    times.sort()
    return (times[-1] - times[0]) / (len(times) - 1)


def _sharpness(frame) -> float:
    """Variance of the Laplacian of a small grey copy: high for a crisp frame."""
    scale = SHARPNESS_WIDTH / max(frame.width, 1)
    grey = frame.reformat(
        width=SHARPNESS_WIDTH, height=max(2, int(frame.height * scale)), format="gray"
    ).to_ndarray()
    g = grey.astype(np.float32)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def sample_frames(
    data: bytes, *, max_frames: int = MAX_FRAMES, max_segment: float = MAX_SEGMENT_SECONDS
) -> list[KeptFrame]:
    """The sharpest frame of each segment (cut at scene changes, and every
    ``max_segment`` seconds), at most ``max_frames`` (the sharpest), in time order.

    Frames are analysed at ``ANALYSIS_FPS`` at most; the decoder uses every core it may
    have. Raises :class:`VideoRejected` when nothing can be decoded."""
    keyframes_only = _mean_keyframe_gap(data) <= MAX_KEYFRAME_GAP
    best: list[tuple[float, float, object]] = []  # (sharpness, time, frame) per segment
    segment_start = None
    previous_thumb = None
    next_analysis = 0.0
    try:
        with _open(data) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if keyframes_only:
                stream.codec_context.skip_frame = "NONKEY"
            for frame in container.decode(stream):
                time = float(frame.time or 0.0)
                if time < next_analysis:
                    continue
                next_analysis = time + 1.0 / ANALYSIS_FPS
                thumb = (
                    frame.reformat(width=THUMB_SIZE[0], height=THUMB_SIZE[1], format="gray")
                    .to_ndarray()
                    .astype(np.int16)
                )
                cut = previous_thumb is None or (
                    float(np.abs(thumb - previous_thumb).mean()) >= SCENE_CHANGE_LEVEL
                    or time - segment_start >= max_segment
                )
                previous_thumb = thumb
                sharpness = _sharpness(frame)
                if cut:
                    segment_start = time
                    best.append((sharpness, time, frame))
                elif sharpness > best[-1][0]:
                    best[-1] = (sharpness, time, frame)
    except av.FFmpegError as exc:
        if not best:
            raise VideoRejected(
                "undecodable", _("The video cannot be read; the file may be damaged.")
            ) from exc
        log.warning("packing video decoded only in part: %s", exc)
    if not best:
        raise VideoRejected("undecodable", _("The video cannot be read; the file may be damaged."))
    chosen = sorted(sorted(best, key=lambda b: -b[0])[:max_frames], key=lambda b: b[1])
    return [_keep(sharpness, time, frame) for sharpness, time, frame in chosen]


def _keep(sharpness: float, time: float, frame) -> KeptFrame:
    image: Image.Image = frame.to_image()  # RGB, full size
    out = io.BytesIO()
    image.save(out, "JPEG", quality=FRAME_JPEG_QUALITY)
    return KeptFrame(round(time, 3), sharpness, out.getvalue(), image.width, image.height)


def frame_label(video_name: str, time: float) -> str:
    minutes, seconds = divmod(time, 60)
    return f"{video_name or 'video'} @ {int(minutes):02d}:{seconds:04.1f}"[:255]


# --- The worker's side ---------------------------------------------------------------------


def packing_video_check(evidence_id: int) -> str:
    """Turn a packing video into reference frames, once (safe to run twice: a second run
    finds the video settled, and frames a killed run left are reused, not doubled).

    The video is decoded outside any transaction; the frames are inserted with their
    custody records in one short transaction, then each is checked as a packing photo;
    the video is marked checked last, with its first kept frame as its display copy."""
    from evidence import custody, imaging, pipeline
    from evidence.models import EvidenceFile
    from evidence.services import evidence_mark_checked
    from refunds.audit import Actor

    evidence = pipeline.claim_for_checking(evidence_id)
    if evidence is None:
        return "already settled"
    with evidence.original.open("rb") as handle:
        data = handle.read()
    try:
        frames = sample_frames(data)
    except VideoRejected as exc:
        _reject(evidence, exc)
        return "rejected"
    existing = list(EvidenceFile.objects.filter(source_video=evidence).order_by("frame_time"))
    if not existing:
        rows = [
            EvidenceFile(
                attached_to=evidence.attached_to,
                shipment_id=evidence.shipment_id,
                submitted_by=evidence.submitted_by,
                uploaded_by_id=evidence.uploaded_by_id,
                original_name=frame_label(evidence.original_name, kept.time),
                sha256=hashlib.sha256(kept.jpeg).hexdigest(),
                content_type="image/jpeg",
                size=len(kept.jpeg),
                width=kept.width,
                height=kept.height,
                source_video=evidence,
                frame_time=kept.time,
            )
            for kept in frames
        ]
        for row, kept in zip(rows, frames, strict=True):
            row.original.save("original", ContentFile(kept.jpeg), save=False)
        actor = Actor.system("packing video frames")
        with transaction.atomic():
            for row in rows:
                row.save()
                custody.record_upload(row, actor=actor)
        existing = rows
    for row in existing:
        pipeline.check_evidence(row.pk)
    # The pages' picture of the video: its first kept frame, as any display copy.
    poster = imaging.display_copy(imaging.decode(frames[0].jpeg))
    evidence_mark_checked(
        evidence_id=evidence.pk, phash=None, chunks=None, features=None, display=poster
    )
    return "checked"


def _reject(evidence, exc: VideoRejected) -> None:
    from django.utils import timezone

    from evidence import custody
    from evidence.models import EvidenceFile

    EvidenceFile.objects.filter(pk=evidence.pk).update(
        status=EvidenceFile.Status.REJECTED,
        rejection_code=exc.code,
        rejection_message=exc.message,
        checked_at=timezone.now(),
        checking_since=None,
    )
    custody.record_check_outcome(evidence.pk)
