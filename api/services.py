"""API-specific writes: a platform client's webhook endpoints.

(Webhook endpoints are refunds' model; these functions would sit better in
refunds/services.py, next to the delivery code, once that file can be changed.)
"""

from __future__ import annotations

import secrets

from django.db import transaction

from merchants.models import PlatformClient
from refunds.models import WebhookEndpoint

EVENT_TYPES = ("claim.received", "claim.status_changed", "claim.decided")


def webhook_endpoint_create(
    *,
    client: PlatformClient,
    url: str,
    event_types: list[str] | None = None,
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown to the client once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            client=client,
            url=url,
            secret=secret,
            event_types=list(event_types or []),
            is_active=is_active,
        )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    allowed = {"url", "event_types", "is_active"}
    fields = [name for name in changes if name in allowed]
    for name in fields:
        setattr(endpoint, name, changes[name])
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()
