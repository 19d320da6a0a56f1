"""False alarms and hits of the localisation aids (evidence/checks/localisation.py).

Genuine photos: the real camera files in ../shared/testdata/camera (those of 128 px and
more that decode) and synthetic camera photos (``render_other_shot``, ``render_printed_shot``:
sensor noise, uneven light), saved once at JPEG q75-95, and the same re-shared (saved
again at q70-90: double compression all over, the honest hard case). Localised edits:
a patch (12-25 % of each side) of another photo pasted into a genuine one and saved
again, three ways: *misaligned*: the patch cut from another JPEG (q60-75) at an offset
that is not a multiple of 8, final save q90-95; *noise*: the patch from a photo without
sensor noise (a smoothed retouch), final save q85-95; *after first save*: the photo
saved at q60-75 first, an uncompressed patch pasted, saved again at q85-95. A hit is a
``localisation_inconsistent_region`` whose box overlaps the patch (IoU >= 0.3, or the
patch's centre inside it, as bench/quality.py scores damage boxes); a false alarm is
that finding on a genuine photo.

    .venv/bin/python bench/localisation.py [--cases N] [--seed S]

Writes bench/out/localisation.json and prints the tables docs/verdicts.md quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import cv2  # noqa: E402
import django  # noqa: E402

django.setup()

from bench.quality import box_hit  # noqa: E402
from evidence import imaging  # noqa: E402
from evidence.checks.base import CheckContext  # noqa: E402
from evidence.checks.localisation import LocalisationCheck  # noqa: E402
from testing import synthetic  # noqa: E402

CAMERA = ROOT.parent / "shared" / "testdata" / "camera"
OUT = ROOT / "bench" / "out"
CHECK = LocalisationCheck()


def jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return buf.tobytes()


def unjpeg(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def genuine_shot(i: int, rng: np.random.Generator) -> np.ndarray:
    if i % 2:
        return synthetic.render_printed_shot(500 + i, i).image
    return synthetic.render_other_shot(300 + i, i).image


def run(data: bytes) -> tuple[list, float]:
    t0 = time.perf_counter()
    image = imaging.decode(data)
    t1 = time.perf_counter()
    findings = CHECK.run(image, CheckContext())
    return findings, (time.perf_counter() - t1) * 1000 + 0 * (t1 - t0)


def region(findings) -> dict | None:
    for f in findings:
        if f.code == "localisation_inconsistent_region":
            return f.details
    return None


def paste(base: np.ndarray, donor: np.ndarray, rng, *, align: bool) -> tuple[np.ndarray, list]:
    h, w = base.shape[:2]
    ph, pw = int(h * rng.uniform(0.12, 0.25)), int(w * rng.uniform(0.12, 0.25))
    y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
    sy, sx = int(rng.integers(0, donor.shape[0] - ph)), int(rng.integers(0, donor.shape[1] - pw))
    if not align:  # the donor's grid lands off the photo's: offsets differ mod 8
        shift = int(rng.integers(1, 8))
        sx = sx - (sx - x) % 8 + shift if sx + shift + pw < donor.shape[1] else sx
        if (sx - x) % 8 == 0:
            sx = max(0, sx - 3)
    out = base.copy()
    out[y : y + ph, x : x + pw] = donor[sy : sy + ph, sx : sx + pw]
    return out, [x, y, x + pw, y + ph]


def forged(kind: str, i: int, rng) -> tuple[bytes, list]:
    base = genuine_shot(i, rng)
    donor = genuine_shot(i + 1000, rng)
    if kind == "misaligned":
        donor = unjpeg(jpeg(donor, rng.integers(60, 76)))
        base = unjpeg(jpeg(base, rng.integers(85, 96)))
        image, box = paste(base, donor, rng, align=False)
        return jpeg(image, rng.integers(90, 96)), box
    if kind == "noise":
        donor = cv2.GaussianBlur(donor, (0, 0), 1.5)
        image, box = paste(base, donor, rng, align=True)
        return jpeg(image, rng.integers(85, 96)), box
    first = unjpeg(jpeg(base, rng.integers(60, 76)))
    image, box = paste(first, donor, rng, align=True)
    return jpeg(image, rng.integers(85, 96)), box


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=40, help="per kind")
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, times = [], []

    def record(kind, data, truth=None):
        findings, ms = run(data)
        times.append(ms)
        details = region(findings)
        rows.append(
            {
                "kind": kind,
                "fired": details is not None,
                "aid": details and details["aid"],
                "hit": bool(details and truth and box_hit(details["boxes"][0], truth)[0]),
                "details": (details or (findings[0].details if findings else {})),
            }
        )

    for path in sorted(CAMERA.glob("*.jpg")):
        try:
            data = path.read_bytes()
            image = imaging.decode(data)
        except imaging.ImageRejected:
            continue
        if min(image.width, image.height) >= 128:
            record("genuine_camera_file", data)
    for i in range(args.cases):
        shot = genuine_shot(i, rng)
        once = jpeg(shot, rng.integers(75, 96))
        record("genuine_synthetic_once", once)
        record("genuine_synthetic_reshared", jpeg(unjpeg(once), rng.integers(70, 91)))
    for kind in ("misaligned", "noise", "after_first_save"):
        for i in range(args.cases):
            data, box = forged(kind, i, rng)
            record(f"edit_{kind}", data, box)

    big = jpeg(synthetic.render_other_shot(7, 7, size=(4000, 3000)).image, 90)
    big_ms = [run(big)[1] for _ in range(5)]

    table = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        of_kind = [r for r in rows if r["kind"] == kind]
        by_aid = {}
        for r in of_kind:
            if r["fired"]:
                by_aid[r["aid"]] = by_aid.get(r["aid"], 0) + 1
        table[kind] = {
            "n": len(of_kind),
            "fired": sum(r["fired"] for r in of_kind),
            "hit": sum(r["hit"] for r in of_kind),
            "by_aid": by_aid,
        }
    result = {
        "machine": {"python": platform.python_version(), "load": os.getloadavg()},
        "seed": args.seed,
        "table": table,
        "check_ms_median_1mp": round(statistics.median(times), 1),
        "check_ms_median_12mp": round(statistics.median(big_ms), 1),
        "rows": rows,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "localisation.json").write_text(json.dumps(result, indent=1, default=str))
    print("| kind | n | region reported | on the edit | by aid |")
    print("| --- | --- | --- | --- | --- |")
    for kind, t in table.items():
        fired = f"{t['fired']} ({100 * t['fired'] / t['n']:.1f} %)"
        hit = "–" if kind.startswith("genuine") else f"{t['hit']} ({100 * t['hit'] / t['n']:.1f} %)"
        print(f"| `{kind}` | {t['n']} | {fired} | {hit} | {t['by_aid'] or '–'} |")
    print(
        f"check time, median: {result['check_ms_median_1mp']} ms (these photos), "
        f"{result['check_ms_median_12mp']} ms at 12 MP; load {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
