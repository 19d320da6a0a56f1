"""Errors as RFC 9457 problem documents, translated once, here, at the API's edge.

Domain exceptions (``ClaimError`` subclasses, ``EvidenceRejected``) keep no HTTP
knowledge; this module maps them to a status and a stable ``code``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import redis.exceptions
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError as BrokerOperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from evidence.services import EvidenceRejected
from refunds.exceptions import (
    AlreadyExists,
    ClaimError,
    ClaimValidationError,
    IllegalTransition,
    NotAllowed,
    NothingToReview,
)

log = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:claimlens:problem:"

# EvidenceRejected codes that are not plain "bad request".
EVIDENCE_STATUS = {
    "file_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "too_many_pixels": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "unsupported_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "undecodable": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "claim_closed": status.HTTP_409_CONFLICT,
    "duplicate_file": status.HTTP_409_CONFLICT,
}

TITLES = {
    400: gettext_lazy("Bad request"),
    401: gettext_lazy("Not authenticated"),
    403: gettext_lazy("Forbidden"),
    404: gettext_lazy("Not found"),
    405: gettext_lazy("Method not allowed"),
    406: gettext_lazy("Not acceptable"),
    409: gettext_lazy("Conflict"),
    413: gettext_lazy("Request too large"),
    415: gettext_lazy("Unsupported media type"),
    429: gettext_lazy("Too many requests"),
    500: gettext_lazy("Server error"),
    503: gettext_lazy("Service unavailable"),
}

# A service the request needs cannot be reached (the database, the Redis cache, the
# broker): the client should retry later, not report a bug.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    BrokerOperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def is_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, UNAVAILABLE_ERRORS)


def retry_after_seconds() -> int:
    return settings.RETRY_AFTER_SECONDS


class ProblemError(exceptions.APIException):
    """An API-level error with an explicit status and code (idempotency, size limits);
    ``retry_after`` (seconds) becomes the Retry-After header."""

    def __init__(
        self, detail: str, *, code: str, status_code: int, retry_after: int | None = None
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.retry_after = retry_after


class DomainProblem(exceptions.APIException):
    """A domain exception with the HTTP status chosen for it at the edge."""

    def __init__(self, detail: str, *, code: str, status_code: int) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code


def translate_domain_exception(exc: Exception) -> Exception:
    if isinstance(exc, EvidenceRejected):
        return DomainProblem(
            exc.message, code=exc.code, status_code=EVIDENCE_STATUS.get(exc.code, 400)
        )
    if isinstance(exc, IllegalTransition):
        return DomainProblem(exc.message, code="illegal_transition", status_code=409)
    if isinstance(exc, NotAllowed):
        return DomainProblem(exc.message, code="not_allowed", status_code=403)
    if isinstance(exc, NothingToReview):
        return DomainProblem(exc.message, code="nothing_to_review", status_code=409)
    if isinstance(exc, AlreadyExists):
        return DomainProblem(exc.message, code="already_exists", status_code=409)
    if isinstance(exc, ClaimValidationError):
        return DomainProblem(exc.message, code="invalid", status_code=400)
    if isinstance(exc, ClaimError):
        return DomainProblem(exc.message, code="not_possible", status_code=400)
    return exc


def problem(
    status_code: int,
    *,
    code: str,
    detail: str,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str = "",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": str(title or TITLES.get(status_code, _("Error"))),
        "status": status_code,
        "detail": str(detail),
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return body


def flatten_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error dict as a flat list of {field, message, code}; ``field`` is a
    JSON-pointer-like path (``items.0.unit_price``), empty for non-field errors."""
    out: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            out.extend(flatten_errors(value, path))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
            else:
                out.extend(flatten_errors(value, prefix))
    else:
        out.append(
            {
                "field": prefix,
                "message": str(detail),
                "code": str(getattr(detail, "code", None) or "invalid"),
            }
        )
    return out


def _unavailable_detail() -> str:
    return _("The service is temporarily unavailable. Please retry in a moment.")


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    instance = request.path if request is not None else ""
    if is_unavailable(exc):
        # The details (hosts, ports, paths) are for the log, not for the client.
        log.warning("service unavailable on %s", instance or "?", exc_info=exc)
        return Response(
            problem(
                503, code="service_unavailable", detail=_unavailable_detail(), instance=instance
            ),
            status=503,
            headers={"Retry-After": str(retry_after_seconds())},
            content_type=PROBLEM_CONTENT_TYPE,
        )
    exc = translate_domain_exception(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's handler500 answers (as a problem under /api/)
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        body = problem(
            response.status_code,
            code="validation_error",
            detail=_("The request has invalid fields; see “errors”."),
            errors=errors,
            instance=instance,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = problem(response.status_code, code=str(code), detail=str(detail), instance=instance)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


# --- Django-level handlers: 400/403/404/500 outside DRF views, JSON under /api/ ---------


def _json_problem(request, status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(
        problem(status_code, code=code, detail=detail, instance=request.path),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler400(request, exception=None):
    if _is_api(request):
        return _json_problem(request, 400, "bad_request", _("The request is malformed."))
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return _json_problem(
            request, 403, "permission_denied", _("You are not allowed to do that.")
        )
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def handler404(request, exception=None):
    if _is_api(request):
        return _json_problem(request, 404, "not_found", _("Not found."))
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    # Called while the exception is being handled: an unreachable service is a 503.
    if is_unavailable(sys.exc_info()[1]):
        return _service_unavailable(request)
    if _is_api(request):
        return _json_problem(
            request, 500, "server_error", _("Something went wrong on our side; it was logged.")
        )
    from django.views.defaults import server_error

    return server_error(request)


def _service_unavailable(request) -> HttpResponse:
    """503 with Retry-After: a problem document under /api/, else a plain page that
    needs neither the database nor the session."""
    if _is_api(request):
        response = _json_problem(request, 503, "service_unavailable", _unavailable_detail())
    else:
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(retry_after_seconds())
    return response
