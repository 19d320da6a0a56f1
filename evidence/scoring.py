"""The claim's risk score: its files' verdicts combined, with reasons in plain words.

Weights live in the database (``ScoringWeight``, admin-editable) and default to what each
check declares. Weights combine like independent pieces of evidence (noisy-OR):
``100 * (1 - Π(1 - wi/100))``. One 90-point finding gives 90; two 50-point findings give
75. Each file's findings are first grouped by the verdict they point at
(``evidence.verdicts``); a verdict kind counts once, at the file where it is strongest,
so weak aids spread over several photos never add up to "suspicious" (docs/verdicts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evidence.checks.registry import default_weights
from evidence.models import EvidenceFile, EvidenceVerdict, Finding, ScoringThreshold, ScoringWeight

SCORED_SUBMITTERS = ("buyer", "platform")

DEFAULT_THRESHOLDS = {
    "suspicious": (40, "From this score the merchant gets the longer response window."),
    "high-risk": (70, "From this score the claim is treated as likely forged."),
}


@dataclass
class ClaimScore:
    score: int
    reasons: list[dict[str, Any]] = field(default_factory=list)
    codes: set[str] = field(default_factory=set)
    suspicious_threshold: int = DEFAULT_THRESHOLDS["suspicious"][0]


def weight_table() -> dict[str, int]:
    """Current weight per code: the database's, else the check's default."""
    table = {code: weight for code, (weight, _d) in default_weights().items()}
    for code, weight, active in ScoringWeight.objects.values_list("code", "weight", "is_active"):
        table[code] = weight if active else 0
    return table


def threshold(name: str) -> int:
    return thresholds()[name]


def thresholds() -> dict[str, int]:
    """Every threshold Claimlens reads, the database's value or the default: one query."""
    values = {name: value for name, (value, _d) in DEFAULT_THRESHOLDS.items()}
    values.update(
        ScoringThreshold.objects.filter(name__in=list(values)).values_list("name", "value")
    )
    return values


def weight_problems(row: ScoringWeight) -> dict[str, str]:
    """What is wrong with a weight row before it is saved, by field: a new row's code
    must be one a check reports (a typo would weigh nothing); a row keeps its code (a
    renamed row would move its weight to another check); 0–100 points."""
    from django.utils.translation import gettext as _

    problems: dict[str, str] = {}
    stored = ScoringWeight.objects.filter(pk=row.pk).values_list("code", flat=True).first()
    if row.pk is not None and stored is not None and stored != row.code:
        problems["code"] = _("A weight keeps its finding code; add a row for another code.")
    elif stored is None and row.code not in default_weights():
        problems["code"] = _("No check reports this finding code.")
    if row.weight is not None and not 0 <= row.weight <= 100:
        problems["weight"] = _("A weight is 0 to 100 points.")
    return problems


def threshold_problems(row: ScoringThreshold) -> dict[str, str]:
    """What is wrong with a threshold row before it is saved, by field: only the
    thresholds Claimlens reads, each keeps its name, 0–100, and "suspicious" never
    above "high-risk" (a claim would be high-risk without being suspicious)."""
    from django.utils.translation import gettext as _

    problems: dict[str, str] = {}
    stored = ScoringThreshold.objects.filter(pk=row.pk).values_list("name", flat=True).first()
    if row.pk is not None and stored is not None and stored != row.name:
        problems["name"] = _("A threshold keeps its name.")
    elif row.name not in DEFAULT_THRESHOLDS:
        problems["name"] = _("Claimlens reads only these thresholds: %(names)s.") % {
            "names": ", ".join(DEFAULT_THRESHOLDS)
        }
    if row.value is None or problems:
        return problems
    current = thresholds()
    if not 0 <= row.value <= 100:
        problems["value"] = _("A threshold is a score of 0 to 100.")
    elif row.name == "suspicious" and row.value > current["high-risk"]:
        problems["value"] = _("At most the high-risk threshold (%(value)s).") % {
            "value": current["high-risk"]
        }
    elif row.name == "high-risk" and row.value < current["suspicious"]:
        problems["value"] = _("At least the suspicious threshold (%(value)s).") % {
            "value": current["suspicious"]
        }
    return problems


def ensure_defaults(weight_model=ScoringWeight, threshold_model=ScoringThreshold) -> int:
    """Create missing weight and threshold rows (never overwrites an administrator's edit).

    Migrations pass their historical models."""
    created = 0
    for code, (weight, description) in default_weights().items():
        _obj, was_created = weight_model.objects.get_or_create(
            code=code, defaults={"weight": weight, "description": description[:300]}
        )
        created += was_created
    for name, (value, description) in DEFAULT_THRESHOLDS.items():
        _obj, was_created = threshold_model.objects.get_or_create(
            name=name, defaults={"value": value, "description": description}
        )
        created += was_created
    return created


def combine(weights: list[int]) -> int:
    remaining = 1.0
    for weight in weights:
        remaining *= 1 - min(max(weight, 0), 100) / 100
    return round(100 * (1 - remaining))


def score_claim(*, claim_id: int) -> ClaimScore:
    """Score a claim from the verdicts on its buyer-submitted files.

    Each file's reasons are grouped by the verdict they point at; a verdict kind counts
    once, at the file where its findings' weights combine highest (two copies of the
    listing are one "copy", two inconclusive photos do not add up to a suspicious
    claim), and the kinds combine by noisy-OR. Reasons are listed strongest verdict
    first, each with the file it is about."""
    from evidence import verdicts

    best: dict[str, tuple[int, int, list[dict[str, Any]]]] = {}
    codes: set[str] = set()
    for evidence_id, reasons in _current_verdict_reasons(claim_id):
        codes.update(r["code"] for r in reasons if r["weight"] > 0)
        for kind, strength in verdicts.strengths(reasons).items():
            if strength > best.get(kind, (-1, 0, []))[0]:
                of_kind = [
                    {**r, "evidence_id": evidence_id} for r in reasons if r["verdict"] == kind
                ]
                best[kind] = (strength, evidence_id, of_kind)
    ranked = [best[kind] for kind in verdicts.PRECEDENCE if kind in best]
    reasons = [
        {key: r[key] for key in REASON_KEYS}
        for _strength, _evidence_id, of_kind in ranked
        for r in of_kind
        if r["weight"] > 0
    ]
    return ClaimScore(
        score=combine([strength for strength, _e, _r in ranked]),
        reasons=reasons,
        codes=codes,
        suspicious_threshold=threshold("suspicious"),
    )


REASON_KEYS = (
    "code",
    "verdict",
    "weight",
    "severity",
    "message",
    "params",
    "evidence_id",
    "finding_id",
)


def _current_verdict_reasons(claim_id: int) -> list[tuple[int, list[dict[str, Any]]]]:
    """(file id, its current verdict's reasons) for the buyer's and platform's files;
    a file with findings but no stored verdict (written before verdicts were) gets its
    verdict computed from them here."""
    from evidence import verdicts

    files = EvidenceFile.objects.filter(claim_id=claim_id, submitted_by__in=SCORED_SUBMITTERS)
    stored = dict(
        EvidenceVerdict.objects.filter(
            evidence__in=files.values("pk"), is_current=True
        ).values_list("evidence_id", "reasons")
    )
    missing = [pk for pk in files.values_list("pk", flat=True) if pk not in stored]
    if missing:
        rows: dict[int, list[verdicts.FindingRow]] = {}
        for f in Finding.objects.filter(evidence_id__in=missing).order_by("id"):
            rows.setdefault(f.evidence_id, []).append(
                verdicts.FindingRow(
                    code=f.code,
                    severity=f.severity,
                    weight=f.weight,
                    message=f.message,
                    params=f.params or {},
                    finding_id=f.pk,
                )
            )
        stored.update({pk: verdicts.decide(found).reasons for pk, found in rows.items()})
    return sorted(stored.items())
