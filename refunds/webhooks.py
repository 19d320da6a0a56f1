"""Outgoing webhooks: an outbox row per (event, endpoint), delivered after commit to a
vetted address only (see :mod:`refunds.outbound`) and retried with exponential backoff.

Every request carries two signatures of the same raw body, made with the endpoint's secret:

* Standard Webhooks: ``webhook-id`` (the delivery id, the same on every retry),
  ``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64
  HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``, the key being the base64 after
  ``whsec_``; any Standard Webhooks library verifies it
  (``standardwebhooks.Webhook(secret).verify(body, headers)``).
* The original Claimlens scheme, kept for receivers written against it:
  ``Claimlens-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
  keyed with the whole secret string, beside ``Claimlens-Event`` and ``Claimlens-Delivery``.

Secrets made before the Standard scheme (url-safe base64 without padding) are not read
alike by every Standard Webhooks library, so those endpoints get the Claimlens signature
only; registering the endpoint again gives it a new secret and both.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import http.client
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks import Webhook

from notifications import services as notifications
from refunds import outbound
from refunds.exceptions import IllegalTransition
from refunds.models import RefundClaim, WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENT_TYPES = ("claim.received", "claim.status_changed", "claim.decided")

MAX_ATTEMPTS = 8
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret


def claim_payload(claim: RefundClaim) -> dict[str, Any]:
    """The public face of a claim in webhooks: no buyer private data."""
    return {
        "id": claim.pk,
        "platform_id": claim.platform_id,
        "merchant": claim.merchant.platform_id,
        "order": claim.order.platform_id,
        "status": claim.status,
        "outcome": claim.outcome,
        "amount": str(claim.amount),
        "refund_amount": None if claim.refund_amount is None else str(claim.refund_amount),
        "risk_score": claim.risk_score,
    }


def merchants_with_endpoints(merchant_ids) -> set[int]:
    """Which of these shops have an active endpoint of an active client (the ones
    :func:`emit_claim_event` may write a delivery for)."""
    return set(
        WebhookEndpoint.objects.filter(
            is_active=True, client__is_active=True, client__merchants__in=list(merchant_ids)
        ).values_list("client__merchants", flat=True)
    )


def emit_claim_event(claim: RefundClaim, event_type: str, extra: dict[str, Any]) -> None:
    """Queue ``event_type`` for every endpoint of every client bound to the claim's shop."""
    emit_claim_events([claim], event_type, extra)


def emit_claim_events(claims: list[RefundClaim], event_type: str, extra: dict[str, Any]) -> None:
    """:func:`emit_claim_event` for several claims at once (a batch of new claims): one
    read of the endpoints listening to their shops, one INSERT of the deliveries."""
    if not claims:
        return
    listening: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(
        is_active=True,
        client__is_active=True,
        client__merchants__in=sorted({c.merchant_id for c in claims}),
    ).annotate(shop_id=F("client__merchants")):
        if not endpoint.event_types or event_type in endpoint.event_types:
            listening.setdefault(endpoint.shop_id, []).append(endpoint)
    now = timezone.now()
    deliveries = []
    for claim in claims:
        # The shop's people, in-app and e-mail.
        notifications.notify_claim_event(claim, event_type, extra)
        endpoints = listening.get(claim.merchant_id, [])
        if not endpoints:
            continue
        payload = {
            "type": event_type,
            "occurred_at": now.isoformat(),
            "claim": claim_payload(claim),
            "data": extra,
        }
        payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
        deliveries += [
            WebhookDelivery(
                endpoint=endpoint, event_type=event_type, payload=payload, next_attempt_at=now
            )
            for endpoint in endpoints
        ]
    if deliveries:
        from refunds.tasks import deliver_webhook_task

        WebhookDelivery.objects.bulk_create(deliveries)
        for delivery in deliveries:
            transaction.on_commit(lambda pk=delivery.pk: deliver_webhook_task.delay(pk))


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Claimlens-Signature`` header (the original scheme)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver of ``Claimlens-Signature`` does; used by our tests and the
    integration example."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def _standard_key(secret: str) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret; None for an old-format secret."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if 24 <= len(key) <= 64 else None


def signed_headers(delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict[str, str]:
    secret = delivery.endpoint.secret
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Claimlens-Webhooks/1",
        "Claimlens-Event": delivery.event_type,
        "Claimlens-Delivery": str(delivery.pk),
        "Claimlens-Signature": sign(secret, timestamp, body),
    }
    key = _standard_key(secret)
    if key is not None:
        message_id = str(delivery.pk)
        headers["webhook-id"] = message_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = Webhook(key).sign(
            message_id, dt.datetime.fromtimestamp(timestamp, tz=dt.UTC), body.decode()
        )
    return headers


def deliver(delivery_id: int) -> bool:
    """Try once. True when delivered (or nothing left to do); False schedules a retry.

    Every try is logged as a :class:`~refunds.models.WebhookAttempt` (status code,
    latency, a bounded excerpt of the answer, the error). A URL that may not be called
    (an internal address, plain http where https is required) ends the delivery as
    failed without any request: retrying cannot help.
    """
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status != WebhookDelivery.Status.PENDING:
        return True
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = signed_headers(delivery, body, int(time.time()))
    attempt = _Attempt(started_at=timezone.now(), clock=time.monotonic())
    try:
        answer = outbound.post(delivery.endpoint.url, body=body, headers=headers)
    except outbound.TargetRefused as refused:
        attempt.clock = None  # nothing was sent: no latency to speak of
        return _record(delivery, attempt, error=f"{refused.code}: {refused.message}", final=True)
    except (OSError, http.client.HTTPException) as exc:
        return _record(delivery, attempt, error=(str(exc) or type(exc).__name__)[:500])
    attempt.excerpt = answer.body_start.decode("utf-8", "replace")
    if 200 <= answer.status < 300:
        return _record(delivery, attempt, status_code=answer.status)
    if 300 <= answer.status < 400:
        error = f"HTTP {answer.status} (redirects are not followed)"
    else:
        text = " ".join(attempt.excerpt.split())[:200]
        error = f"HTTP {answer.status}: {text}" if text else f"HTTP {answer.status}"
    return _record(delivery, attempt, status_code=answer.status, error=error)


@dataclass
class _Attempt:
    started_at: dt.datetime
    clock: float | None  # time.monotonic() when the request started
    excerpt: str = ""

    def latency_ms(self) -> int | None:
        if self.clock is None:
            return None
        return round((time.monotonic() - self.clock) * 1000)


def _record(
    delivery: WebhookDelivery,
    attempt: _Attempt,
    *,
    status_code: int | None = None,
    error: str = "",
    final=False,
) -> bool:
    ok = not error
    attempts = delivery.attempts + 1
    if ok:
        status, next_at = WebhookDelivery.Status.DELIVERED, None
    elif final or attempts >= MAX_ATTEMPTS:
        status, next_at = WebhookDelivery.Status.FAILED, None
    else:
        status = WebhookDelivery.Status.PENDING
        next_at = timezone.now() + dt.timedelta(seconds=min(3600, 2**attempts * 5))
    limit = WebhookAttempt.EXCERPT_CHARS
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=WebhookAttempt.objects.filter(delivery=delivery).count() + 1,
            started_at=attempt.started_at,
            status_code=status_code,
            latency_ms=attempt.latency_ms(),
            response_excerpt=attempt.excerpt[:limit],
            error=error[:limit],
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=attempts,
            status=status,
            last_status_code=status_code,
            last_error=error,
            next_attempt_at=next_at,
            delivered_at=timezone.now() if ok else None,
        )
    return status != WebhookDelivery.Status.PENDING


def webhook_delivery_resend(*, delivery: WebhookDelivery, user) -> WebhookDelivery:
    """Send a delivered or failed event again (the admin's "re-send" action): the same
    delivery, id and payload (so the receiver can tell it is the same event), back to
    pending with a fresh retry budget, sent after commit. Its earlier attempts stay in
    the log. Refused (:func:`refunds.policy.can_resend_webhook`) for somebody without
    the right, an inactive endpoint, or a delivery that is still pending (compare and
    set: two administrators re-sending at once send it once)."""
    from refunds import policy
    from refunds.tasks import deliver_webhook_task

    policy.enforce(policy.can_resend_webhook(user, delivery))
    with transaction.atomic():
        changed = (
            WebhookDelivery.objects.filter(pk=delivery.pk, status=delivery.status)
            .exclude(status=WebhookDelivery.Status.PENDING)
            .update(
                status=WebhookDelivery.Status.PENDING,
                attempts=0,
                next_attempt_at=timezone.now(),
                delivered_at=None,
            )
        )
        if changed != 1:
            raise IllegalTransition(_("This delivery is already waiting to be sent."))
        transaction.on_commit(lambda: deliver_webhook_task.delay(delivery.pk))
    delivery.refresh_from_db()
    return delivery
