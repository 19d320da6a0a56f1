"""Two versions of the code, the same pipeline, the same minutes: ``pipeline_once`` of
``bench/speed.py`` on 12 MP photos against 5 stored references, in separate processes
that alternate between two source trees, CPU medians and minima per stage.

On a shared host the same code's medians move by a quarter from one minute to the
next; only versions measured alternately, in the same minutes, can be compared.

Run: ``nice -n 10 .venv/bin/python bench/speed_ab.py BASE_TREE NEW_TREE`` where each
tree is a checkout (e.g. ``git worktree add /tmp/speed-base <commit>``, or ``git archive
<commit> | tar -x -C /tmp/speed-base`` with a ``.venv`` symlink). The JPEGs (the forged
copy, the honest photo, the 5 listings: ``bench/speed.py``'s ``make_images``) are made
once and kept in bench/out/speed_ab/; each tree computes the references' stored feature
blobs with its own code. Environment: AB_PAIRS (default 4), AB_RUNS (timed runs per
process, default 15, after 2 warm-ups). Writes bench/out/speed_ab.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "out" / "speed_ab"
NAMES = ("claim", "honest")
STAGES = (
    "total",
    "decode (walk, reduced decode, working copy)",
    "claim features (ORB, memoised)",
    "check:reference_match",
    "check:copy_move",
    "check:ela",
    "display copy",
)


def make_inputs() -> None:
    """The JPEGs, once, in a child (``--make``; ``make_images`` is seeded: every tree
    would make the same ones)."""
    if not (INPUTS / "ref4.jpg").exists():
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--make", "12MP"],
            check=True,
            env={**os.environ, "BENCH_SKIP_DB": "1"},
        )


def write_inputs() -> int:
    sys.path.insert(0, str(HERE.parent))
    from bench import speed

    images = speed.make_images(speed.SIZES["12MP"])
    INPUTS.mkdir(parents=True, exist_ok=True)
    (INPUTS / "claim.jpg").write_bytes(images["claim"])
    (INPUTS / "honest.jpg").write_bytes(images["honest"])
    for i, reference in enumerate(images["references"]):
        (INPUTS / f"ref{i}.jpg").write_bytes(reference)
    return 0


def one(tree: str) -> dict:
    """In a child process (``--one TREE``): that tree's code on the kept JPEGs."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one", tree],
        cwd=tree,
        env={**os.environ, "BENCH_SKIP_DB": "1"},
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("AB "))
    return json.loads(line[3:])


def child(tree: str) -> int:
    """``bench.speed`` of ``tree`` (imported first: it re-executes this process pinned to
    one core with one thread everywhere), its ``pipeline_once`` timed on the JPEGs."""
    sys.path.insert(0, tree)
    from bench import speed
    from evidence import imaging
    from evidence.checks.reference_match import compute_features, features_to_bytes

    refs = [(INPUTS / f"ref{i}.jpg").read_bytes() for i in range(5)]
    blobs = [features_to_bytes(compute_features(imaging.decode(r))) for r in refs]
    out: dict = {"tree": tree, "load": os.getloadavg()[0]}
    for name in NAMES:
        data = (INPUTS / f"{name}.jpg").read_bytes()
        runs = int(os.environ.get("AB_RUNS", "15"))
        measured = speed.measure(speed.pipeline_once, runs, data, blobs)
        out[name] = {k: [v["cpu"]["median"], v["cpu"]["min"]] for k, v in measured.items()}
    print("AB " + json.dumps(out))
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        return child(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "--make":
        return write_inputs()
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    trees = [str(Path(t).resolve()) for t in sys.argv[1:3]]
    make_inputs()
    rows = []
    for pair in range(int(os.environ.get("AB_PAIRS", "4"))):
        for tree in trees:
            rows.append(one(tree))
            print(f"pair {pair + 1} {tree}: load {rows[-1]['load']:.2f}", flush=True)
    (HERE / "out" / "speed_ab.json").write_text(json.dumps(rows, indent=1))
    for name in NAMES:
        print(f"== {name}: CPU median per process (overall minimum), ms")
        for stage in STAGES:
            cells = []
            for tree in trees:
                values = [r[name][stage] for r in rows if r["tree"] == tree]
                medians = " / ".join(f"{m:.1f}" for m, _ in values)
                cells.append(f"{medians} ({min(v[1] for v in values):.1f})")
            print(f"  {stage[:30]:30s} | " + " | ".join(cells))
    print("trees:", " | ".join(trees), "; loads:", [round(r["load"], 2) for r in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
