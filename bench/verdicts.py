"""The per-photo verdicts (evidence/verdicts.py) on bench/quality.py's cases.

Reads bench/out/quality.json (run ``make bench-quality`` first): every case's finding
codes, at their default weights, go through ``verdicts.decide`` as the pipeline's would,
and the single-file claim score is rebuilt from the verdicts as ``scoring.score_claim``
builds it. Prints, per kind, how often each verdict came out and how often the verdict
is the one the kind is about; and where the verdict-based score differs from the
benchmark's flat one (and whether that crosses the "suspicious" threshold).

    .venv/bin/python bench/verdicts.py [bench/out/quality.json]
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from evidence import verdicts  # noqa: E402
from evidence.checks.registry import default_weights  # noqa: E402
from evidence.scoring import combine  # noqa: E402

SUSPICIOUS = 40
EXPECTED = {"forged": verdicts.EDITED_COPY, "ai": verdicts.AI_LABELLED, "reused": verdicts.REUSED}


def expected_of(kind: str) -> str:
    return EXPECTED.get(kind.split("_")[0], verdicts.CLEAN)


def verdict_of(record: dict) -> verdicts.Verdict:
    weights = default_weights()
    rows = [
        verdicts.FindingRow(code=c, weight=weights.get(c, (0, ""))[0], severity="low")
        for c in record["codes"]
    ] + [
        verdicts.FindingRow(code=c, weight=0, severity="error" if c == "check_error" else "info")
        for c in record.get("info_codes", [])
    ]
    return verdicts.decide(rows)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "out" / "quality.json"
    records = json.loads(path.read_text())["cases"]
    by_kind: dict[str, Counter] = {}
    changed = crossed = 0
    for record in records:
        verdict = verdict_of(record)
        by_kind.setdefault(record["kind"], Counter())[verdict.code] += 1
        score = combine(list(verdicts.strengths(verdict.reasons).values()))
        changed += score != record["score"]
        crossed += (score >= SUSPICIOUS) != (record["score"] >= SUSPICIOUS)
    print("| kind | n | expected verdict | rate | verdicts |")
    print("| --- | --- | --- | --- | --- |")
    for kind, counts in by_kind.items():
        n, expected = sum(counts.values()), expected_of(kind)
        spread = ", ".join(f"{code} {count}" for code, count in counts.most_common())
        print(f"| `{kind}` | {n} | {expected} | {100 * counts[expected] / n:.1f} % | {spread} |")
    print(
        f"\n{len(records)} cases; verdict-based score differs from the flat one in {changed}, "
        f"on the other side of {SUSPICIOUS} in {crossed}"
    )


if __name__ == "__main__":
    main()
