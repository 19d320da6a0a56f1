"""Request and response rules of the web pages that no single view owns.

* ``RequestBodyLimitMiddleware``: a web form whose declared body is over the limit is
  refused with 413 from its ``Content-Length``, before anything (the CSRF check, the
  form) reads it. ``/api/`` keeps its own check and problem document (``api.views``).
* ``PrivatePagesMiddleware``: whatever a signed-in user is sent (claim pages, evidence
  packs, evidence files) is ``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from evidence.imaging import MAX_BYTES

API_PREFIX = "/api/"
MB = 1024 * 1024


def _declared_length(request) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # what Django reads such a body as


class RequestBodyLimitMiddleware:
    """Multipart bodies (photos) up to ``UPLOAD_MAX_REQUEST_BYTES``, the API's multipart
    limit; other bodies up to ``DATA_UPLOAD_MAX_MEMORY_SIZE``. It answers while the request
    passes in, before any middleware's ``process_view`` (the CSRF check is the first to
    read a body) and before the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            length = _declared_length(request)
            multipart = request.content_type == "multipart/form-data"
            limit = (
                settings.UPLOAD_MAX_REQUEST_BYTES
                if multipart
                else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            )
            if length > limit:
                return self._too_large(request, length=length, limit=limit, multipart=multipart)
        return self.get_response(request)

    def _too_large(self, request, *, length: int, limit: int, multipart: bool):
        if multipart:
            message = _(
                "The photos you sent add up to %(size)s MB; at most %(limit)s MB can be sent "
                "at once, and %(per_file)s MB per photo. Go back and send fewer or smaller "
                "photos."
            ) % {
                "size": math.ceil(length / MB),
                "limit": limit // MB,
                "per_file": MAX_BYTES // MB,
            }
        else:
            message = _("What you sent is larger than %(limit)s MB. Go back and send less.") % {
                "limit": max(1, limit // MB)
            }
        referer = request.META.get("HTTP_REFERER", "")
        same_site = url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        context = {"message": message, "back_url": referer if same_site else reverse("home")}
        return render(request, "413.html", context, status=413)


class PrivatePagesMiddleware:
    """No shared or browser cache keeps what a signed-in user was sent; a response that
    already says ``no-store`` (Django's ``never_cache``) is left as it is."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if "no-store" not in response.get("Cache-Control", ""):
                response["Cache-Control"] = "private, no-store"
        return response
