"""Two platforms side by side, built through the services: each with a shop, an API
client, a buyer, a reviewer and a standard queue, using the *same* platform ids on both
(``shop-1``, ``buyer-9``), which is what tenancy must keep apart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.utils import timezone

SHOP_ID = "shop-1"
BUYER_ID = "buyer-9"


@dataclass
class PlatformWorld:
    platform: Any
    shop: Any
    client: Any
    token: str
    buyer: Any
    owner: Any
    reviewer: Any


def platform_world(slug: str, *, django_user_model, joins_network=False, pseudonym=""):
    from merchants.services import (
        membership_add,
        merchant_create,
        platform_client_create,
        platform_create,
        platform_staff_assign,
    )
    from refunds.services import buyer_upsert

    platform = platform_create(
        slug=slug,
        name=f"Platform {slug.upper()}",
        joins_credit_network=joins_network,
        network_pseudonym=pseudonym,
    )
    shop = merchant_create(platform_id=SHOP_ID, name=f"Shop of {slug}", tenant=platform)
    client, token = platform_client_create(name=f"client-{slug}", merchants=[shop], tenant=platform)
    buyer = buyer_upsert(
        platform_id=BUYER_ID,
        display_name=f"Buyer of {slug}",
        phone="13900000009",
        tenant=platform,
    )
    owner = django_user_model.objects.create_user(f"owner-{slug}", password="pw-owner-123")
    membership_add(merchant=shop, user=owner, role="owner")
    reviewer = django_user_model.objects.create_user(f"reviewer-{slug}", password="pw-rev-123")
    reviewer.groups.add(Group.objects.get_or_create(name="senior reviewers")[0])
    platform_staff_assign(user=reviewer, platform=platform)
    return PlatformWorld(platform, shop, client, token, buyer, owner, reviewer)


def order_for(world: PlatformWorld, number: int, *, buyer=None, total=Decimal("199.00"), **kw):
    from refunds.services import ItemInput, order_create

    paid = timezone.now() - dt.timedelta(days=5)
    return order_create(
        merchant=world.shop,
        buyer=buyer or world.buyer,
        platform_id=f"order-{number}",
        items=[ItemInput(title="陶瓷杯 Ceramic mug", unit_price=total)],
        paid_at=paid,
        shipped_at=paid + dt.timedelta(days=1),
        delivered_at=paid + dt.timedelta(days=3),
        shipping_address=f"{world.platform.slug} 路 {number} 号",
        **kw,
    )


def claim_in_review(world: PlatformWorld, number: int, *, amount=Decimal("99.00"), **kw):
    """A claim of ``world``'s shop that its owner contested: it waits for a reviewer."""
    from refunds import services
    from refunds.audit import Actor

    order = order_for(world, number, **kw)
    claim = services.claim_submit(
        order=order, amount=amount, reason="damaged", actor=Actor.platform("test")
    )
    services.claim_evaluate(claim_id=claim.pk)
    services.claim_merchant_respond(
        claim=claim, user=world.owner, response="contest", statement="painted crack"
    )
    claim.refresh_from_db()
    return claim
