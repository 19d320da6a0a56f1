"""The evidence pack: one claim as a ZIP a merchant can hand to the police or a court.

    report.pdf      the case in words, in the requesting user's language
    manifest.json   the same facts for machines, with the SHA-256 and size of every file
    evidence/...    metadata-free display copies of the photos (never the originals)
    findings/...    the checks' artifact images (PNG, as stored)

Who asks decides what is in it (:func:`pack_audience`):

* a member of the claim's shop gets the merchant pack: what the merchant claim page shows
  and nothing more. The buyer by display name only; the findings' messages but not their
  details (reviewers' material, as on the pages and in the API: other claims' and buyers'
  ids); reviewers as a role, not by name; of the buyer's history only their claims against
  this shop and the fraud tier, if any, crossed by the platform's confirmed-forgery total
  (:func:`refunds.selectors.buyer_credit_for_merchant`).
* a platform reviewer gets everything the review page shows: the findings' details, the
  full buyer credit, reviewers' names, the audit events' data and hashes.

Neither pack ever holds an original file (originals may carry GPS and camera data), the
buyer's phone or address, or the buyer's own file names. Each photo is named by the
SHA-256 of its original, so the platform can produce the byte-identical original to
whoever is entitled to it.

Both packs hold the chain of custody of their files (:mod:`evidence.custody`): every
upload, file the checks gave up on, original handed out and earlier pack export, from the
audit log, with its time, action and SHA-256; by name and with the event's hash for
reviewers, by role only for merchants.

The pack is built from reads only; :func:`refunds.services.evidence_pack_export` records
the export in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Image as PdfImage
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from evidence import selectors as evidence_selectors
from evidence.models import EvidenceFile, Finding, FindingArtifact
from refunds import audit, policy, selectors
from refunds.exceptions import NotAllowed
from refunds.models import RefundClaim
from refunds.templatetags.claim_tags import BAND_SUMMARIES, SEVERITY_RANK, risk_band
from refunds.views.common import risk_thresholds, timeline

MERCHANT = policy.MERCHANT_AUDIENCE
REVIEWER = policy.REVIEWER_AUDIENCE
FORMAT = "claimlens-evidence-pack/1"
FONT = "STSong-Light"  # reportlab's built-in CID font: Chinese without a font file
MONO = "Courier"
# The picture that explains the claim in one look comes first (as on the merchant page).
ARTIFACT_ORDER = {"overlay": 0, "side_by_side": 1, "exif_thumbnail": 2, "ela": 3}
# The chain of custody's actions (evidence.custody), in words.
CUSTODY_LABELS = {
    "evidence_uploaded": gettext_lazy("File uploaded"),
    "evidence_rejected": gettext_lazy("File rejected: it cannot be read as a photo"),
    "evidence_check_failed": gettext_lazy("The automated checks could not finish on the file"),
    "evidence_original_exported": gettext_lazy("The original file was downloaded"),
    "evidence_pack_exported": gettext_lazy("An evidence pack of the claim was exported"),
    "evidence_retired": gettext_lazy("The shop retired the photo as a reference (it is kept)"),
}
# What of a custody event's data a merchant's pack shows (reviewers get all of it).
CUSTODY_FACTS_FOR_MERCHANTS = ("sha256", "size", "content_type", "code", "matches_upload")


def pack_filename(claim: RefundClaim) -> str:
    return f"claimlens-claim-{claim.pk}-evidence-pack.zip"


def pack_audience(*, claim: RefundClaim, user) -> str:
    """``"merchant"`` for a member of the claim's shop (even if also a reviewer: the
    narrower pack), ``"reviewer"`` for a platform reviewer; anybody else is refused
    (the rule: :func:`refunds.policy.evidence_pack_audience`)."""
    audience = policy.evidence_pack_audience(user, claim)
    if audience is None:
        raise NotAllowed()
    return audience


# --- What goes in ------------------------------------------------------------------------


@dataclass(frozen=True)
class PackedFile:
    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class _Evidence:
    file: EvidenceFile
    role: str  # buyer | merchant (counter-evidence) | listing | packing
    packed: PackedFile | None  # None: no display copy (not checked, or unreadable)


@dataclass
class _Artifact:
    artifact: FindingArtifact
    packed: PackedFile


@dataclass
class _Finding:
    finding: Finding
    artifacts: list[_Artifact] = field(default_factory=list)


@dataclass
class _Pack:
    claim: RefundClaim
    user: Any
    audience: str
    generated_at: dt.datetime
    evidence: list[_Evidence]
    findings: list[_Finding]
    decisions: list
    events: list
    custody: list  # AuditEvents of the files (evidence.custody) and of earlier exports
    credit: Any  # BuyerCredit for reviewers, MerchantBuyerCredit for merchants
    claims_against_shop: list[RefundClaim]
    report_language: str

    @property
    def for_merchant(self) -> bool:
        return self.audience == MERCHANT

    def path_of(self, evidence_id: int | None) -> str | None:
        for entry in self.evidence:
            if entry.file.pk == evidence_id and entry.packed:
                return entry.packed.path
        return None

    def custody_by(self, event) -> str:
        """Who acted, as this pack's reader may know it: a role for merchants."""
        if not self.for_merchant:
            return event.actor_label.removeprefix("user:")
        data = event.data or {}
        role = data.get("role") or data.get("audience") or ""
        if role == MERCHANT:
            return self.claim.merchant.name
        roles = {
            "buyer": _("The buyer"),
            "reviewer": _("Platform reviewer"),
            "platform": _("Platform"),
            "system": _("Claimlens"),
        }
        return str(roles.get(role, _("Platform")))


def _read(stored) -> bytes | None:
    if not stored:
        return None
    try:
        with stored.storage.open(stored.name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _collect(*, claim: RefundClaim, user, audience: str) -> _Pack:
    claim_files = list(evidence_selectors.evidence_for_claim(claim_id=claim.pk))
    references = list(
        evidence_selectors.reference_files_for_order(order=claim.order, with_features=False)
    )
    evidence = []
    for file in claim_files:
        role = "merchant" if file.submitted_by == "merchant" else "buyer"
        evidence.append((file, role))
    for file in references:
        evidence.append((file, "listing" if file.product_id else "packing"))
    packed_evidence = []
    for file, role in evidence:
        data = _read(file.display)
        packed = PackedFile(f"evidence/{role}-{file.pk}.jpg", data) if data else None
        packed_evidence.append(_Evidence(file=file, role=role, packed=packed))

    buyer_ids = {file.pk for file, role in evidence if role == "buyer"}
    findings = [
        f
        for f in evidence_selectors.findings_for_claim(claim_id=claim.pk)
        # Merchants get the findings on the buyer's evidence, as on their claim page.
        if audience == REVIEWER or f.evidence_id in buyer_ids
    ]
    findings.sort(key=lambda f: (-f.weight, SEVERITY_RANK.get(f.severity, 9), f.pk))
    packed_findings = []
    for finding in findings:
        entry = _Finding(finding=finding)
        for artifact in sorted(
            finding.artifacts.all(), key=lambda a: (ARTIFACT_ORDER.get(a.name, 9), a.pk)
        ):
            data = _read(artifact.image)
            if data:
                path = f"findings/finding-{finding.pk}-{artifact.name}.png"
                entry.artifacts.append(_Artifact(artifact=artifact, packed=PackedFile(path, data)))
        packed_findings.append(entry)

    if audience == REVIEWER:
        credit = selectors.buyer_credit(buyer=claim.buyer_id)
        against_shop = list(
            selectors.buyer_claims_against_shop(
                buyer_id=claim.buyer_id, merchant_id=claim.merchant_id
            )
        )
    else:
        credit = selectors.buyer_credit_for_merchant(
            buyer=claim.buyer_id, merchant_id=claim.merchant_id
        )
        against_shop = credit.claims_against_shop
    return _Pack(
        claim=claim,
        user=user,
        audience=audience,
        generated_at=timezone.now(),
        evidence=packed_evidence,
        findings=packed_findings,
        decisions=list(reversed(selectors.claim_decisions(claim_id=claim.pk))),
        events=list(selectors.claim_timeline(claim_id=claim.pk)),
        custody=list(
            audit.custody_events(evidence_ids=[f.pk for f, _role in evidence], claim_id=claim.pk)
        ),
        credit=credit,
        claims_against_shop=against_shop,
        report_language=translation.get_language() or "en",
    )


def evidence_pack_build(*, claim: RefundClaim, user) -> bytes:
    """The claim's evidence pack for ``user`` as ZIP bytes (see the module docstring).

    Reads only. The report is written in the active language; the manifest in English.
    Raises :class:`NotAllowed` for a user who is neither of the claim's shop nor a
    reviewer."""
    audience = pack_audience(claim=claim, user=user)
    claim = (
        RefundClaim.objects.select_related("order", "merchant", "buyer")
        .prefetch_related("order__items")
        .get(pk=claim.pk)
    )
    pack = _collect(claim=claim, user=user, audience=audience)
    files = [
        *(entry.packed for entry in pack.evidence if entry.packed),
        *(a.packed for entry in pack.findings for a in entry.artifacts),
    ]
    report = PackedFile("report.pdf", _render_report(pack))
    with translation.override("en"):
        manifest = _manifest(pack, [report, *files])
    manifest_file = PackedFile(
        "manifest.json",
        json.dumps(manifest, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode(),
    )
    return _zip(pack, [report, manifest_file, *files])


def _zip(pack: _Pack, files: list[PackedFile]) -> bytes:
    stamp = timezone.localtime(pack.generated_at).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for packed in files:
            info = zipfile.ZipInfo(packed.path, date_time=stamp)
            # Pictures are compressed already; the PDF and the JSON are worth deflating.
            images = packed.path.endswith((".jpg", ".png"))
            info.compress_type = zipfile.ZIP_STORED if images else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # readable once unpacked, by any tool
            archive.writestr(info, packed.data)
    return out.getvalue()


# --- manifest.json -----------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _manifest(pack: _Pack, files: list[PackedFile]) -> dict[str, Any]:
    claim, order = pack.claim, pack.claim.order
    reviewer = not pack.for_merchant
    buyer: dict[str, Any] = {"display_name": claim.buyer.display_name}
    if reviewer:
        buyer["platform_id"] = claim.buyer.platform_id
        buyer["account_created_at"] = _iso(claim.buyer.account_created_at)
    lines = timeline(pack.events, for_merchant=pack.for_merchant, shop_name=claim.merchant.name)
    head = pack.events[-1] if pack.events else None
    return {
        "format": FORMAT,
        "audience": pack.audience,
        "generated_at": _iso(pack.generated_at),
        "generated_by": {"id": pack.user.pk, "username": pack.user.get_username()},
        "report_language": pack.report_language,
        "claim": {
            "id": claim.pk,
            "platform_id": claim.platform_id,
            "shop": {"platform_id": claim.merchant.platform_id, "name": claim.merchant.name},
            "buyer": buyer,
            "status": claim.status,
            "reason": claim.reason,
            "buyer_statement": claim.description,
            "amount": _money(claim.amount),
            "order_total": _money(claim.order_total),
            "created_at": _iso(claim.created_at),
            "risk_score": claim.risk_score,
            "merchant_response": claim.merchant_response,
            "merchant_statement": claim.merchant_statement,
            "merchant_offer_amount": _money(claim.merchant_offer_amount),
            "outcome": claim.outcome,
            "refund_amount": _money(claim.refund_amount),
            "confirmed_forgery": claim.confirmed_forgery,
            "decided_at": _iso(claim.decided_at),
        },
        "order": {
            "platform_id": order.platform_id,
            "total_amount": _money(order.total_amount),
            "paid_at": _iso(order.paid_at),
            "shipped_at": _iso(order.shipped_at),
            "delivered_at": _iso(order.delivered_at),
            "items": [
                {
                    "title": item.title,
                    "quantity": item.quantity,
                    "unit_price": _money(item.unit_price),
                }
                for item in order.items.all()
            ],
        },
        "decisions": [
            {
                "outcome": decision.outcome,
                "refund_amount": _money(decision.refund_amount),
                "rationale": decision.rationale,
                "confirmed_forgery": decision.confirmed_forgery,
                "on_appeal": decision.on_appeal,
                "accepted_by_merchant": decision.decided_by_merchant,
                "decided_at": _iso(decision.created_at),
                **(
                    {"reviewer": decision.reviewer.get_username() if decision.reviewer else None}
                    if reviewer
                    else {}
                ),
            }
            for decision in pack.decisions
        ],
        "timeline": [
            {
                "seq": event.seq,
                "at": _iso(event.created_at),
                "action": event.action,
                "description": str(line["what"]),
                "from": event.from_status,
                "to": event.to_status,
                "by": str(line["who"]),
                "reason": event.reason,
                **(
                    {"actor": event.actor_label, "data": event.data, "hash": event.hash}
                    if reviewer
                    else {}
                ),
            }
            for event, line in zip(pack.events, lines, strict=True)
        ],
        "findings": [_finding_entry(pack, entry) for entry in pack.findings],
        "evidence": [
            {
                "evidence_id": entry.file.pk,
                "role": entry.role,
                "status": entry.file.status,
                "content_type": entry.file.content_type,
                "width": entry.file.width,
                "height": entry.file.height,
                "uploaded_at": _iso(entry.file.created_at),
                "original_sha256": entry.file.sha256,
                "original_size": entry.file.size,
                "display_copy": entry.packed.path if entry.packed else None,
                "verdict": _verdict_entry(entry.file),
            }
            for entry in pack.evidence
        ],
        "chain_of_custody": [_custody_entry(pack, event) for event in pack.custody],
        "buyer_credit": _credit_entry(pack),
        "audit": {
            "claim_chain_head": {
                "seq": head.seq,
                "hash": head.hash,
                "at": _iso(head.created_at),
            }
            if head
            else None,
            "note": (
                "The hash of the claim's latest audit event when the pack was built. Each "
                "audit event's hash covers its content and the previous event's hash in "
                "the platform's single chain (`manage.py verify_audit`). The export itself "
                "is recorded as a later event holding this ZIP file's SHA-256."
            ),
        },
        "files": [
            {"path": packed.path, "sha256": packed.sha256, "size": packed.size} for packed in files
        ],
    }


def _verdict_entry(file) -> dict[str, Any] | None:
    """The file's current verdict (docs/verdicts.md), as the claim page shows it."""
    verdict = file.current_verdict if file.attached_to == "claim" else None
    if verdict is None:
        return None
    return {
        "code": verdict.verdict,
        "label": verdict.label,
        "statement": verdict.statement,
        "reasons": [r.get("code") for r in verdict.reasons],
        "check_versions": verdict.check_versions,
    }


def _custody_entry(pack: _Pack, event) -> dict[str, Any]:
    data = event.data or {}
    entry: dict[str, Any] = {
        "seq": event.seq,
        "at": _iso(event.created_at),
        "action": event.action,
        "description": str(CUSTODY_LABELS.get(event.action, event.action)),
        "by": pack.custody_by(event),
        "evidence_id": event.evidence_id,
        "evidence_file": pack.path_of(event.evidence_id),
    }
    if pack.for_merchant:
        entry.update({key: data[key] for key in CUSTODY_FACTS_FOR_MERCHANTS if key in data})
    else:
        entry.update({"sha256": data.get("sha256"), "actor": event.actor_label})
        entry.update({"data": data, "hash": event.hash})
    return entry


def _finding_entry(pack: _Pack, entry: _Finding) -> dict[str, Any]:
    finding = entry.finding
    data: dict[str, Any] = {
        "id": finding.pk,
        "code": finding.code,
        "severity": finding.severity,
        "weight": finding.weight,
        "message": finding.display_message,
        "evidence_file": pack.path_of(finding.evidence_id),
        "evidence_id": finding.evidence_id,
        "check": finding.check_run.check_name,
        "check_version": finding.check_run.check_version,
        "artifacts": [a.packed.path for a in entry.artifacts],
    }
    if pack.for_merchant:
        # Details are reviewers' material (the merchant page and the API show none): the
        # reuse and duplicate checks name other buyers' claims there.
        related = pack.path_of(finding.related_evidence_id)
        if related:
            data["related_evidence_file"] = related
    else:
        data["related_evidence_id"] = finding.related_evidence_id
        data["related_evidence_file"] = pack.path_of(finding.related_evidence_id)
        data["details"] = finding.details
    return data


def _credit_entry(pack: _Pack) -> dict[str, Any]:
    credit = pack.credit
    tier = (
        {
            "name": credit.tier,
            "threshold_cny": str(_tier_limit(credit.tier)),
            "label": str(selectors.FRAUD_TIER_LABELS[credit.tier]),
        }
        if credit.tier
        else None
    )
    data: dict[str, Any] = {
        "fraud_tier_crossed": tier,
        "fraud_tier_basis": (
            "the platform-wide amount this buyer sought in claims whose evidence a reviewer "
            "confirmed as forged (Criminal Law art. 266: 3,000 / 30,000 / 500,000 CNY)"
        ),
        "claims_against_this_shop": [
            {
                "id": other.pk,
                "platform_id": other.platform_id,
                "order": other.order.platform_id,
                "created_at": _iso(other.created_at),
                "amount": _money(other.amount),
                "status": other.status,
                "outcome": other.outcome,
                "refund_amount": _money(other.refund_amount),
                "confirmed_forgery": other.confirmed_forgery,
            }
            for other in pack.claims_against_shop
        ],
    }
    if not pack.for_merchant:
        data["platform_wide"] = {
            "claims": credit.claims,
            "open_claims": credit.open_claims,
            "refunded_claims": credit.refunded_claims,
            "denied_claims": credit.denied_claims,
            "confirmed_forgeries": credit.confirmed_forgeries,
            "amount_refunded": _money(credit.amount_refunded),
            "amount_in_forged_claims": _money(credit.amount_in_forged_claims),
        }
    return data


def _tier_limit(name: str) -> Decimal:
    return next(limit for limit, tier in selectors.FRAUD_TIERS if tier == name)


# --- report.pdf --------------------------------------------------------------------------

GREY = colors.HexColor("#666666")
RULE = colors.HexColor("#dddddd")


@cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _styles(language: str) -> dict[str, ParagraphStyle]:
    # CJK wrapping breaks lines between any two characters: right for Chinese prose, wrong
    # for English words, so only the Chinese report uses it.
    wrap = "CJK" if language.startswith("zh") else None
    body = ParagraphStyle(
        "body", fontName=FONT, fontSize=9.5, leading=14, wordWrap=wrap, spaceAfter=3
    )
    return {
        "title": ParagraphStyle("title", parent=body, fontSize=17, leading=22, spaceAfter=6),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontSize=12.5,
            leading=17,
            spaceBefore=10,
            spaceAfter=5,
            keepWithNext=1,
            textColor=colors.HexColor("#1f3a5f"),
        ),
        "h3": ParagraphStyle(
            "h3", parent=body, fontSize=10.5, leading=15, spaceBefore=6, keepWithNext=1
        ),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=GREY),
        "flag": ParagraphStyle(
            "flag", parent=body, fontSize=10.5, textColor=colors.HexColor("#a31515")
        ),
    }


def _text(value: Any) -> str:
    """User or stored text made safe for reportlab's paragraph mark-up."""
    return escape(str(value if value is not None else "")).replace("\n", "<br/>")


def _when(value: dt.datetime | None) -> str:
    if not value:
        return "—"
    return date_format(timezone.localtime(value), "Y-m-d H:i T")


def _hash(value: str) -> str:
    return f'<font name="{MONO}" size="7.5">{escape(value)}</font>'


def _note(value: Any) -> str:
    return f'<font size="7.5" color="#666666">{_text(value)}</font>'


def _render_report(pack: _Pack) -> bytes:
    _register_fonts()
    return _Report(pack).render()


class _Report:
    """report.pdf: one method per section, in reading order."""

    def __init__(self, pack: _Pack) -> None:
        self.pack = pack
        self.claim = pack.claim
        self.styles = _styles(pack.report_language)
        self.out = io.BytesIO()
        self.title = _("Evidence pack of claim #%(id)s") % {"id": self.claim.pk}
        self.doc = SimpleDocTemplate(
            self.out,
            pagesize=A4,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=16 * mm,
            bottomMargin=18 * mm,
            title=self.title,
            author="Claimlens",
            subject=self.claim.platform_id or str(self.claim.pk),
        )
        self.width = self.doc.width

    def render(self) -> bytes:
        story = [
            *self.heading(),
            *self.the_claim(),
            *self.decisions(),
            *self.findings(),
            *self.artifacts(),
            *self.photos(),
            *self.history(),
            *self.custody(),
            *self.credit(),
            *self.how_to_verify(),
        ]
        self.doc.build(story, onFirstPage=self.footer, onLaterPages=self.footer)
        return self.out.getvalue()

    # Building blocks.

    def para(self, markup: str, style: str = "body") -> Paragraph:
        return Paragraph(markup, self.styles[style])

    def h2(self, text: str) -> Paragraph:
        return self.para(_text(text), "h2")

    def table(self, rows: list[list], widths: list[float], *, header: bool = False) -> Table:
        table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return table

    def facts(self, rows: list[tuple[str, str]]) -> Table:
        """Label and value lines; values are mark-up already (built with _text)."""
        return self.table(
            [[self.para(_text(label), "small"), self.para(value)] for label, value in rows],
            [38 * mm, self.width - 38 * mm],
        )

    def picture(self, data: bytes, max_height: float) -> PdfImage:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        scale = min(self.width / width, max_height / height)
        return PdfImage(io.BytesIO(data), width=width * scale, height=height * scale)

    def footer(self, canvas, document) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(GREY)
        left = self.doc.leftMargin
        canvas.drawString(
            left, 10 * mm, f"Claimlens · {self.title} · {_when(self.pack.generated_at)}"
        )
        canvas.drawRightString(
            left + self.width, 10 * mm, _("Page %(page)s") % {"page": document.page}
        )
        canvas.restoreState()

    # Sections.

    def heading(self) -> list:
        pack = self.pack
        audience = (
            _("Prepared for the merchant %(shop)s") % {"shop": self.claim.merchant.name}
            if pack.for_merchant
            else _("Prepared for platform review")
        )
        generated = _("generated %(when)s by %(user)s") % {
            "when": _when(pack.generated_at),
            "user": pack.user.get_username(),
        }
        return [
            self.para(_text(self.title), "title"),
            self.para(_text(f"{audience} · {generated}"), "small"),
            Spacer(1, 4),
        ]

    def the_claim(self) -> list:
        claim, order = self.claim, self.claim.order
        buyer = claim.buyer.display_name
        if not self.pack.for_merchant:
            buyer += f" · {claim.buyer.platform_id}"
        items = "<br/>".join(
            _text(f"{item.quantity} × {item.title} · ¥{item.unit_price}")
            for item in order.items.all()
        )
        story = [
            self.h2(_("The claim")),
            self.facts(
                [
                    (_("Claim"), _text(f"#{claim.pk}")),
                    (_("Platform claim id"), _text(claim.platform_id or "—")),
                    (_("Shop"), _text(f"{claim.merchant.name} ({claim.merchant.platform_id})")),
                    (_("Buyer"), _text(buyer)),
                    (_("Status"), _text(claim.get_status_display())),
                    (_("Reason"), _text(claim.get_reason_display())),
                    (_("Amount claimed"), _text(f"¥{claim.amount}")),
                    (_("Claimed on"), _text(_when(claim.created_at))),
                    (_("The buyer says"), _text(claim.description or "—")),
                ]
            ),
            self.h2(_("The order")),
            self.facts(
                [
                    (_("Order"), _text(order.platform_id)),
                    (_("Items"), items or "—"),
                    (_("Order total"), _text(f"¥{order.total_amount}")),
                    (_("Paid on"), _text(_when(order.paid_at))),
                    (_("Shipped on"), _text(_when(order.shipped_at))),
                    (_("Delivered on"), _text(_when(order.delivered_at))),
                ]
            ),
        ]
        if claim.merchant_response:
            rows = [(_("Merchant's statement"), _text(claim.merchant_statement or "—"))]
            if claim.merchant_offer_amount:
                rows.append((_("Partial refund offered"), _text(f"¥{claim.merchant_offer_amount}")))
            story += [self.h2(_("The merchant's answer")), self.facts(rows)]
        return story

    def decisions(self) -> list:
        story: list = [self.h2(_("Decision"))]
        if not self.pack.decisions:
            return [*story, self.para(_text(_("The claim has not been decided yet.")))]
        for decision in self.pack.decisions:
            if decision.decided_by_merchant:
                who = _("accepted by the merchant")
            elif self.pack.for_merchant or decision.reviewer is None:
                who = _("platform reviewer")
            else:
                who = decision.reviewer.get_username()
            heading = f"{decision.get_outcome_display()} · ¥{decision.refund_amount} · {who}"
            if decision.on_appeal:
                heading += " · " + _("on appeal")
            story += [
                self.para(f"<b>{_text(heading)}</b> · {_text(_when(decision.created_at))}"),
                self.para(_text(decision.rationale)),
            ]
            if decision.confirmed_forgery:
                story.append(self.para(_text(_("The reviewer found the buyer's evidence forged."))))
        return story

    def findings(self) -> list:
        claim = self.claim
        band = risk_band(claim.risk_score, *risk_thresholds())
        score = "…" if claim.risk_score is None else str(claim.risk_score)
        risk = _("Risk score: %(score)s / 100") % {"score": score}
        story = [
            self.h2(_("What the automated checks found")),
            self.para(f"<b>{_text(risk)}</b> · {_text(BAND_SUMMARIES[band])}"),
        ]
        if not self.pack.findings:
            return [*story, self.para(_text(_("No findings.")))]
        rows = [
            [
                self.para(_text(label), "small")
                for label in (_("Severity"), _("Finding"), _("Weight"))
            ]
        ]
        for entry in self.pack.findings:
            finding = entry.finding
            where = self.pack.path_of(finding.evidence_id) or f"#{finding.evidence_id}"
            rows.append(
                [
                    self.para(_text(finding.get_severity_display())),
                    self.para(
                        _text(finding.display_message)
                        + "<br/>"
                        + _note(f"{finding.code} · {where}")
                    ),
                    self.para(_text(finding.weight)),
                ]
            )
        aids = _(
            "Checks help a reviewer decide; they do not decide the claim on their own. "
            "Error-level analysis and similar aids are shown as aids only."
        )
        return [
            *story,
            self.table(rows, [22 * mm, self.width - 36 * mm, 14 * mm], header=True),
            self.para(_text(aids), "small"),
        ]

    def artifacts(self) -> list:
        pictures = [(entry, a) for entry in self.pack.findings for a in entry.artifacts]
        if not pictures:
            return []
        story: list = [self.h2(_("Where the buyer's photo differs"))]
        for entry, artifact in pictures:
            caption = artifact.artifact.display_caption or artifact.artifact.name
            story.append(
                KeepTogether(
                    [
                        self.picture(artifact.packed.data, 95 * mm),
                        self.para(f"{_text(caption)} {_note(f'({entry.finding.code})')}"),
                        self.para(
                            f"{_text(artifact.packed.path)} · SHA-256: "
                            f"{_hash(artifact.packed.sha256)}",
                            "small",
                        ),
                        Spacer(1, 6),
                    ]
                )
            )
        return story

    def photos(self) -> list:
        roles = {
            "buyer": _("Photo sent by the buyer"),
            "merchant": _("The merchant's counter-evidence"),
            "listing": _("The merchant's listing photo"),
            "packing": _("The merchant's packing photo"),
        }
        about = _(
            "Display copies are re-encoded without any metadata (no GPS position, no camera "
            "data). Each is named by the SHA-256 of the original file as it was uploaded; "
            "the platform keeps that original."
        )
        story: list = [self.h2(_("The photos (display copies)")), self.para(_text(about), "small")]
        for entry in self.pack.evidence:
            original = _("SHA-256 of the original file")
            lines: list = [
                self.para(f"<b>{_text(roles[entry.role])}</b>"),
                self.para(f"{_text(original)}: {_hash(entry.file.sha256)}", "small"),
            ]
            verdict = _verdict_entry(entry.file)
            if verdict:
                lines.append(
                    self.para(
                        f"<b>{_text(verdict['label'])}</b> · {_text(verdict['statement'])}", "small"
                    )
                )
            if entry.packed:
                copy = _("SHA-256 of this copy")
                lines.insert(0, self.picture(entry.packed.data, 90 * mm))
                lines.append(
                    self.para(
                        f"{_text(entry.packed.path)} · {_text(copy)}: {_hash(entry.packed.sha256)}",
                        "small",
                    )
                )
            else:
                missing = _(
                    "No display copy: the file could not be read as a photo, or it is still "
                    "being checked."
                )
                lines.append(self.para(_text(missing), "small"))
            story.append(KeepTogether([*lines, Spacer(1, 8)]))
        return story

    def history(self) -> list:
        pack = self.pack
        lines = timeline(
            pack.events, for_merchant=pack.for_merchant, shop_name=self.claim.merchant.name
        )
        rows = []
        for line in lines:
            what = _text(line["what"])
            if line["to"]:
                what += f" → <b>{_text(line['to'])}</b>"
            if line["reason"]:
                what += "<br/>" + _note(line["reason"])
            rows.append(
                [
                    self.para(_text(_when(line["at"])), "small"),
                    self.para(_text(line["who"]), "small"),
                    self.para(what),
                ]
            )
        story: list = [self.h2(_("History"))]
        if rows:
            story.append(self.table(rows, [32 * mm, 30 * mm, self.width - 62 * mm]))
        if pack.events:
            head = pack.events[-1]
            chain = _("Audit chain: the claim's latest event is #%(seq)s, with hash") % {
                "seq": head.seq
            }
            story.append(self.para(f"{_text(chain)} {_hash(head.hash)}", "small"))
        return story

    def custody(self) -> list:
        pack = self.pack
        about = _(
            "Every upload of the files in this pack, every file the automated checks gave "
            "up on, every download of an original and every earlier export of this pack, "
            "as the platform's hash-chained audit log recorded them (event number, time)."
        )
        story: list = [self.h2(_("Chain of custody")), self.para(_text(about), "small")]
        if not pack.custody:
            return [*story, self.para(_text(_("No files and no exports yet.")))]
        rows = [
            [
                self.para(_text(label), "small")
                for label in (_("When"), _("Who"), _("What · file · SHA-256"))
            ]
        ]
        for event in pack.custody:
            data = event.data or {}
            if event.evidence_id is None:
                where = _("the evidence pack (ZIP)")
            else:
                where = pack.path_of(event.evidence_id) or f"#{event.evidence_id}"
            what = _text(CUSTODY_LABELS.get(event.action, event.action))
            if data.get("matches_upload") is False:
                what += "<br/>" + _note(_("Not the bytes that were uploaded."))
            what += f"<br/>{_note(where)}<br/>{_hash(data.get('sha256') or '—')}"
            rows.append(
                [
                    self.para(_text(f"#{event.seq} · {_when(event.created_at)}"), "small"),
                    self.para(_text(pack.custody_by(event)), "small"),
                    self.para(what),
                ]
            )
        widths = [32 * mm, 30 * mm, self.width - 62 * mm]
        return [*story, self.table(rows, widths, header=True)]

    def credit(self) -> list:
        pack, credit = self.pack, self.pack.credit
        story: list = [self.h2(_("Buyer credit"))]
        if credit.tier:
            crossed = _(
                "Fraud threshold crossed: the amount this buyer sought on the platform with "
                "evidence a reviewer confirmed as forged has reached the Criminal Law art. 266 "
                "tier %(tier)s (from ¥%(limit)s)."
            ) % {
                "tier": selectors.FRAUD_TIER_LABELS[credit.tier],
                "limit": f"{_tier_limit(credit.tier):,.0f}",
            }
            story.append(self.para(_text(crossed), "flag"))
        else:
            below = _(
                "No fraud tier crossed: the amount this buyer sought with evidence a reviewer "
                "confirmed as forged is below 3,000 CNY (an administrative matter, if any)."
            )
            story.append(self.para(_text(below)))
        if not pack.for_merchant:
            claims = _("%(claims)s (%(open)s open)") % {
                "claims": credit.claims,
                "open": credit.open_claims,
            }
            story.append(
                self.facts(
                    [
                        (_("Refund-only claims"), _text(claims)),
                        (
                            _("Refunded / denied"),
                            _text(f"{credit.refunded_claims} / {credit.denied_claims}"),
                        ),
                        (_("Confirmed forgeries"), _text(credit.confirmed_forgeries)),
                        (_("Amount refunded"), _text(f"¥{credit.amount_refunded:.2f}")),
                        (
                            _("Sought with forged evidence"),
                            _text(f"¥{credit.amount_in_forged_claims:.2f}"),
                        ),
                    ]
                )
            )
        against = _("This buyer's claims against %(shop)s") % {"shop": self.claim.merchant.name}
        story.append(self.para(_text(against), "h3"))
        for other in pack.claims_against_shop:
            result = other.get_outcome_display() if other.outcome else other.get_status_display()
            text = f"#{other.pk} · {_when(other.created_at)} · ¥{other.amount} · {result}"
            if other.confirmed_forgery:
                text += " · " + _("confirmed forgery")
            story.append(self.para(_text(text), "small"))
        return story

    def how_to_verify(self) -> list:
        how = _(
            "manifest.json lists every file in this pack with its SHA-256 and its size; "
            "recompute them (for example with “sha256sum” or “certutil -hashfile FILE "
            "SHA256”) to check that nothing was changed. Each photo is also named by "
            "the SHA-256 of its original file: on a lawful request the platform can "
            "produce the byte-identical original, whose SHA-256 must equal that value. "
            "The platform records every export of this pack, with the SHA-256 of the "
            "ZIP file, in the claim's hash-chained audit log, so it can confirm that a "
            "pack is one it issued, when and to whom."
        )
        return [self.h2(_("How to verify this pack")), self.para(_text(how))]
