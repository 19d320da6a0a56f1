"""Writes about merchants, memberships, products and platform clients.

A write that a person performs for a shop (managing its members or products) takes that
person as ``by`` and is refused with ``NotAllowed`` unless ``refunds.policy`` allows it;
``by=None`` is the platform itself (the API's client, the admin, management commands),
which its own authorisation has already let in.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from merchants.models import (
    Membership,
    Merchant,
    Platform,
    PlatformClient,
    PlatformStaff,
    Product,
    Shipment,
    default_platform_pk,
)
from refunds import policy
from refunds.exceptions import AlreadyExists, ClaimValidationError, NotAllowed


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def platform_client_issue_token(*, client: PlatformClient) -> str:
    """Set a new token on ``client`` (not saved); return the token, which is never stored."""
    token = PlatformClient.new_token()
    client.token_hash = hash_token(token)
    client.token_prefix = token[:8]
    return token


def _tenant_pk(tenant) -> int:
    """A platform's key from a platform, a key, or None (the default platform)."""
    if tenant is None:
        return default_platform_pk()
    return getattr(tenant, "pk", tenant)


def platform_create(
    *, slug: str, name: str, joins_credit_network: bool = False, network_pseudonym: str = ""
) -> Platform:
    """A new platform (tenant) in this deployment: its own shops, buyers, queues and staff."""
    try:
        return Platform.objects.create(
            slug=slug,
            name=name,
            joins_credit_network=joins_credit_network,
            network_pseudonym=network_pseudonym,
        )
    except IntegrityError as exc:
        raise AlreadyExists(_("A platform with this slug already exists.")) from exc


def platform_staff_assign(*, user, platform: Platform) -> PlatformStaff:
    """Make ``user`` (a reviewer) work for ``platform``: they then see and take only its
    claims (``refunds.policy.reviewer_platform_id``)."""
    staff, _created = PlatformStaff.objects.update_or_create(
        user=user, defaults={"platform": platform}
    )
    user.__dict__.pop("_claimlens_roles", None)
    return staff


def platform_client_create(
    *, name: str, merchants=(), can_create_merchants: bool = False, tenant=None
) -> tuple[PlatformClient, str]:
    """An API client of ``tenant`` (the default platform when not given), bound to
    ``merchants``, which must be that platform's shops."""
    tenant_id = _tenant_pk(tenant)
    if any(merchant.tenant_id != tenant_id for merchant in merchants):
        raise ClaimValidationError(_("A client acts only for shops of its own platform."))
    client = PlatformClient(
        name=name, can_create_merchants=can_create_merchants, tenant_id=tenant_id
    )
    token = platform_client_issue_token(client=client)
    with transaction.atomic():
        client.save()
        client.merchants.set(merchants)
    return client, token


def merchant_create(
    *,
    platform_id: str,
    name: str,
    contact_email: str = "",
    client: PlatformClient | None = None,
    tenant=None,
) -> Merchant:
    """A shop of ``client``'s platform (bound to the client), else of ``tenant`` (the
    default platform when neither is given); its platform id is unique on that platform."""
    tenant_id = client.tenant_id if client is not None else _tenant_pk(tenant)
    try:
        with transaction.atomic():
            merchant = Merchant.objects.create(
                platform_id=platform_id,
                name=name,
                contact_email=contact_email,
                tenant_id=tenant_id,
            )
            if client is not None:
                client.merchants.add(merchant)
    except IntegrityError as exc:
        raise AlreadyExists(_("A merchant with this platform id already exists.")) from exc
    return merchant


def _lock_member_and_owners(merchant: Merchant, user) -> tuple[Membership | None, bool]:
    """Lock ``user``'s membership and the shop's owners' (in one order, so that two
    owners demoting each other queue up instead of deadlocking); return the membership
    and whether the shop has an owner besides ``user``."""
    rows = list(
        Membership.objects.select_for_update()
        .filter(Q(role=Membership.Role.OWNER) | Q(user=user), merchant=merchant)
        .order_by("pk")
    )
    current = next((row for row in rows if row.user_id == user.pk), None)
    other_owner = any(row.role == Membership.Role.OWNER and row.user_id != user.pk for row in rows)
    return current, other_owner


def membership_add(
    *, merchant: Merchant, user, role: str = Membership.Role.AGENT, by=None
) -> Membership:
    """Make ``user`` a member of ``merchant`` with ``role``, or change their role.

    ``by``: the user doing it, who must be allowed to manage the shop's members
    (``policy.can_manage_members``: an owner). A shop never loses its last owner."""
    if role not in Membership.Role.values:
        raise ClaimValidationError(_("Unknown role."))
    if by is not None:
        policy.enforce(policy.can_manage_members(by, merchant))
    with transaction.atomic():
        current, other_owner = _lock_member_and_owners(merchant, user)
        if current is not None and current.role == Membership.Role.OWNER:
            if role != Membership.Role.OWNER and not other_owner:
                raise NotAllowed(_("A shop keeps at least one owner."))
        membership, _created = Membership.objects.update_or_create(
            merchant=merchant, user=user, defaults={"role": role}
        )
    return membership


def membership_remove(*, merchant: Merchant, user, by=None) -> None:
    """``user`` no longer acts for ``merchant``. ``by`` as in :func:`membership_add`; the
    shop's last owner cannot be removed."""
    if by is not None:
        policy.enforce(policy.can_manage_members(by, merchant))
    with transaction.atomic():
        current, other_owner = _lock_member_and_owners(merchant, user)
        if current is None:
            return
        if current.role == Membership.Role.OWNER and not other_owner:
            raise NotAllowed(_("A shop keeps at least one owner."))
        current.delete()


def product_create(*, merchant: Merchant, platform_id: str, title: str, by=None) -> Product:
    """A product of ``merchant``. ``by``: the user adding it, who must be allowed to manage
    the shop's products (``policy.can_manage_products``: an owner)."""
    if by is not None:
        policy.enforce(policy.can_manage_products(by, merchant))
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
