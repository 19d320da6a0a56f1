"""The screens and their closest honest photos through the reference match alone (the
check every one of these cases turns on), for a host too loaded for bench/quality.py's
full pipeline (docs/detection.md, "Photos of a screen, made hard").

Run: ``nice -n 10 .venv/bin/python bench/quality_screens.py MODE SEED N [START] > out.jsonl``
(cases START..N-1),
MODE one of ``screen`` (the listing, damage painted, photographed on a screen by
``frames.screen_photo``; product and flat listings in turn), ``halftone`` (an honest
close-up of an offset print), ``halftone_grey`` (the same of a black-only print of a grey
listing: its 45-degree black screen alone, the look-alike of an OLED's PenTile),
``near`` (an honest near-listing photo of a print), ``monitor`` (an honest photo of a
monitor showing another product). One JSON line a
case: the codes, the grid strength, detected/accused, damage boxed, spurious boxes.
"""

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

common.django_setup()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from evidence import imaging  # noqa: E402
from evidence.checks.base import CheckContext, ReferencePhoto  # noqa: E402
from evidence.checks.reference_match import ReferenceMatchCheck, compute_features  # noqa: E402
from testing import frames  # noqa: E402
from testing import synthetic as syn  # noqa: E402

WEIGHTS = {
    "reference_screen_recapture": 80,
    "reference_altered_region": 70,
    "reference_match_inconclusive": 10,
    "reference_copy": 90,
}
FEATURES: dict = {}


def dl(img: np.ndarray, q: int = 92) -> np.ndarray:
    """As downloaded from the shop (its JPEG, decoded)."""
    data = syn.encode_jpeg(img, quality=q)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def features(key: tuple, img: np.ndarray):
    if key not in FEATURES:
        FEATURES[key] = compute_features(dl(img))
    return FEATURES[key]


def context(key: tuple, img: np.ndarray, distractors: list) -> CheckContext:
    refs = [ReferencePhoto(id=100, kind="listing", label="L", features=features(key, img))]
    for j, (other_key, other) in enumerate(distractors):
        refs.append(
            ReferencePhoto(
                id=200 + j, kind="listing", label="D", features=features(other_key, other)
            )
        )
    return CheckContext(references=refs)


def hit(b: list[int], truth: tuple) -> bool:
    """IoU >= 0.3, or the box holds the damage's centre (bench/quality.py's box_hit)."""
    x0, y0, x1, y1 = b
    ix = max(0, min(x1, truth[2]) - max(x0, truth[0]))
    iy = max(0, min(y1, truth[3]) - max(y0, truth[1]))
    inter = ix * iy
    union = (x1 - x0) * (y1 - y0) + (truth[2] - truth[0]) * (truth[3] - truth[1]) - inter
    cx, cy = (truth[0] + truth[2]) / 2, (truth[1] + truth[3]) / 2
    return (union > 0 and inter / union >= 0.3) or (x0 <= cx <= x1 and y0 <= cy <= y1)


def case(mode: str, seed: int, i: int) -> dict:
    rng = np.random.default_rng([seed, i, 17])
    flat = i % 2 == 1
    pid = 101 + (i * 7 + seed) % 24
    fid = 301 + (i * 5 + seed) % 12
    box, p, distractors = None, {}, []
    if mode == "screen":
        art = syn.render_flat_artwork(fid) if flat else syn.render_product_photo(pid)
        key = ("f", fid) if flat else ("p", pid)
        forgery = syn.paint_damage(
            dl(art.image), seed * 1000 + i, kind=syn.DAMAGE_KINDS[i % 3], region=art.product_box
        )
        img, box, _ = frames.screen_photo(forgery.image, forgery.damage_box, rng, params=p)
        other = 101 + (pid - 100) % 24
        distractors = [(("p", other), syn.render_product_photo(other).image)]
    elif mode == "halftone":
        art, key = syn.render_flat_artwork(fid), ("f", fid)
        img, _ = frames.halftone_print_photo(dl(art.image), rng)
    elif mode == "halftone_grey":  # a black-only print: its 45-degree screen alone
        art = syn.render_flat_artwork(fid)
        grey = cv2.cvtColor(cv2.cvtColor(art.image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        art, key = dataclasses.replace(art, image=grey), ("g", fid)
        img, _ = frames.halftone_print_photo(dl(grey), rng)
    elif mode == "near":
        art, key = syn.render_flat_artwork(fid), ("f", fid)
        img = syn.render_printed_shot(fid, 9000 + seed + i, similar=True).image
    else:  # monitor
        art, key = syn.render_product_photo(pid), ("p", pid)
        other = syn.render_product_photo(101 + (pid - 100 + 5) % 24).image
        img, _, _ = frames.screen_photo(dl(other), None, rng, params=p)
    p.pop("picture_quad", None)
    q = int(rng.integers(80, 96))
    image = imaging.decode(syn.encode_jpeg(img, quality=q))
    found = {
        f.code: f for f in ReferenceMatchCheck().run(image, context(key, art.image, distractors))
    }
    gs = None
    for f in found.values():
        gs = f.details.get("grid_strength", gs)
    altered = found.get("reference_altered_region")
    boxes = (
        [[b["x0"], b["y0"], b["x1"], b["y1"]] for b in altered.details["boxes"]] if altered else []
    )
    remaining = 1.0
    for code in found:
        remaining *= 1 - WEIGHTS.get(code, 0) / 100
    return {
        "mode": mode,
        "seed": seed,
        "i": i,
        "flat": flat,
        "codes": sorted(found),
        "score": round(100 * (1 - remaining)),
        "gs": gs,
        "q": q,
        "p": p,
        "recapture": "reference_screen_recapture" in found,
        "accused": bool({"reference_screen_recapture", "reference_copy"} & set(found)),
        "boxed": bool(box) and any(hit(b, box) for b in boxes),
        "spurious": sum(1 for b in boxes if box is None or not hit(b, box)),
    }


def main() -> int:
    mode, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start = int(sys.argv[4]) if len(sys.argv) > 4 else 0  # to extend an earlier run
    for i in range(start, n):
        print(json.dumps(case(mode, seed, i)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
