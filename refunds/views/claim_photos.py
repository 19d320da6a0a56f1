"""The merchant claim page's per-photo panels: for every buyer photo, the merchant's photo
the checks matched it to (with the aligned copy for the compare control) and a readable
table of what the file says about itself.

Everything here is read from the findings the checks stored (already prefetched with
the files), never from the uploaded bytes: the checks keep no coordinate, phone number
or address in a finding, so none can reach the table. A row is chosen by finding code,
each code's parameters named explicitly; nothing else of a finding is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from evidence.models import EvidenceFile

# The findings of reference_match that say which merchant photo a buyer photo shows.
MATCH_CODES = ("reference_copy", "reference_match_inconclusive")
ALIGNED_ARTIFACT = "aligned_reference"
# Findings that are an AI-content label or declaration carried by the file.
AI_LABEL_CODES = frozenset(
    {
        "aigc_label_generated",
        "aigc_label_possibly_generated",
        "aigc_label_suspected",
        "aigc_label_unrecognised",
        "aigc_iptc_ai_generated",
        "aigc_iptc_ai_composite",
        "c2pa_ai_generated",
        "c2pa_ai_composite",
        "c2pa_synthetic",
        "sd_watermark_detected",
        "generator_named",
        "generator_parameters",
    }
)
TAKEN_BEFORE_CODES = ("metadata_taken_before_shipment", "metadata_taken_before_delivery")


@dataclass
class PhotoPanel:
    """One buyer photo as the claim page shows it."""

    file: object  # evidence.models.EvidenceFile
    number: int
    reference: object | None = None  # the merchant's photo it was matched to
    aligned: object | None = None  # FindingArtifact: that photo in this photo's frame
    similarity: int | None = None
    mirrored: bool = False
    metadata: list[tuple[str, str]] = field(default_factory=list)

    @property
    def comparable(self) -> bool:
        return bool(self.file.display and self.reference is not None and self.aligned)


def photo_panels(buyer_files, reference_files) -> list[PhotoPanel]:
    """A panel per buyer photo, in upload order; ``reference_files`` are the order's
    listing and packing photos (the only ones a panel may show)."""
    references = {f.pk: f for f in reference_files}
    panels = []
    for number, evidence in enumerate(buyer_files, start=1):
        findings = list(evidence.findings.all())
        panel = PhotoPanel(file=evidence, number=number, metadata=_metadata(evidence, findings))
        # A match with its aligned picture first (files checked by an older version of
        # the check have none, and may have such a finding of the newer one too).
        matches = [
            (_aligned(f), f)
            for code in MATCH_CODES
            for f in findings
            if f.code == code and f.related_evidence_id in references
        ]
        aligned, match = next(
            (pair for pair in matches if pair[0] is not None),
            matches[0] if matches else (None, None),
        )
        if match is not None:
            panel.reference = references[match.related_evidence_id]
            panel.aligned = aligned
            panel.similarity = (match.params or {}).get("similarity")
            panel.mirrored = bool((match.details or {}).get("mirrored"))
        panels.append(panel)
    return panels


def _aligned(finding):
    return next((a for a in finding.artifacts.all() if a.name == ALIGNED_ARTIFACT), None)


def _metadata(evidence, findings) -> list[tuple[str, str]]:
    """(label, value) rows, translated; empty until the checks have read the file."""
    if evidence.status != EvidenceFile.Status.CHECKED:
        return []
    by_code: dict[str, list] = {}
    for finding in findings:
        by_code.setdefault(finding.code, []).append(finding)

    def first(code):
        return (by_code.get(code) or [None])[0]

    def param(code, name) -> str:
        finding = first(code)
        return str((finding.params or {}).get(name) or "") if finding else ""

    def detail(code, name) -> str:
        finding = first(code)
        return str((finding.details or {}).get(name) or "") if finding else ""

    missing = _("Not recorded in the file")
    camera = param("metadata_camera", "camera")
    lens = detail("metadata_camera", "lens") or detail("metadata_no_camera", "lens")
    taken = detail("metadata_camera", "taken") or detail("metadata_no_camera", "taken")
    taken = taken or next((param(code, "taken") for code in TAKEN_BEFORE_CODES if first(code)), "")
    editor = ""
    if first("metadata_editor_software"):
        editor = "{} ({})".format(
            param("metadata_editor_software", "editor"),
            param("metadata_editor_software", "software"),
        )
    labels = [f.display_message for f in findings if f.code in AI_LABEL_CODES]
    signer = ""
    if first("c2pa_manifest_present"):
        signer = _("%(issuer)s (written by %(generator)s)") % {
            "issuer": param("c2pa_manifest_present", "issuer"),
            "generator": param("c2pa_manifest_present", "generator"),
        }
    actions = [param("c2pa_edited", "edits")] if first("c2pa_edited") else []
    actions += [
        str(f.details.get("action"))
        for f in findings
        if f.code.startswith("c2pa_") and (f.details or {}).get("action")
    ]
    rows = [
        (_("Camera"), camera or missing),
        (_("Lens"), lens or missing),
        (_("Taken on (Beijing time)"), taken or missing),
        (_("Editing software"), editor or _("None recorded")),
        (_("AI labels"), "; ".join(labels) or _("None found")),
        (_("Content Credentials signed by"), signer or _("No Content Credentials")),
        (_("Content Credentials actions"), ", ".join(dict.fromkeys(actions)) or "—"),
    ]
    if first("metadata_gps_present"):
        rows.append((_("Location"), _("Recorded in the file; kept private, never shown")))
    return rows
