"""How long a packing video takes to become references, on one core.

A 60 s 1080p (1920 × 1080, 30 fps) H.264 packing video is generated with PyAV at run
time (nothing big is committed): six ten-second scenes (the product from the synthetic
listing renderer, the open box, the item in the box...) with a slow pan and sensor
noise, encoded with libx264. Two keyframe intervals are measured: one second (what
phones record: iOS and Android cameras put a keyframe every 1–2 s) and ten seconds (a
video re-encoded by an editor; every frame is then decoded).

What is timed is what ``evidence.video.packing_video_check`` does minus the database
writes: the upload-time probe, the frame sampling (decode, scene cuts, sharpest frame per
segment, JPEG of each kept frame) and, for each kept frame, what
``evidence.pipeline.check_evidence`` does for a packing photo (decode, pHash, every
applicable check, the reference features stored, the display copy).

Run: ``make bench-video`` (writes bench/out/video.json and bench/out/video.md).
Environment: BENCH_RUNS (default 3), BENCH_VIDEO_SECONDS (default 60),
BENCH_KEYFRAME_SECONDS (default "1,10"). Wall-clock and CPU time are both reported: on a
shared machine the wall clock includes the time other processes held the core.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

PINNED_CPU = common.pin_to_one_core()

import io  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

common.django_setup(None)

import av  # noqa: E402
import numpy as np  # noqa: E402

from evidence import imaging, video  # noqa: E402
from evidence.checks.base import CheckContext  # noqa: E402
from evidence.checks.reference_match import compute_features, features_to_bytes  # noqa: E402
from evidence.hashing import hash_chunks, phash  # noqa: E402
from evidence.pipeline import run_checks  # noqa: E402
from testing import synthetic as syn  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_VIDEO_SECONDS", "60"))
KEYFRAME_INTERVALS = [int(v) for v in os.environ.get("BENCH_KEYFRAME_SECONDS", "1,10").split(",")]
WIDTH, HEIGHT, FPS = 1920, 1080, 30
SCENES = 6
DISTINCT_FRAMES = 15  # per scene, cycled: the pan and the noise keep every frame new


def _scene(index: int) -> np.ndarray:
    """BGR 1080p: the product on the packing table, or the box around it."""
    photo = syn.render_product_photo(300 + index // 2, size=(WIDTH, HEIGHT)).image
    if index % 2:
        boxed = photo.copy()
        boxed[: HEIGHT // 6] = (60, 110, 170)
        boxed[-HEIGHT // 6 :] = (60, 110, 170)
        return boxed
    return photo


def generate(keyframe_seconds: int) -> bytes:
    rng = np.random.default_rng(7)
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as muxer:
        stream = muxer.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(keyframe_seconds * FPS), "crf": "23"}
        per_scene = SECONDS * FPS // SCENES
        pts = 0
        for index in range(SCENES):
            rgb = _scene(index)[:, :, ::-1]
            frames = []
            for step in range(DISTINCT_FRAMES):
                shifted = np.roll(rgb, step * 4, axis=1)
                noisy = np.clip(shifted + rng.normal(0, 3, shifted.shape), 0, 255)
                frame = av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="rgb24")
                frames.append(frame.reformat(format="yuv420p"))
            for n in range(per_scene):
                frame = frames[n % DISTINCT_FRAMES]
                frame.pts, pts = pts, pts + 1  # the same pictures again, at later times
                for packet in stream.encode(frame):
                    muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)
    return out.getvalue()


def to_references(data: bytes) -> dict:
    timings = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    video.probe(data)
    timings["probe_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    frames = video.sample_frames(data)
    timings["sample_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    context = CheckContext(submitted_by="merchant", attached_to="shipment")
    for kept in frames:
        image = imaging.decode(kept.jpeg)
        hash_chunks(phash(image))
        run_checks(image, context)
        features_to_bytes(compute_features(image))
        imaging.display_copy(image)
    timings["frames_checked_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    # CPU seconds of this process: what the work costs, whatever else the core runs.
    timings["cpu_s"] = time.process_time() - cpu0
    timings["frames"] = len(frames)
    return timings


def main() -> None:
    rows, results = [], {}
    for keyframe_seconds in KEYFRAME_INTERVALS:
        started = time.perf_counter()
        data = generate(keyframe_seconds)
        generated_s = time.perf_counter() - started
        runs = [to_references(data) for _ in range(RUNS)]
        median = {
            key: statistics.median(run[key] for run in runs)
            for key in ("probe_s", "sample_s", "frames_checked_s", "total_s", "cpu_s")
        }
        results[f"keyframe_every_{keyframe_seconds}s"] = {
            "bytes": len(data),
            "generated_s": round(generated_s, 1),
            "frames_kept": runs[0]["frames"],
            "runs": runs,
            "median": median,
        }
        rows.append(
            [
                f"{keyframe_seconds} s",
                f"{len(data) / 2**20:.1f} MB",
                runs[0]["frames"],
                f"{median['probe_s'] * 1000:.0f} ms",
                f"{median['sample_s']:.2f} s",
                f"{median['frames_checked_s']:.2f} s",
                f"{median['total_s']:.2f} s",
                f"{max(r['total_s'] for r in runs):.2f} s",
                f"{median['cpu_s']:.2f} s",
            ]
        )
    payload = {
        "machine": common.machine(),
        "pinned_cpu": PINNED_CPU,
        "video": f"{SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps H.264",
        "runs": RUNS,
        "results": results,
    }
    common.write_json("video.json", payload)
    table = common.md_table(
        [
            "keyframe every",
            "size",
            "frames kept",
            "probe (upload)",
            "sample frames",
            "check kept frames",
            "total (median)",
            "total (worst)",
            "CPU time (median)",
        ],
        rows,
    )
    text = (
        f"# Packing video to references ({SECONDS} s, {WIDTH}×{HEIGHT}, {FPS} fps, one core)\n\n"
        f"{table}\n\nload average at start: {payload['machine'].get('load_average_at_start')}\n"
    )
    common.write_text("video.md", text)
    print(text)


if __name__ == "__main__":
    main()
