"""One shop-A world for the authorisation matrix, built once per module.

Personas as in tests/conftest.py (alice owns shop A, bob shop B, charlie reviews, dora is
a senior reviewer) plus agnes, an *agent* of shop A, root the superuser, two staff users
for the admin (stan without permissions, vera who may only view claims) and two platform
clients with their API tokens. Shop A's objects: a listing photo, a claim in each state a
route acts on, its evidence, a finding's artifact, a shipment with a packing photo and a
webhook endpoint of client A, so every route and every admin page has a real object.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client, TestCase
from django.utils import timezone

# Every string that identifies shop A's data: a list answered to anybody else must
# contain none of them.
SHOP_A_TAG = "shop-a-7f3c"


@dataclass
class World:
    users: dict[str, Any] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)
    at_rest: tuple = ()  # the database as built (see the matrix's ``snapshot``)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None


def _capture():
    """Run what commits would run (evaluations, checks): eager Celery, in-process."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def build_world(roles: dict[str, str]) -> World:
    """Create the world. ``roles`` maps role name to the username it logs in as."""
    from config.celery import app as celery_app
    from evidence.models import FindingArtifact
    from evidence.services import evidence_add
    from merchants.models import Merchant
    from merchants.services import (
        membership_add,
        platform_client_create,
        platform_staff_assign,
        product_create,
        shipment_create,
    )
    from refunds import services
    from refunds.audit import Actor
    from refunds.services import ItemInput, buyer_upsert, order_create
    from testing import synthetic

    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    world = World()
    users = get_user_model().objects
    o = world.objects

    o["shop_a"] = Merchant.objects.create(platform_id=SHOP_A_TAG, name="Shop A 7f3c 家居")
    o["shop_b"] = Merchant.objects.create(platform_id="shop-b-91d0", name="Shop B 91d0 数码")
    alice = users.create_user("alice", password="pw-alice-123")
    agnes = users.create_user("agnes", password="pw-agnes-123")
    bob = users.create_user("bob", password="pw-bob-123")
    membership_add(merchant=o["shop_a"], user=alice, role="owner")
    membership_add(merchant=o["shop_a"], user=agnes, role="agent")
    membership_add(merchant=o["shop_b"], user=bob, role="owner")
    charlie = users.create_user("charlie", password="pw-charlie-123")
    charlie.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    dora = users.create_user("dora", password="pw-dora-123")
    dora.groups.add(Group.objects.get_or_create(name="senior reviewers")[0])
    # dora works for the default platform explicitly (charlie by default): both see shop A.
    platform_staff_assign(user=dora, platform=o["shop_a"].tenant)
    users.create_superuser("root", email="root@claimlens.local", password="pw-root-123")
    users.create_user("stan", password="pw-stan-123", is_staff=True)
    vera = users.create_user("vera", password="pw-vera-123", is_staff=True)
    vera.user_permissions.add(
        Permission.objects.get(codename="view_refundclaim", content_type__app_label="refunds")
    )
    for role, username in roles.items():
        user = users.get(username=username)
        world.users[role] = user
        browser = Client()
        browser.force_login(user)
        world.sessions[role] = browser.session.session_key

    client_a, world.tokens["client_a"] = platform_client_create(
        name="platform-a", merchants=[o["shop_a"]]
    )
    client_b, world.tokens["client_b"] = platform_client_create(
        name="platform-b", merchants=[o["shop_b"]]
    )
    o["client_a"], o["client_b"] = client_a, client_b

    o["product_a"] = product_create(
        merchant=o["shop_a"], platform_id=f"mug-{SHOP_A_TAG}", title="北欧陶瓷马克杯 Nordic mug"
    )
    listing = synthetic.render_product_photo(101)
    with _capture():
        o["listing_photo"] = evidence_add(
            upload=synthetic.encode_jpeg(listing.image, quality=90),
            submitted_by="merchant",
            original_name="listing.jpg",
            product=o["product_a"],
        )
    buyer = buyer_upsert(
        platform_id="buyer-1",
        display_name="张三",
        phone="13800000000",
        account_created_at=timezone.now() - dt.timedelta(days=400),
    )
    orders = iter(range(1, 100))

    def order():
        paid = timezone.now() - dt.timedelta(days=5)
        return order_create(
            merchant=o["shop_a"],
            buyer=buyer,
            platform_id=f"order-{SHOP_A_TAG}-{next(orders)}",
            items=[
                ItemInput(
                    title="陶瓷杯 Ceramic mug", unit_price=Decimal("199.00"), product=o["product_a"]
                )
            ],
            paid_at=paid,
            shipped_at=paid + dt.timedelta(days=1),
            delivered_at=paid + dt.timedelta(days=3),
            shipping_address="上海市浦东新区 XX 路 1 号",
        )

    def claim(photo: bytes | None = None):
        with _capture():
            submitted = services.claim_submit(
                order=order(),
                amount=Decimal("99.00"),
                reason="damaged",
                description="杯子到货有裂痕",
                actor=Actor.platform("test"),
            )
            if photo is not None:
                evidence_add(
                    upload=photo,
                    submitted_by="buyer",
                    original_name="IMG_damage.jpg",
                    claim=submitted,
                )
        submitted.refresh_from_db()
        return submitted

    # The buyer's photo is the listing photo with a crack painted on: the checks find it
    # and draw artifacts, so the file routes have a display copy and an artifact to serve.
    forged = synthetic.paint_damage(listing, 707)
    o["claim_waiting"] = claim(synthetic.encode_jpeg(forged.image, quality=85))
    o["buyer_photo"] = o["claim_waiting"].evidence_files.get(submitted_by="buyer")
    o["artifact"] = FindingArtifact.objects.filter(finding__claim=o["claim_waiting"]).first()
    in_review, held, decided, appealed = claim(), claim(), claim(), claim()
    o["spare_order"] = order()
    o["shipment"] = shipment_create(
        order=o["spare_order"],
        carrier="SF",
        tracking_number="SF7f3c0001",
        shipped_at=timezone.now() - dt.timedelta(days=4),
    )
    with _capture():
        o["packing_photo"] = evidence_add(
            upload=synthetic.encode_jpeg(listing.image, quality=70),
            submitted_by="merchant",
            original_name="packing.jpg",
            shipment=o["shipment"],
        )

    # From here on nothing runs its on-commit work: the webhook deliveries queued by the
    # moves below stay pending (nothing is ever sent), so the admin has rows to show.
    o["endpoint_a"], _secret = services.webhook_endpoint_create(
        client=client_a, url=f"https://a.example/hook-{SHOP_A_TAG}"
    )
    for contested in (in_review, held, decided, appealed):
        services.claim_merchant_respond(
            claim=contested, user=alice, response="contest", statement="裂痕是画上去的 painted"
        )
    services.claim_assign(claim=held, reviewer=charlie)
    for to_decide in (decided, appealed):
        services.claim_assign(claim=to_decide, reviewer=charlie)
        services.claim_decide(
            claim=to_decide,
            reviewer=charlie,
            outcome="refund_denied",
            rationale="The buyer's photo is our listing photo with a painted crack.",
            confirmed_forgery=True,
        )
    services.claim_appeal(
        claim=appealed, filed_by="merchant", reason="请复核 please review again", user=alice
    )
    for name, value in (
        ("claim_in_review", in_review),
        ("claim_held", held),
        ("claim_decided", decided),
        ("claim_appealed", appealed),
    ):
        value.refresh_from_db()
        o[name] = value

    # django-axes' admin lists its lock-out record and two logs (off by settings): a row each.
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {
        "user_agent": "test",
        "ip_address": "127.0.0.1",
        "username": "nobody",
        "http_accept": "*/*",
        "path_info": "/accounts/login/",
    }
    AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**seen)
    AccessFailureLog.objects.create(**seen)

    # The shop's people were told of its claims (notifications): alice's first one.
    from notifications.models import Notification

    o["notification_of_alice"] = Notification.objects.filter(user=alice).order_by("pk").first()

    from api.signing import artifact_token

    o["artifact_token_a"] = artifact_token(artifact_id=o["artifact"].pk, client_id=client_a.pk)
    o["artifact_token_b"] = artifact_token(artifact_id=o["artifact"].pk, client_id=client_b.pk)
    world.markers = [SHOP_A_TAG, "Shop A 7f3c"] + [
        f"/claims/{o[name].pk}/"
        for name in ("claim_waiting", "claim_in_review", "claim_held", "claim_decided")
    ]
    return world
