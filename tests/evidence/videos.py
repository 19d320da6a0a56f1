"""Small real videos made with PyAV for the packing-video tests (never committed)."""

from __future__ import annotations

import io

import av
import numpy as np


def make_video(
    scenes: list[np.ndarray],
    *,
    seconds_per_scene: float = 1.0,
    fps: int = 10,
    codec: str = "libx264",
    container: str = "mp4",
    keyframe_every: int | None = None,
) -> bytes:
    """A video showing each BGR ``scenes`` image in turn (with a slight camera shake),
    encoded with ``codec`` in ``container``; a keyframe every second by default."""
    height, width = scenes[0].shape[:2]
    height, width = height - height % 2, width - width % 2
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        gop = str(keyframe_every or fps)
        stream.options = {"g": gop, "preset": "ultrafast"} if codec == "libx264" else {"g": gop}
        index = 0
        for scene in scenes:
            rgb = np.ascontiguousarray(scene[:height, :width, ::-1])
            for _ in range(int(seconds_per_scene * fps)):
                shaken = np.roll(rgb, index % 3, axis=1)
                frame = av.VideoFrame.from_ndarray(shaken, format="rgb24")
                for packet in stream.encode(frame):
                    muxer.mux(packet)
                index += 1
        for packet in stream.encode():
            muxer.mux(packet)
    return out.getvalue()
