"""Login throttling with django-axes: what it cannot decide from settings alone.

Lockouts are by user name *and* client address together (``AXES_LOCKOUT_PARAMETERS``):
wrong passwords from one address lock that user name from that address only, so an
attacker cannot lock every merchant out by guessing from one machine, and the merchant
still logs in from their own network. The price is that an attacker with many addresses
gets ``AXES_FAILURE_LIMIT`` guesses per address per cool-off (docs/deployment.md).
The address is the client's as the trusted proxies saw it (``client_ip``): behind nginx
every request comes from the proxy's own address, which would turn the combination into
"user name only".
"""

from __future__ import annotations

from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext, ngettext


def client_ip(request) -> str:
    """The client's address: ``REMOTE_ADDR``, or with ``TRUSTED_PROXY_COUNT`` proxies in
    front, the ``X-Forwarded-For`` entry the outermost of them appended. Entries left of
    it were written by the client and are ignored."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    if not forwarded:
        return remote
    return forwarded[max(0, len(forwarded) - hops)]


def lockout_message(request) -> str:
    minutes = max(1, int(get_cool_off(request).total_seconds() // 60))
    return ngettext(
        "This account is locked for %(minutes)s minute after too many failed log-ins from "
        "your network. Try again later, or ask an administrator to unlock it.",
        "This account is locked for %(minutes)s minutes after too many failed log-ins from "
        "your network. Try again later, or ask an administrator to unlock it.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """The login page it was (web or admin), refusing with the lockout message (429)."""
    message = lockout_message(request)
    username = get_client_username(request, credentials) or ""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith(reverse("admin:login")):
        # Unbound (nothing is authenticated again), with the refusal as its error.
        form = AdminAuthenticationForm(request, initial={"username": username})
        form.cleaned_data = {}
        form.add_error(None, message)
        context = {
            **admin.site.each_context(request),
            "form": form,
            "title": gettext("Log in"),
            "app_path": request.get_full_path(),
            "username": username,
        }
        return render(request, "admin/login.html", context, status=status)
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout_message": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=status)
