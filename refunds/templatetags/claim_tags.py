"""Small presentation helpers for claim pages: risk bands, countdowns, translated reasons."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

register = template.Library()

# The scoring thresholds' defaults (evidence.scoring); views pass the database values.
DEFAULT_SUSPICIOUS, DEFAULT_HIGH = 40, 70
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4, "error": 5}

BAND_LABELS = {
    "pending": _("Checks running"),
    "low": _("Low risk"),
    "medium": _("Suspicious"),
    "high": _("High risk"),
}
BAND_SUMMARIES = {
    "pending": _("The buyer's photos are still being checked."),
    "low": _("The automated checks found no strong sign of editing."),
    "medium": _("Some signs suggest the buyer's photo was edited. Look closely."),
    "high": _("The buyer's photo is very likely edited, generated or copied."),
}


def risk_band(score, suspicious: int = DEFAULT_SUSPICIOUS, high: int = DEFAULT_HIGH) -> str:
    if score is None:
        return "pending"
    if score >= high:
        return "high"
    if score >= suspicious:
        return "medium"
    return "low"


@register.inclusion_tag("refunds/partials/risk_badge.html", takes_context=True)
def risk_badge(context, score, large=False):
    thresholds = context.get("risk_thresholds") or (DEFAULT_SUSPICIOUS, DEFAULT_HIGH)
    band = risk_band(score, *thresholds)
    return {"score": score, "band": band, "label": BAND_LABELS[band], "large": large}


@register.simple_tag(takes_context=True)
def risk_summary(context, score) -> str:
    thresholds = context.get("risk_thresholds") or (DEFAULT_SUSPICIOUS, DEFAULT_HIGH)
    return str(BAND_SUMMARIES[risk_band(score, *thresholds)])


@register.simple_tag(takes_context=True)
def risk_band_of(context, score) -> str:
    thresholds = context.get("risk_thresholds") or (DEFAULT_SUSPICIOUS, DEFAULT_HIGH)
    return risk_band(score, *thresholds)


def time_left(deadline: dt.datetime | None, now: dt.datetime | None = None) -> tuple[str, str]:
    """(text, urgency) for a deadline: “还剩 31 小时” / “31 hours left”."""
    if deadline is None:
        return "", ""
    now = now or timezone.now()
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        hours = int(-seconds // 3600)
        if hours < 1:
            return gettext("Deadline just passed"), "overdue"
        return (
            ngettext("Overdue by %(hours)s hour", "Overdue by %(hours)s hours", hours)
            % {"hours": hours},
            "overdue",
        )
    hours = int(seconds // 3600)
    urgency = "urgent" if hours < 12 else "soon" if hours < 24 else "ok"
    if hours < 1:
        return gettext("Less than an hour left"), "urgent"
    return ngettext("%(hours)s hour left", "%(hours)s hours left", hours) % {
        "hours": hours
    }, urgency


@register.inclusion_tag("refunds/partials/countdown.html")
def countdown(deadline):
    text, urgency = time_left(deadline)
    return {"text": text, "urgency": urgency, "deadline": deadline}


def lease_left(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> tuple[str, str]:
    """(text, urgency) for a lease: when the claim goes back to its queue unless its
    holder works on it."""
    if expires_at is None:
        return "", ""
    seconds = (expires_at - (now or timezone.now())).total_seconds()
    if seconds <= 0:
        return gettext("Lease over: back to the queue at the next sweep"), "overdue"
    minutes = max(1, int(seconds // 60))
    text = gettext("Returns to the queue at %(time)s without activity (%(minutes)s min left)") % {
        "time": time_format(timezone.localtime(expires_at), "H:i"),
        "minutes": minutes,
    }
    return text, "urgent" if minutes < 10 else "ok"


@register.inclusion_tag("refunds/partials/lease.html")
def lease(expires_at):
    text, urgency = lease_left(expires_at)
    return {"text": text, "urgency": urgency, "expires_at": expires_at}


@register.filter
def reason_text(reason: dict) -> str:
    """A risk reason ({message: msgid, params}) in the active language."""
    message = reason.get("message") or ""
    text = gettext(message) if message else ""
    params = reason.get("params") or {}
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        return text


@register.filter
def translate_value(value) -> str:
    """Translate data that carries an English msgid (queue names and descriptions)."""
    return gettext(value) if value else ""


@register.filter
def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 9)


@register.filter
def duration_hours(value: dt.timedelta | None) -> float | None:
    """A duration in hours (for ``floatformat``); None stays None."""
    return value.total_seconds() / 3600 if value is not None else None
