"""Outgoing webhooks: an outbox row per (event, endpoint), delivered after commit,
signed with HMAC-SHA256 over ``timestamp.body`` and retried with exponential backoff.

Header ``Claimlens-Signature: t=<unix seconds>,v1=<hex hmac>``; a receiver recomputes
``hmac_sha256(secret, f"{t}.{raw_body}")`` and rejects old timestamps (replay).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from refunds.models import RefundClaim, WebhookDelivery, WebhookEndpoint

EVENT_TYPES = ("claim.received", "claim.status_changed", "claim.decided")

MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10


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


def emit_claim_event(claim: RefundClaim, event_type: str, extra: dict[str, Any]) -> None:
    """Queue ``event_type`` for every endpoint of every client bound to the claim's shop."""
    endpoints = WebhookEndpoint.objects.filter(
        is_active=True, client__is_active=True, client__merchants=claim.merchant_id
    )
    payload = {
        "type": event_type,
        "occurred_at": timezone.now().isoformat(),
        "claim": claim_payload(claim),
        "data": extra,
    }
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    created = [
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type=event_type,
            payload=payload,
            next_attempt_at=timezone.now(),
        )
        for endpoint in endpoints
        if not endpoint.event_types or event_type in endpoint.event_types
    ]
    if created:
        from refunds.tasks import deliver_webhook_task

        for delivery in created:
            transaction.on_commit(lambda pk=delivery.pk: deliver_webhook_task.delay(pk))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does; used by our tests and the integration example."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def deliver(delivery_id: int) -> bool:
    """Try once. True when delivered (or nothing left to do); False schedules a retry."""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status != WebhookDelivery.Status.PENDING:
        return True
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - URL set by an administrator/client
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Claimlens-Event": delivery.event_type,
            "Claimlens-Delivery": str(delivery.pk),
            "Claimlens-Signature": sign(delivery.endpoint.secret, int(time.time()), body),
        },
    )
    status_code, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = str(exc)[:500]
    ok = status_code is not None and 200 <= status_code < 300
    attempts = delivery.attempts + 1
    if ok:
        status, next_at = WebhookDelivery.Status.DELIVERED, None
    elif attempts >= MAX_ATTEMPTS:
        status, next_at = WebhookDelivery.Status.FAILED, None
    else:
        status = WebhookDelivery.Status.PENDING
        next_at = timezone.now() + dt.timedelta(seconds=min(3600, 2**attempts * 5))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts,
        status=status,
        last_status_code=status_code,
        last_error=error,
        next_attempt_at=next_at,
        delivered_at=timezone.now() if ok else None,
    )
    return status != WebhookDelivery.Status.PENDING
