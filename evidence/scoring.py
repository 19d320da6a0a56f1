"""The claim's risk score: the findings' weights combined, with reasons in plain words.

Weights live in the database (``ScoringWeight``, admin-editable) and default to what each
check declares. Findings combine like independent pieces of evidence (noisy-OR): a claim
with weights w1, w2 ... scores ``100 * (1 - Π(1 - wi/100))``, counting each code once at
its strongest. One 90-point finding gives 90; two 50-point findings give 75; many weak
aids never add up to certainty on their own as fast as one strong signal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evidence.checks.registry import default_weights
from evidence.models import Finding, ScoringThreshold, ScoringWeight

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
    value = ScoringThreshold.objects.filter(name=name).values_list("value", flat=True).first()
    return value if value is not None else DEFAULT_THRESHOLDS[name][0]


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
    """Score a claim from the findings on its buyer-submitted evidence."""
    strongest: dict[str, Finding] = {}
    findings = Finding.objects.filter(
        claim_id=claim_id, evidence__submitted_by__in=["buyer", "platform"]
    ).order_by("-weight", "id")
    for finding in findings:
        if finding.weight > 0 and finding.code not in strongest:
            strongest[finding.code] = finding
    ranked = sorted(strongest.values(), key=lambda f: (-f.weight, f.id))
    reasons = [
        {
            "code": f.code,
            "weight": f.weight,
            "severity": f.severity,
            "message": f.message,
            "params": f.params,
            "evidence_id": f.evidence_id,
            "finding_id": f.pk,
        }
        for f in ranked
    ]
    return ClaimScore(
        score=combine([f.weight for f in ranked]),
        reasons=reasons,
        codes=set(strongest),
        suspicious_threshold=threshold("suspicious"),
    )
