"""Writes about merchants, memberships, products and platform clients."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from merchants.models import Membership, Merchant, PlatformClient, Product, Shipment
from refunds.exceptions import AlreadyExists


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def platform_client_issue_token(*, client: PlatformClient) -> str:
    """Set a new token on ``client`` (not saved); return the token, which is never stored."""
    token = PlatformClient.new_token()
    client.token_hash = hash_token(token)
    client.token_prefix = token[:8]
    return token


def platform_client_create(
    *, name: str, merchants=(), can_create_merchants: bool = False
) -> tuple[PlatformClient, str]:
    client = PlatformClient(name=name, can_create_merchants=can_create_merchants)
    token = platform_client_issue_token(client=client)
    with transaction.atomic():
        client.save()
        client.merchants.set(merchants)
    return client, token


def merchant_create(
    *, platform_id: str, name: str, contact_email: str = "", client: PlatformClient | None = None
) -> Merchant:
    try:
        with transaction.atomic():
            merchant = Merchant.objects.create(
                platform_id=platform_id, name=name, contact_email=contact_email
            )
            if client is not None:
                client.merchants.add(merchant)
    except IntegrityError as exc:
        raise AlreadyExists(_("A merchant with this platform id already exists.")) from exc
    return merchant


def membership_add(*, merchant: Merchant, user, role: str = Membership.Role.AGENT) -> Membership:
    membership, _created = Membership.objects.update_or_create(
        merchant=merchant, user=user, defaults={"role": role}
    )
    return membership


def product_create(*, merchant: Merchant, platform_id: str, title: str) -> Product:
    try:
        with transaction.atomic():
            return Product.objects.create(merchant=merchant, platform_id=platform_id, title=title)
    except IntegrityError as exc:
        raise AlreadyExists(
            _("A product with this platform id already exists for this shop.")
        ) from exc


def shipment_create(*, order, carrier: str, tracking_number: str, shipped_at) -> Shipment:
    try:
        with transaction.atomic():
            return Shipment.objects.create(
                order=order,
                carrier=carrier,
                tracking_number=tracking_number,
                shipped_at=shipped_at,
            )
    except IntegrityError as exc:
        raise AlreadyExists(_("This tracking number is already recorded.")) from exc
