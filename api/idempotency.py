"""``Idempotency-Key`` on every POST.

The first request with a key inserts an ``in_progress`` record in its own committed
transaction *before* doing anything; the unique (client, key) constraint makes that
insert the lock. When the request ends its response (status and body) is stored and
replayed for every later request with the same key and the same body. A different body
is a 409; a duplicate arriving while the first still runs is a 409 saying so. Server
errors release the key, so the client may retry. Records live ``IDEMPOTENCY_TTL``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.exceptions import ProblemError
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
REPLAY_HEADER = "Idempotent-Replayed"


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "API_IDEMPOTENCY_TTL_HOURS", 24))


def _canonical(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "sha256": digest.hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(request) -> str:
    """Method, path and body (files by content) of a request, as one hash."""
    data = request.data
    if hasattr(data, "lists"):  # QueryDict / MultiValueDict: keep every value
        data = {key: values for key, values in data.lists()}
    payload = json.dumps(
        [request.method, request.path, _canonical(data)],
        cls=JSONEncoder,
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _claim(client, key: str, request) -> tuple[IdempotencyRecord, bool]:
    """Insert the record (True) or return the one already there (False)."""
    print_ = fingerprint(request)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                client=client,
                key=key,
                method=request.method,
                path=request.path[:500],
                request_fingerprint=print_,
            )
        return record, True
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if existing is None:  # released between our insert and our read: try once more
            return _claim(client, key, request)
        if existing.created_at < timezone.now() - ttl():
            IdempotencyRecord.objects.filter(pk=existing.pk).delete()
            return _claim(client, key, request)
        if existing.request_fingerprint != print_:
            raise ProblemError(
                _("This Idempotency-Key was already used with a different request."),
                code="idempotency_key_reused",
                status_code=409,
            ) from None
        return existing, False


def _replay(record: IdempotencyRecord) -> Response:
    if record.status != IdempotencyRecord.Status.COMPLETED:
        raise ProblemError(
            _("A request with this Idempotency-Key is still in progress; retry shortly."),
            code="idempotency_in_progress",
            status_code=409,
        )
    response = Response(
        record.response_body,
        status=record.response_status,
        content_type=record.response_content_type or None,
    )
    response[REPLAY_HEADER] = "true"
    return response


def _store(record: IdempotencyRecord, response: Response) -> None:
    body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.COMPLETED,
        response_status=response.status_code,
        response_body=body,
        response_content_type=response.content_type or "",
        completed_at=timezone.now(),
    )


def idempotent(handler):
    """Decorate a POST handler of an API view (after authentication has run)."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY_PATTERN.match(key):
            raise ProblemError(
                _("The Idempotency-Key must be 1 to 255 printable ASCII characters."),
                code="idempotency_key_invalid",
                status_code=400,
            )
        record, is_new = _claim(request.auth, key, request)
        if not is_new:
            return _replay(record)
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:
            try:
                response = view.handle_exception(exc)
            except Exception:
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
                raise
        if response.status_code >= 500 or response.status_code == 429:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
        else:
            _store(record, response)
        return response

    return wrapper


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete records older than the TTL; returns how many."""
    cutoff = (now or timezone.now()) - ttl()
    deleted, _detail = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
