"""What the merchant and reviewer pages share: access decorators, the audit timeline in
words, the risk thresholds."""

from __future__ import annotations

import io
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from refunds import policy

# What each audit action means, in words (actions are written by refunds.services).
ACTION_LABELS = {
    "claim_submitted": _("The buyer submitted the claim"),
    "checks_started": _("Automated checks started"),
    "checks_completed": _("Automated checks finished"),
    "rescored": _("Risk score updated after new evidence"),
    "merchant_accepted": _("The merchant accepted the claim"),
    "merchant_contest": _("The merchant contested the claim"),
    "merchant_offer_return": _("The merchant offered a return"),
    "merchant_offer_partial": _("The merchant offered a partial refund"),
    "merchant_deadline_missed": _("The merchant did not answer in time"),
    "buyer_evidence_requested": _("A reviewer asked the buyer for more evidence"),
    "buyer_deadline_missed": _("The buyer sent no more evidence in time"),
    "assigned": _("A reviewer took the claim"),
    "released": _("A reviewer returned the claim to the queue"),
    "decided": _("A reviewer decided the claim"),
    "appealed": _("The decision was appealed"),
    "appeal_decided": _("A second reviewer decided the appeal"),
    "closed": _("The claim was closed"),
    "withdrawn": _("The buyer withdrew the claim"),
    "evidence_pack_exported": _("An evidence pack of the claim was exported"),
    "queue_changed": _("The claim was moved to another review queue"),
    "ai_suspect_flagged": _("The merchant flagged the buyer's photo as possibly AI-made"),
}
# Actions of the merchant's side: a merchant's timeline names its shop for these.
MERCHANT_ACTIONS = frozenset(
    {
        "merchant_accepted",
        "merchant_contest",
        "merchant_offer_return",
        "merchant_offer_partial",
        "ai_suspect_flagged",
    }
)
# Reasons the system writes in English; shown translated.
SYSTEM_REASONS = {
    "suspicious evidence: longer response window": _(
        "Suspicious evidence: you get a longer time to answer"
    ),
    "no evidence files to check": _("No evidence files to check"),
    "evidence waiting for automated checks": _("Evidence waiting for automated checks"),
    "requested evidence checked": _("The requested evidence has been checked"),
    "the merchant did not respond before the deadline": _(
        "The merchant did not respond before the deadline"
    ),
    "the buyer sent no further evidence before the deadline": _(
        "The buyer sent no further evidence before the deadline"
    ),
    "decision final: appeal window over": _("Decision final: the appeal window is over"),
    "ai_suspect_flagged": _("The shop suspects the buyer's photo is AI-made"),
}
# Seeded queue names and descriptions (data, translated when shown): keep their msgids.
QUEUE_MSGIDS = (
    gettext_noop("Appeals"),
    gettext_noop("Decided claims appealed by a party; a second reviewer decides."),
    gettext_noop("Likely forgery"),
    gettext_noop("Strong signs the evidence was edited, generated or copied."),
    gettext_noop("High value"),
    gettext_noop("Claims of 3,000 CNY or more (criminal-law threshold)."),
    gettext_noop("Standard"),
    gettext_noop("Everything else."),
    gettext_noop("Forensic"),
    gettext_noop(
        "Claims whose shop suspects the buyer's photo is AI-made; checked by a reviewer"
        " trained in image forensics."
    ),
    # refunds/0006 (review workflow)
    gettext_noop("Decided claims appealed by a party; a senior reviewer decides."),
    gettext_noop("Legal"),
    gettext_noop(
        "Buyers past a Criminal Law art. 266 fraud tier (3,000 / 30,000 / 500,000 CNY sought "
        "with evidence a reviewer confirmed as forged)."
    ),
    gettext_noop("Repeat claimant"),
    gettext_noop("Buyers with many recent refund-only claims."),
)


def reviewer_required(view):
    """Signed-in platform reviewers only; everybody else is told the page does not exist."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not policy.is_reviewer(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def evidence_pack_response(claim, data: bytes) -> FileResponse:
    """The claim's evidence pack as a download nobody caches (it holds the evidence)."""
    from refunds.evidence_pack import pack_filename

    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=pack_filename(claim),
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def risk_thresholds() -> tuple[int, int]:
    from evidence.scoring import thresholds

    values = thresholds()
    return values["suspicious"], values["high-risk"]


def timeline(events, *, for_merchant: bool, shop_name: str = "") -> list[dict]:
    """Audit events as lines a person reads. Merchants see roles, not reviewers' names;
    their own shop's acts are "Your shop", or ``shop_name`` when given (a document read by
    others, such as the evidence pack)."""
    from refunds.models import ClaimStatus

    lines = []
    for event in events:
        actor = event.actor_label
        if actor.startswith("system:"):
            who = _("Claimlens")
        elif actor.startswith("platform:"):
            who = _("Platform")
        elif for_merchant and (
            event.action in MERCHANT_ACTIONS
            or (event.data or {}).get("audience") == "merchant"
            or (event.data or {}).get("by") == "merchant"
        ):
            who = shop_name or _("Your shop")
        elif for_merchant:
            who = _("Platform reviewer")
        else:
            who = actor.removeprefix("user:")
        reason = event.reason
        if reason in SYSTEM_REASONS:
            reason = SYSTEM_REASONS[reason]
        lines.append(
            {
                "at": event.created_at,
                "who": who,
                "what": ACTION_LABELS.get(event.action, event.action),
                "to": ClaimStatus(event.to_status).label if event.to_status else "",
                "reason": reason,
            }
        )
    return lines
