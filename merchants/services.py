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
from django.utils import timezone
from django.utils.translation import gettext as _

from evidence.models import EvidenceFile
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
    """A new platform (tenant) in this deployment: its own shops, buyers, queues and staff.
    It starts with the seed review queues and routing rules (``refunds.seed``), so its
    claims are routed like every other platform's from the first one."""
    from refunds.seed import platform_seed

    try:
        with transaction.atomic():
            platform = Platform.objects.create(
                slug=slug,
                name=name,
                joins_credit_network=joins_credit_network,
                network_pseudonym=network_pseudonym,
            )
            platform_seed(platform=platform)
    except IntegrityError as exc:
        raise AlreadyExists(_("A platform with this slug already exists.")) from exc
    return platform


def platform_update(
    *, platform: Platform, name: str, joins_credit_network: bool, network_pseudonym: str
) -> Platform:
    """Rename a platform, or change whether (and under which name) it takes part in the
    buyer-credit network. Its slug is its address in the deployment and stays."""
    platform.name = name
    platform.joins_credit_network = joins_credit_network
    platform.network_pseudonym = network_pseudonym
    platform.save(update_fields=["name", "joins_credit_network", "network_pseudonym"])
    return platform


def platform_staff_assign(*, user, platform: Platform) -> PlatformStaff:
    """Make ``user`` (a reviewer) work for ``platform``, and only for it: they then see
    and take only its claims (``refunds.policy.reviewer_platform_id``). A user has one
    platform (one row, a one-to-one key): moving a reviewer to another platform is
    refused while they hold a claim of another platform than the new one (they would
    hold a claim they may no longer decide nor release); they release it first."""
    with transaction.atomic():
        staff = PlatformStaff.objects.select_for_update().filter(user=user).first()
        if staff is not None and staff.platform_id == platform.pk:
            return staff
        platform_staff_check_move(user=user, platform_id=platform.pk)
        staff, _created = PlatformStaff.objects.update_or_create(
            user=user, defaults={"platform": platform}
        )
    _forget_roles(user)
    return staff


def platform_staff_remove(*, user) -> None:
    """``user`` no longer has a platform row: a reviewer then works for the default
    platform (``refunds.policy``), a superuser for every platform. Refused, like a move,
    while they hold a claim of another platform than the default one."""
    with transaction.atomic():
        staff = PlatformStaff.objects.select_for_update().filter(user=user).first()
        if staff is None:
            return
        platform_staff_check_remove(user=user)
        staff.delete()
    _forget_roles(user)


def platform_staff_check_move(*, user, platform_id: int) -> None:
    """The rule of a reviewer's move to ``platform_id``: refused while they hold a claim
    of another platform (they would hold a claim they may no longer decide nor release)."""
    from refunds.models import Assignment

    held = Assignment.objects.filter(reviewer_id=user.pk, released_at__isnull=True).exclude(
        claim__tenant_id=platform_id
    )
    if held.exists():
        raise ClaimValidationError(
            _(
                "This reviewer holds claims of their current platform: they must "
                "decide or release them before moving to another platform."
            )
        )


def platform_staff_check_remove(*, user) -> None:
    """The rule of removing a reviewer's platform row: a move to the default platform."""
    platform_staff_check_move(user=user, platform_id=default_platform_pk())


def _forget_roles(user) -> None:
    user.__dict__.pop("_claimlens_roles", None)
    user.__dict__.pop("_claimlens_staff_platform", None)


def platform_client_create(
    *, name: str, merchants=(), can_create_merchants: bool = False, tenant=None
) -> tuple[PlatformClient, str]:
    """An API client of ``tenant`` (the default platform when not given), bound to
    ``merchants``, which must be that platform's shops."""
    tenant_id = _tenant_pk(tenant)
    platform_client_check_shops(tenant_id=tenant_id, merchants=merchants)
    client = PlatformClient(
        name=name, can_create_merchants=can_create_merchants, tenant_id=tenant_id
    )
    token = platform_client_issue_token(client=client)
    with transaction.atomic():
        client.save()
        client.merchants.set(merchants)
    return client, token


def platform_client_check_shops(*, tenant_id: int, merchants) -> None:
    """The rule of a client's shops: it acts only for shops of its own platform."""
    if any(merchant.tenant_id != tenant_id for merchant in merchants):
        raise ClaimValidationError(_("A client acts only for shops of its own platform."))


def platform_client_update(
    *, client: PlatformClient, name: str, merchants, can_create_merchants: bool
) -> PlatformClient:
    """Rename a client, or change the shops it acts for and whether it may add shops. Its
    platform stays (a client never moves between platforms); its token is untouched."""
    merchants = list(merchants)
    platform_client_check_shops(tenant_id=client.tenant_id, merchants=merchants)
    with transaction.atomic():
        client.name = name
        client.can_create_merchants = can_create_merchants
        client.save(update_fields=["name", "can_create_merchants"])
        client.merchants.set(merchants)
    return client


def platform_clients_revoke(*, clients) -> int:
    """Revoke the clients' tokens (the API refuses them from the next request); return
    how many were active. A revoked token is never valid again: a client gets back in
    only with a new token (``platform_client_rotate_token``)."""
    return PlatformClient.objects.filter(pk__in=[c.pk for c in clients], is_active=True).update(
        is_active=False, revoked_at=timezone.now()
    )


def platform_client_rotate_token(*, client: PlatformClient) -> str:
    """Give ``client`` a new token and return it (shown once, never stored): the old one
    stops working at once. A revoked client becomes active again with the new token."""
    token = platform_client_issue_token(client=client)
    client.is_active, client.revoked_at = True, None
    client.save(update_fields=["token_hash", "token_prefix", "is_active", "revoked_at"])
    return token


def merchant_create(
    *,
    platform_id: str,
    name: str,
    contact_email: str = "",
    client: PlatformClient | None = None,
    tenant=None,
    is_active: bool = True,
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
                is_active=is_active,
            )
            if client is not None:
                client.merchants.add(merchant)
    except IntegrityError as exc:
        raise AlreadyExists(_("A merchant with this platform id already exists.")) from exc
    return merchant


def merchant_update(*, merchant: Merchant, name: str, contact_email: str, is_active: bool):
    """Rename a shop, change its contact address, or switch it off (its members then
    reach none of its pages; its claims stay). Its platform and platform id stay."""
    merchant.name, merchant.contact_email, merchant.is_active = name, contact_email, is_active
    merchant.save(update_fields=["name", "contact_email", "is_active"])
    return merchant


def _member_and_owners(merchant: Merchant, user, *, lock: bool) -> tuple[Membership | None, bool]:
    """``user``'s membership and whether the shop has an owner besides ``user``; with
    ``lock``, the membership and the owners' rows are locked (in one order, so that two
    owners demoting each other queue up instead of deadlocking)."""
    rows = Membership.objects.filter(
        Q(role=Membership.Role.OWNER) | Q(user=user), merchant=merchant
    ).order_by("pk")
    rows = list(rows.select_for_update() if lock else rows)
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
        _refuse_losing_the_last_owner(*_member_and_owners(merchant, user, lock=True), role=role)
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
        current, other_owner = _member_and_owners(merchant, user, lock=True)
        if current is None:
            return
        _refuse_losing_the_last_owner(current, other_owner, role=None)
        current.delete()


def membership_check(*, merchant: Merchant, user, role: str | None) -> None:
    """Would giving ``user`` ``role`` at ``merchant`` (None: removing them) be allowed?
    Raises ``NotAllowed`` as the write would (the admin's forms ask before saving)."""
    _refuse_losing_the_last_owner(*_member_and_owners(merchant, user, lock=False), role=role)


def _refuse_losing_the_last_owner(current, other_owner: bool, *, role: str | None) -> None:
    """The rule: a shop never loses its last owner (demoted, or removed: ``role`` None)."""
    if current is None or current.role != Membership.Role.OWNER or other_owner:
        return
    if role != Membership.Role.OWNER:
        raise NotAllowed(_("A shop keeps at least one owner."))


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


def product_update(*, product: Product, title: str, by=None) -> Product:
    """Rename a product (its shop and platform id stay). ``by`` as in
    :func:`product_create`."""
    if by is not None:
        policy.enforce(policy.can_manage_products(by, product.merchant))
    product.title = title
    product.save(update_fields=["title"])
    return product


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


# --- Listing photos and packing evidence ------------------------------------------------
# One path for every upload of a reference: the pages and the API call these, and these
# call ``evidence.services.evidence_add_batch`` (validated first, then all or nothing).


def product_photos_add(
    *,
    product: Product,
    uploads,
    by=None,
    submitted_by: str = "merchant",
    actor=None,
    all_or_nothing: bool = True,
    replaces: EvidenceFile | None = None,
):
    """Add listing photos (``(file, name)`` pairs) to ``product``; with ``replaces``, that
    photo of the product is retired in the same transaction. Checked and indexed like
    every evidence file. ``by``: the user doing it, who must be allowed to manage the
    shop's products (an owner); ``by=None`` is the platform (the API). Returns
    ``evidence.services.BatchResult``; raises ``BatchRejected`` (nothing kept)."""
    from evidence.services import evidence_add_batch

    if by is not None:
        policy.enforce(policy.can_manage_products(by, product.merchant))
    if replaces is not None and replaces.product_id != product.pk:
        raise ClaimValidationError(_("This photo is not one of this product's."))

    def retire_replaced():
        if replaces is not None:
            _retire(EvidenceFile.objects.filter(pk=replaces.pk), by=by, actor=actor)

    return evidence_add_batch(
        uploads=uploads,
        submitted_by=submitted_by,
        product=product,
        uploaded_by=by,
        actor=actor,
        all_or_nothing=all_or_nothing,
        then=retire_replaced,
    )


def _retire(rows, *, by, actor) -> int:
    """Retire the current photos among ``rows`` (compare-and-set on ``retired_at``), each
    recorded in the file's chain of custody."""
    from django.utils import timezone

    from refunds import audit
    from refunds.audit import Actor

    who = actor or (Actor.of_user(by) if by is not None else Actor.system("retire"))
    now = timezone.now()
    retired = 0
    with transaction.atomic():
        for photo in rows.select_for_update().filter(retired_at__isnull=True).order_by("pk"):
            retired += EvidenceFile.objects.filter(pk=photo.pk, retired_at__isnull=True).update(
                retired_at=now
            )
            audit.record(
                action="evidence_retired",
                actor=who,
                evidence_id=photo.pk,
                data={"file": str(photo.uuid), "sha256": photo.sha256, "role": "merchant"},
            )
    return retired


def product_photos_retire(*, product: Product, photo_ids, by=None, actor=None) -> int:
    """Stop using these listing photos of ``product`` as references. They are kept (they
    are evidence, and findings point at them): only new checks no longer compare with
    them. Returns how many were retired now. ``by`` as in :func:`product_photos_add`."""
    if by is not None:
        policy.enforce(policy.can_manage_products(by, product.merchant))
    ids = [int(pk) for pk in photo_ids]
    return _retire(EvidenceFile.objects.filter(product=product, pk__in=ids), by=by, actor=actor)


def shipment_evidence_add(
    *, shipment: Shipment, uploads, by=None, submitted_by: str = "merchant", actor=None
):
    """Add packing photos and videos (``(file, name)`` pairs) recorded before shipment to
    ``shipment``, all or none. Videos are sampled into reference frames by the worker
    (``evidence.video``). ``by``: a person acting for the shop; ``None``: the platform."""
    from evidence.services import evidence_add_batch

    if by is not None:
        policy.enforce(policy.can_add_packing_evidence(by, shipment.order.merchant))
    return evidence_add_batch(
        uploads=uploads,
        submitted_by=submitted_by,
        shipment=shipment,
        uploaded_by=by,
        actor=actor,
    )
