"""``Idempotency-Key`` on every POST.

The first request with a key inserts an ``in_progress`` record in its own committed
transaction *before* doing anything; the unique (client, key) constraint makes that
insert the lock. When the request ends its response (status and body) is stored and
replayed for every later request with the same key and the same body. A different body
is a 409; a duplicate arriving while the first still runs is a 409 saying so, with
Retry-After. Server errors release the key, so the client may retry. Records live
``API_IDEMPOTENCY_TTL_HOURS``.

A key is held on a lease (``API_IDEMPOTENCY_LEASE_SECONDS``): when its request died, or
the database failed before the key could be released, the first retry after the lease
takes the key over by compare-and-set on the lease's start (``created_at``), so two
retries never both run. The holder's own writes are compare-and-set on the same value:
a request that lost its lease cannot overwrite or release its successor's record.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.exceptions import ProblemError
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
REPLAY_HEADER = "Idempotent-Replayed"
log = logging.getLogger(__name__)


def ttl() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "API_IDEMPOTENCY_TTL_HOURS", 24))


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "API_IDEMPOTENCY_LEASE_SECONDS", 120))


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
    """Insert the record or take over one whose lease ran out (True), or return the one
    already there (False)."""
    print_ = fingerprint(request)
    for _attempt in range(3):
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
            pass
        existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if existing is None:  # released between our insert and our read: try again
            continue
        if existing.created_at < timezone.now() - ttl():
            IdempotencyRecord.objects.filter(pk=existing.pk).delete()
            continue
        if existing.request_fingerprint != print_:
            raise ProblemError(
                _("This Idempotency-Key was already used with a different request."),
                code="idempotency_key_reused",
                status_code=409,
            )
        if (
            existing.status == IdempotencyRecord.Status.IN_PROGRESS
            and existing.created_at <= timezone.now() - lease()
            and take_over(existing)
        ):
            log.warning("idempotency key %s of client %s taken over", existing.pk, client.pk)
            return existing, True
        return existing, False
    raise _in_progress(retry_after=1)


def take_over(record: IdempotencyRecord) -> bool:
    """Start a new lease on an in-progress ``record`` if nobody did since it was read."""
    now = timezone.now()
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS, created_at=record.created_at
    ).update(created_at=now)
    if taken == 1:
        record.created_at = now
    return taken == 1


def _held(record: IdempotencyRecord):
    """The record, as long as ``record`` (this request) still holds its lease."""
    return IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS, created_at=record.created_at
    )


def _in_progress(*, retry_after: int) -> ProblemError:
    return ProblemError(
        _("A request with this Idempotency-Key is still in progress; retry shortly."),
        code="idempotency_in_progress",
        status_code=409,
        retry_after=retry_after,
    )


def _replay(record: IdempotencyRecord) -> Response:
    if record.status != IdempotencyRecord.Status.COMPLETED:
        left = (record.created_at + lease() - timezone.now()).total_seconds()
        raise _in_progress(retry_after=max(1, math.ceil(left)))
    response = Response(
        record.response_body,
        status=record.response_status,
        content_type=record.response_content_type or None,
    )
    response[REPLAY_HEADER] = "true"
    return response


def _store(record: IdempotencyRecord, response: Response) -> None:
    body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    try:
        _held(record).update(
            status=IdempotencyRecord.Status.COMPLETED,
            response_status=response.status_code,
            response_body=body,
            response_content_type=response.content_type or "",
            completed_at=timezone.now(),
        )
    except DatabaseError:
        # The work is done and its response goes out; a retry after the lease runs the
        # request again, and the domain's own uniqueness answers it.
        log.warning("idempotency key %s: response not stored", record.pk, exc_info=True)


def release(record: IdempotencyRecord) -> None:
    """Let the client retry at once. Best effort: when the database is what failed, the
    key stays in progress until its lease runs out."""
    try:
        _held(record).delete()
    except DatabaseError:
        log.warning("idempotency key %s: not released, its lease ends it", record.pk)


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
                release(record)
                raise
        if response.status_code >= 500 or response.status_code == 429:
            release(record)
        else:
            _store(record, response)
        return response

    return wrapper


PURGE_BATCH = 5000


def purge_expired(
    *, now: dt.datetime | None = None, batch_size: int = PURGE_BATCH, max_batches: int = 200
) -> int:
    """Delete records older than the TTL, oldest first, in batches of ``batch_size`` read
    through the ``idempotency_by_age`` index, each batch its own short statement (a day
    of a busy platform's keys is never one long DELETE holding millions of row locks);
    at most ``max_batches`` per run, the next run continues. Returns how many."""
    cutoff = (now or timezone.now()) - ttl()
    expired = IdempotencyRecord.objects.filter(created_at__lt=cutoff)
    total = 0
    for _batch in range(max_batches):
        ids = list(expired.order_by("created_at").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        deleted, _detail = IdempotencyRecord.objects.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch_size:
            break
    return total
