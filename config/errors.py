"""Error pages: in the site's design and the visitor's language, with a way back home;
RFC 9457 problem documents under /api/ (``api.exceptions``). ``config/urls.py`` names
these as Django's handlers, ``CSRF_FAILURE_VIEW`` the last one.

They say what happened and what to do, never why inside: no exception text, no
traceback (Django logs those), with ``DEBUG`` on or off.
"""

from __future__ import annotations

import logging
import sys

from django.http import HttpResponseServerError
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template import loader

from api import exceptions as api_exceptions

log = logging.getLogger(__name__)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    if _is_api(request):
        return api_exceptions.handler400(request, exception)
    return render(request, "errors/400.html", status=400)


def permission_denied(request, exception=None):
    if _is_api(request):
        return api_exceptions.handler403(request, exception)
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    if _is_api(request):
        return api_exceptions.handler404(request, exception)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    """Rendered without the context processors: whatever failed (the database, the
    session) must not fail this page too. The language switch still gets its token.
    A database, cache or broker out of reach is a 503 (``api.exceptions``), pages too."""
    if _is_api(request) or api_exceptions.is_unavailable(sys.exc_info()[1]):
        return api_exceptions.handler500(request)
    try:
        html = loader.get_template("errors/500.html").render(
            {"request": request, "csrf_token": get_token(request)}
        )
    except Exception:  # the last resort must answer, whatever broke
        log.exception("the 500 page could not be rendered")
        return HttpResponseServerError("<h1>Server Error (500)</h1>", content_type="text/html")
    return HttpResponseServerError(html)


def csrf_failure(request, reason=""):
    """A form sent without its valid CSRF token (an old page, cookies off, another site)."""
    if _is_api(request):
        return api_exceptions.handler403(request)
    return render(request, "errors/csrf_failure.html", status=403)
