"""One verdict per evidence file, from its findings: the table, the precedence, and what
each verdict can and cannot prove.

Pure (no database): the pipeline, the backfill migration, the scoring and the benchmarks
call :func:`decide` on plain finding rows. A verdict never claims more than its findings:
a file whose checks could not all run is *inconclusive*, never *clean*, and weak aids on
their own (a low-weight code that a genuine photo can also show) are *inconclusive* too.
Notes (facts that are no sign of editing, such as "no camera make in the file") leave a
clean verdict clean; they are listed with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# Bump when the table or the rules change: the pipeline then stores a new verdict.
RULES_VERSION = 2  # 2 (detectq): an altered region on a photographed screen stays a screen's

EDITED_COPY = "edited_copy"
SCREEN_COPY = "screen_copy"
COPY = "copy"
AI_LABELLED = "ai_labelled"
REUSED = "reused"
INCONCLUSIVE = "inconclusive"
CLEAN = "clean"

# Strongest first: when a file's findings point at several verdicts, the first wins and
# the others stay among its reasons. A changed copy says more than a copy; a copy of the
# merchant's own picture (checked pixel by pixel) says more than a label the file carries
# about itself; a label says more than "seen before" (which has honest explanations).
PRECEDENCE = (EDITED_COPY, SCREEN_COPY, COPY, AI_LABELLED, REUSED, INCONCLUSIVE, CLEAN)

CHOICES = [
    (EDITED_COPY, _("Edited copy of your photo")),
    (SCREEN_COPY, _("Photo of a screen showing your photo")),
    (COPY, _("Copy of your photo")),
    (AI_LABELLED, _("AI-labelled")),
    (REUSED, _("Reused from another claim")),
    (INCONCLUSIVE, _("Inconclusive")),
    (CLEAN, _("No sign of manipulation found")),
]
LABELS = dict(CHOICES)

# One line per verdict: what it proves, and what it does not (msgids, shown translated).
STATEMENTS = {
    EDITED_COPY: gettext_noop(
        "Proves the photo is your own picture with a region changed (boxed); it cannot "
        "tell who changed it, nor what the delivered item looks like."
    ),
    SCREEN_COPY: gettext_noop(
        "Proves the photo shows your picture on a screen, not the parcel; it cannot tell "
        "what the delivered item looks like."
    ),
    COPY: gettext_noop(
        "Proves the photo is your own picture re-saved (resized, cropped or re-compressed), "
        "not a new photo of the item; it cannot tell what the delivered item looks like."
    ),
    AI_LABELLED: gettext_noop(
        "The file itself declares that AI or other software made it; a label can be added "
        "to a real photo, and an AI picture without a label is not found by this."
    ),
    REUSED: gettext_noop(
        "Proves the same picture was already sent with another claim; it cannot tell which "
        "claim is true (two orders delivered together can share a photo)."
    ),
    INCONCLUSIVE: gettext_noop(
        "Something in the file needs a person's look (listed); the checks do not say the "
        "photo is edited, nor that it is genuine."
    ),
    CLEAN: gettext_noop(
        "None of the checks found a sign of editing, copying or reuse; this does not prove "
        "the photo is genuine (a careful edit, or an unlabelled AI picture, can pass)."
    ),
}

# The colour a page shows a verdict in (a CSS class, templates/evidence/_verdict.html).
TONES = {
    EDITED_COPY: "critical",
    SCREEN_COPY: "critical",
    COPY: "critical",
    AI_LABELLED: "high",
    REUSED: "high",
    INCONCLUSIVE: "medium",
    CLEAN: "ok",
}

NOTE = "note"  # a fact, no sign of manipulation: leaves a clean verdict clean

# Every finding code any check emits, and what it points at. A code missing here is read
# by its severity (``_fallback``): an unknown finding never makes a file look clean.
CODE_VERDICTS: dict[str, str] = {
    # reference_match (and the screen re-capture the reference match reports)
    "reference_altered_region": EDITED_COPY,
    "reference_screen_recapture": SCREEN_COPY,
    "reference_copy": COPY,
    "reference_match_inconclusive": INCONCLUSIVE,
    # labels the file carries about itself
    "aigc_label_generated": AI_LABELLED,
    "aigc_label_possibly_generated": AI_LABELLED,
    "aigc_label_suspected": AI_LABELLED,
    "aigc_label_unrecognised": INCONCLUSIVE,
    "aigc_iptc_ai_generated": AI_LABELLED,
    "aigc_iptc_ai_composite": AI_LABELLED,
    "aigc_iptc_synthetic": AI_LABELLED,
    "aigc_iptc_edited": INCONCLUSIVE,
    "c2pa_ai_generated": AI_LABELLED,
    "c2pa_ai_composite": AI_LABELLED,
    "c2pa_synthetic": AI_LABELLED,
    "generator_parameters": AI_LABELLED,
    "generator_named": AI_LABELLED,
    "sd_watermark_detected": AI_LABELLED,
    # reuse
    "reuse_confirmed_forgery": REUSED,
    "reuse_other_buyer": REUSED,
    "reuse_same_buyer": REUSED,
    # signs worth a look, none conclusive alone
    "c2pa_edited": INCONCLUSIVE,
    "c2pa_binding_mismatch": INCONCLUSIVE,
    "c2pa_signature_invalid": INCONCLUSIVE,
    "c2pa_unreadable": INCONCLUSIVE,
    "metadata_editor_software": INCONCLUSIVE,
    "metadata_taken_before_shipment": INCONCLUSIVE,
    "metadata_taken_before_delivery": INCONCLUSIVE,
    "file_truncated": INCONCLUSIVE,
    "file_damaged": INCONCLUSIVE,
    "file_metadata_size_mismatch": INCONCLUSIVE,
    "file_duplicate": INCONCLUSIVE,
    "file_rejected": INCONCLUSIVE,
    "exif_thumbnail_mismatch": INCONCLUSIVE,
    "jpeg_double_compression": INCONCLUSIVE,
    "copy_move_region": INCONCLUSIVE,
    "localisation_inconsistent_region": INCONCLUSIVE,
    "check_error": INCONCLUSIVE,
    "checks_failed": INCONCLUSIVE,
    # the challenge photo (evidence/checks/challenge_code.py): a missing code or a photo
    # taken before the code was issued is for the reviewer to weigh, not a copy
    "challenge_code_not_found": INCONCLUSIVE,
    "challenge_photo_before_code": INCONCLUSIVE,
    "challenge_code_read": NOTE,
    # facts and reviewer aids: genuine photos show them all the time
    "metadata_camera": NOTE,
    "metadata_no_camera": NOTE,
    "metadata_gps_present": NOTE,
    "c2pa_manifest_present": NOTE,
    "c2pa_signer_untrusted": NOTE,
    "c2pa_camera_capture": NOTE,
    "c2pa_remote_unverified": NOTE,
    "ela_heatmap": NOTE,
    "localisation_heatmap": NOTE,
    "jpeg_resaved": NOTE,
    "file_trailing_data": NOTE,
    "file_exif_unreadable": NOTE,
    "file_tiny": NOTE,
    "exif_thumbnail_differs": NOTE,
}


@dataclass(frozen=True)
class FindingRow:
    """What a verdict reads of one finding (a ``Finding`` row, or a benchmark's)."""

    code: str
    severity: str = "low"
    weight: int = 0
    message: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    finding_id: int | None = None
    check_name: str = ""
    check_version: int = 0


@dataclass
class Verdict:
    code: str
    reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(LABELS[self.code])

    @property
    def statement(self) -> str:
        return STATEMENTS[self.code]


def verdict_of_code(code: str, severity: str = "low") -> str:
    """The verdict one finding points at (NOTE for a fact that is no sign)."""
    return CODE_VERDICTS.get(code) or _fallback(severity)


def _fallback(severity: str) -> str:
    return NOTE if severity == "info" else INCONCLUSIVE


def latest_versions(rows: Iterable[FindingRow], versions: Mapping[str, int]) -> list[FindingRow]:
    """Only the findings of each check's newest version run on the file (``versions``,
    from :func:`check_versions`): a check re-run at a new version speaks for itself, and
    its old version's findings no longer do."""
    return [r for r in rows if r.check_version >= versions.get(r.check_name, 0)]


def decide(rows: Iterable[FindingRow], *, failed_message: str = "") -> Verdict:
    """The file's verdict and its reasons, strongest first.

    ``failed_message`` (the msgid a failed file shows) makes it inconclusive whatever it
    found before failing: a file whose checks did not finish is never clean."""
    rows = list(rows)
    if failed_message:
        rows.append(FindingRow(code="checks_failed", severity="error", message=failed_message))
    reasons = []
    # On a photographed screen the boxes are drawn through the display's colours, glare
    # and moire (docs/detection.md measures the spurious ones): they locate the damage for
    # the reviewer, but do not make the photo "an edited copy"; it stays a screen's.
    on_screen = any(row.code == "reference_screen_recapture" for row in rows)
    for row in rows:
        verdict = verdict_of_code(row.code, row.severity)
        if on_screen and row.code == "reference_altered_region":
            verdict = SCREEN_COPY
        if verdict == NOTE and row.weight <= 0:
            continue  # a fact with no weight (camera make, GPS kept private) is no reason
        reasons.append(
            {
                "verdict": CLEAN if verdict == NOTE else verdict,
                "code": row.code,
                "weight": int(row.weight),
                "severity": row.severity,
                "message": row.message,
                "params": dict(row.params),
                "finding_id": row.finding_id,
            }
        )
    reasons.sort(key=lambda r: (PRECEDENCE.index(r["verdict"]), -r["weight"], r["code"]))
    code = reasons[0]["verdict"] if reasons else CLEAN
    return Verdict(code=code, reasons=reasons)


def check_versions(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """{check name: newest version run on the file} from (name, version) pairs."""
    versions: dict[str, int] = {}
    for name, version in rows:
        versions[name] = max(versions.get(name, 0), version)
    return dict(sorted(versions.items()))


def version_key(versions: Mapping[str, int]) -> str:
    """What a stored verdict was computed from: the rules and every check's version."""
    checks = ",".join(f"{name}:{version}" for name, version in sorted(versions.items()))
    return f"rules:{RULES_VERSION};{checks}"[:400]


def strengths(reasons: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per verdict kind among the reasons, its findings' weights combined (noisy-OR, each
    code once at its strongest): what the claim's score is built from."""
    from evidence.scoring import combine

    by_kind: dict[str, dict[str, int]] = {}
    for reason in reasons:
        codes = by_kind.setdefault(reason["verdict"], {})
        codes[reason["code"]] = max(codes.get(reason["code"], 0), int(reason["weight"]))
    return {kind: combine(list(codes.values())) for kind, codes in by_kind.items()}
