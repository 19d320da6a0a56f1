"""The bell, the list of notifications, marking them read, the e-mail preferences.
A notification is its recipient's only: anybody else's is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from notifications import selectors, services, texts
from notifications.forms import PreferencesForm


@login_required
@require_GET
def bell(request):
    """The header's bell with the unread count (an htmx partial, so the pages that do
    not show it pay no query for it)."""
    return render(
        request,
        "notifications/partials/bell.html",
        {"unread": selectors.unread_count(user=request.user)},
    )


@login_required
@require_GET
def notification_list(request):
    before = request.GET.get("before", "")
    rows = selectors.notifications_for_user(
        user=request.user, before=int(before) if before.isdigit() else None
    )
    shown = rows[: selectors.LIST_SIZE]
    return render(
        request,
        "notifications/list.html",
        {
            "items": [(n, texts.title(n)) for n in shown],
            "older": shown[-1].pk if len(rows) > selectors.LIST_SIZE else None,
            "unread": selectors.unread_count(user=request.user),
        },
    )


@login_required
@require_POST
def notification_open(request, notification_id: int):
    """Mark the notification read and go to its claim."""
    notification = services.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    if notification.claim_id:
        return redirect("merchant_claim", claim_id=notification.claim_id)
    return redirect("notifications_list")


@login_required
@require_POST
def notifications_read_all(request):
    services.notifications_mark_all_read(user=request.user)
    messages.success(request, _("Every notification is marked read."))
    return redirect("notifications_list")


@login_required
def preferences(request):
    current = selectors.preferences_for(user=request.user)
    form = PreferencesForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        services.preferences_update(user=request.user, **form.cleaned_data)
        messages.success(request, _("Your notification preferences were saved."))
        return redirect("notification_preferences")
    return render(request, "notifications/preferences.html", {"form": form})
