"""The reviewers' statistics page and its CSV export: parse the filters, read the
rollups (:mod:`reporting.selectors`), render. Who may see them: ``refunds.policy``."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from refunds import policy
from refunds.models import Outcome
from reporting import charts, selectors
from reporting.forms import PRESETS, StatisticsFilterForm

OUTCOME_FILLS = {
    "refund_approved": "#2e7d32",
    "refund_denied": "#c62828",
    "return_required": "#ef6c00",
    "partial_refund": "#1565c0",
}


def _figures(request):
    """The filter form and the figures it selects, for a reviewer; 404 for anybody else
    (the page does not exist for them)."""
    if not policy.can_view_statistics(request.user):
        raise Http404
    platform_id = policy.statistics_platform_id(request.user)
    form = StatisticsFilterForm(
        request.GET or None, merchants=selectors.shops_for_statistics(platform_id=platform_id)
    )
    start, end = form.period()
    shop = form.shop()
    stats = selectors.statistics_for(
        platform_id=platform_id, start=start, end=end, merchant_id=shop.pk if shop else None
    )
    return form, shop, stats


@login_required
def statistics(request):
    form, shop, stats = _figures(request)
    labels = [day.day.isoformat() for day in stats.days]
    outcome_chart = charts.stacked_columns(
        key="outcomes",
        title=_("Claims decided per day, by outcome"),
        desc=_("Decisions of reviewers, rules and shops per day from %(start)s to %(end)s.")
        % {"start": stats.start, "end": stats.end},
        labels=labels,
        series=[
            charts.Series(
                str(Outcome(o).label), OUTCOME_FILLS[o], [d.decided.get(o, 0) for d in stats.days]
            )
            for o in OUTCOME_FILLS
        ],
    )
    signal_chart = charts.share_bars(
        key="signals",
        title=_("Share of claims with each forgery signal"),
        desc=_("Percentage of the period's claims whose buyer evidence shows the signal."),
        rows=[
            (s.code, s.share, f"{s.code}: {s.claims}") for s in stats.signals if s.kind == "finding"
        ],
        fill="#6a1b9a",
    )
    compliance_chart = charts.share_bars(
        key="compliance",
        title=_("Answers and decisions in time"),
        desc=_(
            "Shops that answered within their window; reviewer decisions within the queue's SLA."
        ),
        rows=[
            (
                _("Shops answered in time"),
                stats.merchant_answered_share,
                f"{stats.merchant_answered} / {stats.merchant_answered + stats.merchant_missed}",
            ),
            (
                _("Decided within the SLA"),
                stats.sla_share,
                f"{stats.within_sla} / {stats.decisions}",
            ),
            *[
                (q.name or _("No queue"), q.sla_share, f"{q.within_sla} / {q.decisions}")
                for q in stats.queues
            ],
        ],
        fill="#00695c",
    )
    return render(
        request,
        "reporting/statistics.html",
        {
            "form": form,
            "shop": shop,
            "stats": stats,
            "presets": PRESETS,
            "outcome_chart": outcome_chart,
            "signal_chart": signal_chart,
            "compliance_chart": compliance_chart,
            "outcome_labels": [(o, Outcome(o).label) for o in OUTCOME_FILLS],
            "day_rows": _day_rows(stats),
            "shop_options": _shop_options(form, shop),
            "merchant_query": f"&merchant={shop.pk}" if shop else "",
            "active_preset": _active_preset(request, stats),
            "refresh_minutes": round(stats.refresh_seconds / 60),
            "show_review_nav": True,
        },
    )


def _day_rows(stats):
    """The per-day table's rows (up to three years of them: built here, not by a loop in
    the template, for the same reason as the charts' markup). Numbers and ISO dates only:
    nothing to escape."""
    rows = []
    for day in stats.days:
        decided = "".join(f'<td class="num">{n}</td>' for n in day.decided.values())
        rows.append(
            f'<tr><td class="nowrap">{day.day.isoformat()}</td><td class="num">{day.claims}</td>'
            f'{decided}<td class="num">{day.within_sla} / {day.decisions}</td>'
            f'<td class="num">¥{day.money_protected:.2f}</td></tr>'
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - integers, dates and amounts only


def _shop_options(form, shop):
    """The shop filter's options (a platform's ~200 shops: the select widget's template
    per option would cost more than the rest of the page)."""
    chosen = shop.pk if shop else None
    options = [format_html('<option value="">{}</option>', form.fields["merchant"].empty_label)]
    options += [
        format_html(
            '<option value="{}"{}>{}</option>', pk, " selected" if pk == chosen else "", name
        )
        for pk, name in form.fields["merchant"].queryset.values_list("pk", "name")
    ]
    return mark_safe("".join(options))  # noqa: S308 - every option is format_html'd


def _active_preset(request, stats) -> int | None:
    """The preset the page shows, when no explicit date was chosen."""
    if request.GET.get("start") or request.GET.get("end"):
        return None
    return stats.period_days if stats.period_days in PRESETS else None


# Stable English keys (docs/statistics.md, "CSV"): a spreadsheet or a script reads the
# same columns whatever the reviewer's language; names of shops and queues as stored.
CSV_HEADER = ("section", "date", "name", "metric", "value")


@login_required
def statistics_csv(request):
    """The page's figures, one per row (section, date, name, metric, value), in UTF-8
    with a byte-order mark so that Excel reads the Chinese names."""
    _form, shop, stats = _figures(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="claimlens-statistics-{stats.start}-{stats.end}.csv"'
    )
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for row in csv_rows(stats, shop=shop):
        writer.writerow(row)
    return response


def csv_rows(stats: selectors.Statistics, *, shop=None):
    yield ("filter", "", "from", "", stats.start.isoformat())
    yield ("filter", "", "to", "", stats.end.isoformat())
    yield ("filter", "", "shop", "", shop.name if shop else "all")
    yield (
        "filter",
        "",
        "refreshed_at",
        "",
        stats.refreshed_at.isoformat() if stats.refreshed_at else "",
    )
    for day in stats.days:
        date = day.day.isoformat()
        yield ("day", date, "", "claims_submitted", day.claims)
        yield ("day", date, "", "claims_with_signals", day.with_signals)
        yield ("day", date, "", "merchant_answered", day.merchant_answered)
        yield ("day", date, "", "merchant_missed", day.merchant_missed)
        for outcome, count in day.decided.items():
            yield ("day", date, outcome, "decided", count)
        yield ("day", date, "", "reviewer_decisions", day.decisions)
        yield ("day", date, "", "within_sla", day.within_sla)
        yield ("day", date, "", "money_protected_cny", f"{day.money_protected:.2f}")
    for signal in stats.signals:
        name = f"{signal.kind}:{signal.code}"
        yield ("signal", "", name, "claims", signal.claims)
        yield ("signal", "", name, "occurrences", signal.occurrences)
    for queue in stats.queues:
        yield ("queue", "", queue.name, "reviewer_decisions", queue.decisions)
        yield ("queue", "", queue.name, "within_sla", queue.within_sla)
    for reviewer in stats.reviewers:
        for metric in (
            "decisions",
            "appeal_decisions",
            "confirmed_forgeries",
            "within_sla",
            "overturned",
        ):
            yield ("reviewer", "", reviewer.username, metric, getattr(reviewer, metric))
    for outcome, count in stats.decisions_by_outcome.items():
        yield ("total", "", outcome, "reviewer_decisions", count)
    for metric in (
        "claims",
        "with_signals",
        "merchant_answered",
        "merchant_missed",
        "decisions",
        "appeal_decisions",
        "appeals_overturned",
        "automatic",
        "merchant_acceptances",
        "confirmed_forgeries",
        "within_sla",
    ):
        yield ("total", "", "", metric, getattr(stats, metric))
    yield ("total", "", "", "money_protected_cny", f"{stats.money_protected:.2f}")
