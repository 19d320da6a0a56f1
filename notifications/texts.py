"""The words of a notification, in the language active when called (the reader's page, or
the recipient's stored language for an e-mail). Made from the kind, the claim's number,
the shop's name and ``params`` only: nothing of the buyer ever enters them."""

from __future__ import annotations

from django.utils.translation import gettext as _

from notifications.models import Kind, Notification


def title(notification: Notification) -> str:
    number = notification.claim_id
    shop = notification.merchant.name
    params = notification.params or {}
    if notification.kind == Kind.NEW_CLAIM:
        return _("New claim #%(number)s against %(shop)s (¥%(amount)s)") % {
            "number": number,
            "shop": shop,
            "amount": params.get("amount", ""),
        }
    if notification.kind == Kind.DEADLINE_SOON:
        return _("Claim #%(number)s (%(shop)s): your answer is due within 12 hours") % {
            "number": number,
            "shop": shop,
        }
    if notification.kind == Kind.EVIDENCE_REQUESTED:
        return _("Claim #%(number)s (%(shop)s): the reviewer asked the buyer for more evidence") % {
            "number": number,
            "shop": shop,
        }
    if notification.kind == Kind.APPEAL_DECIDED:
        return _("Claim #%(number)s (%(shop)s): the appeal was decided — %(outcome)s") % {
            "number": number,
            "shop": shop,
            "outcome": outcome_label(params.get("outcome", "")),
        }
    return _("Claim #%(number)s (%(shop)s) was decided — %(outcome)s") % {
        "number": number,
        "shop": shop,
        "outcome": outcome_label(params.get("outcome", "")),
    }


def outcome_label(outcome: str) -> str:
    from refunds.models import Outcome

    try:
        return str(Outcome(outcome).label)
    except ValueError:
        return outcome
