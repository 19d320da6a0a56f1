"""Load realistic demo data: shops, listing photos, buyers, orders and 30+ claims in
every status, with forged and genuine evidence pushed through the real checks.

Idempotent: the accounts (``accounts.demo.DEMO_LOGINS``, which the demo's login page
lists) are always (re)set; the data is created only once. Every claim's history reads
true: its photos are attached before it is evaluated, and what the shop and the reviewer
write fits the photo the buyer sent.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone, translation

from accounts.demo import AOKI_HOME, DEMO_LOGINS, DIGIPORT, TEA_GARDEN, demo_password, describe
from config.celery import app as celery_app
from evidence.services import evidence_add
from merchants.models import Merchant
from merchants.services import membership_add, merchant_create, product_create, shipment_create
from refunds import services
from refunds.audit import Actor
from testing import synthetic

DEMO_MARKER = "demo-aoki-home"
PLATFORM = Actor.platform("demo")
SHOPS = [
    (
        DEMO_MARKER,
        AOKI_HOME,
        [
            "北欧陶瓷马克杯 Nordic ceramic mug",
            "玻璃密封罐 Glass storage jar",
            "实木收纳盒 Wooden storage box",
            "不锈钢保温杯 Steel vacuum flask",
        ],
    ),
    (
        "demo-digiport",
        DIGIPORT,
        [
            "无线耳机 Wireless earbuds",
            "手机壳 Phone case",
            "充电宝 Power bank 10000mAh",
            "蓝牙音箱 Bluetooth speaker",
        ],
    ),
    (
        "demo-chayuan",
        TEA_GARDEN,
        ["明前龙井 West Lake Longjing 250g", "紫砂壶 Yixing teapot"],
    ),
]
BUYERS = [
    ("buyer-1001", "李*明"),
    ("buyer-1002", "王*芳"),
    ("buyer-1003", "张*伟"),
    ("buyer-1004", "刘*洋"),
    ("buyer-1005", "陈*静"),
    ("buyer-1006", "杨*磊"),
    ("buyer-1007", "赵*丽"),
    ("buyer-1008", "黄*强"),
    ("buyer-1009", "周*敏"),
    ("buyer-6666", "吴*杰"),  # the serial refunder whose history crosses a fraud tier
]
# What the shop answers and the reviewer decides, by the kind of photo the buyer sent:
# (the shop's statement, the reviewer's outcome, their rationale).
FORGERY_KINDS = frozenset({"forged", "forged_cropped", "aigc", "reused"})
STORIES = {
    "forged": (
        "这是我们的商品主图，裂痕是后期画上去的。This is our listing photo with painted cracks.",
        "refund_denied",
        "买家图片为商家主图的编辑副本。The buyer's photo is an edited copy of the listing photo.",
    ),
    "aigc": (
        "这张图片带有AI生成标识，不是实拍照片。The picture carries an AI-generation label; "
        "nobody photographed our parcel.",
        "refund_denied",
        "图片含AI生成隐式标识，且由商家主图生成。The picture is labelled AI-generated and was "
        "made from the listing photo.",
    ),
    "reused": (
        "另一位买家已提交过同一张照片。Another buyer already sent this same picture.",
        "refund_denied",
        "同一张图片已在另一位买家的申请中出现。The same picture was sent in another buyer's claim.",
    ),
    "genuine": (
        "发货时商品完好，有打包记录。The item was intact when we packed it; please check.",
        "refund_approved",
        "照片为实拍，损坏属实。The photo is genuine and shows real damage.",
    ),
}
STORIES["forged_cropped"] = STORIES["forged"]
STORIES["no_exif"] = STORIES["genuine"]
EVIDENCE_REQUESTS = {
    "genuine": "请补充一张外包装和快递面单的照片。Please send a photo of the parcel and its label.",
    "no_exif": "请补充一张未经编辑的原图（含拍摄信息）。Please send the unedited original photo, "
    "as the phone took it.",
}
DESCRIPTIONS = {
    "damaged": "收到货时杯身有裂痕，要求仅退款。Arrived cracked, refund only please.",
    "quality": "用了一次就出现污渍，质量太差。Stained after one use.",
    "not_as_described": "实物和图片不一样。Not what the listing showed.",
}


def _jpeg(image, *, camera: bool, taken_at=None, quality: int = 88) -> bytes:
    if camera:
        return synthetic.encode_jpeg(
            image,
            quality=quality,
            exif=True,
            taken_at=taken_at,
            make="Xiaomi",
            model="Redmi K70",
            thumbnail_of=image,
        )
    return synthetic.encode_jpeg(image, quality=quality)


def _aigc_png(image) -> bytes:
    """A generated picture carrying the GB 45438-2025 implicit label in a PNG text chunk."""
    from PIL import Image, PngImagePlugin

    label = {
        "AIGC": {
            "Label": "1",
            "ContentProducer": "001191110108MA01KP2T5U00000",
            "ProduceID": "demo-0001",
            "ReservedCode1": "",
            "ContentPropagator": "",
            "PropagateID": "",
            "ReservedCode2": "",
        }
    }
    info = PngImagePlugin.PngInfo()
    info.add_text("AIGC", json.dumps(label))
    out = io.BytesIO()
    Image.fromarray(image[:, :, ::-1].copy()).save(out, "PNG", pnginfo=info)
    return out.getvalue()


class Command(BaseCommand):
    help = "Create the demo accounts and (once) the demo shops, orders, claims and evidence."

    def add_arguments(self, parser):
        parser.add_argument(
            "--logins", action="store_true", help="Only print the demo's logins (load nothing)."
        )

    def handle(self, *args, **options):
        if options["logins"]:
            self._print_logins()
            return
        users = self._accounts(demo_password())
        if Merchant.objects.filter(platform_id=DEMO_MARKER).exists():
            self.stdout.write("Demo data already loaded; accounts refreshed.")
            return
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True  # check the demo evidence right now
        try:
            self._data(users)
        finally:
            celery_app.conf.task_always_eager = eager
        self._fresh_claims()  # these go to the real worker when it starts
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))

    def _print_logins(self):
        self.stdout.write(f"Logins (password: {demo_password()}):")
        width = max(len(login.username) for login in DEMO_LOGINS)
        with translation.override("en"):
            for login in DEMO_LOGINS:
                self.stdout.write(f"  {login.username.ljust(width)}  {describe(login)}")

    @staticmethod
    def _accounts(password: str) -> dict:
        user_model = get_user_model()
        users = {}
        for login in DEMO_LOGINS:
            user, _ = user_model.objects.get_or_create(username=login.username)
            user.is_staff, user.is_superuser = login.staff, login.superuser
            user.email = login.email  # password resets print to the demo's console
            user.set_password(password)
            user.save()
            if login.group:
                user.groups.add(Group.objects.get(name=login.group))
            users[login.username] = user
        return users

    @transaction.atomic
    def _shops(self, users):
        shops = []
        seed = 100
        for platform_id, name, titles in SHOPS:
            shop = merchant_create(platform_id=platform_id, name=name)
            members = [login for login in DEMO_LOGINS if login.shop == name]
            # The platform makes the owners; an owner adds the shop's agents.
            owner = None
            for login in sorted(members, key=lambda login: login.role != "owner"):
                membership_add(merchant=shop, user=users[login.username], role=login.role, by=owner)
                owner = owner or users[login.username]
            products = []
            for number, title in enumerate(titles, start=1):
                seed += 1
                product = product_create(
                    merchant=shop, platform_id=f"{platform_id}-p{number}", title=title, by=owner
                )
                products.append((product, seed))
            shops.append((shop, products))
        return shops

    def _data(self, users):
        shops = self._shops(users)
        for _shop, products in shops:
            for product, seed in products:
                listing = synthetic.render_product_photo(seed)
                evidence_add(
                    upload=_jpeg(listing.image, camera=False),
                    submitted_by="merchant",
                    original_name=f"listing-{seed}.jpg",
                    product=product,
                    actor=PLATFORM,
                )
        buyers = [
            services.buyer_upsert(
                platform_id=p,
                display_name=n,
                phone="138****0000",
                account_created_at=timezone.now() - dt.timedelta(days=300),
            )
            for p, n in BUYERS
        ]
        plan = self._plan()
        for index, (status, kind) in enumerate(plan):
            shop, products = shops[index % 2] if index < len(plan) - 2 else shops[2]
            product, seed = products[index % len(products)]
            buyer = buyers[-1] if kind == "forged" and index % 3 == 0 else buyers[index % 9]
            self._claim(index, status, kind, shop, product, seed, buyer, users)

    @staticmethod
    def _plan() -> list[tuple[str, str]]:
        """(status, kind of evidence) of each claim. A claim decided as a confirmed
        forgery has a forged photo; every other status takes the kinds in turn."""
        statuses = (
            ["awaiting_merchant"] * 10
            + ["in_review"] * 6
            + ["decided"] * 4
            + ["appealed"] * 2
            + ["closed"] * 3
            + ["awaiting_buyer"] * 2
            + ["withdrawn"] * 2
            + ["decided_forged"] * 3
        )
        kinds = [
            "forged",
            "genuine",
            "aigc",
            "forged",
            "genuine",
            "forged_cropped",
            "reused",
            "genuine",
            "no_exif",
        ]
        forgeries = [kind for kind in kinds if kind in FORGERY_KINDS]
        plan = []
        for i, status in enumerate(statuses):
            kind = kinds[i % len(kinds)]
            if status == "decided_forged" and kind not in FORGERY_KINDS:
                kind = forgeries[i % len(forgeries)]
            plan.append((status, kind))
        return plan

    def _evidence(self, kind: str, seed: int, order, index: int) -> list[tuple[bytes, str]]:
        delivered = order.delivered_at or timezone.now()
        if kind in ("forged", "forged_cropped", "reused"):
            listing = synthetic.render_product_photo(seed)
            forged = synthetic.paint_damage(listing, seed * 7 + index)  # claim 0: (101, 707)
            image = forged.image
            if kind == "forged_cropped":
                image, _box = synthetic.degrade(
                    image,
                    forged.damage_box,
                    crop=(0.06, 0.04, 0.05, 0.03),
                    scale=0.8,
                    jpeg_quality=75,
                    brightness=0.06,
                )
            if kind == "reused":  # claim 0's forged picture, sent again by another buyer
                image = synthetic.paint_damage(synthetic.render_product_photo(101), 707).image
            return [(_jpeg(image, camera=False, quality=82), "IMG_damage.jpg")]
        if kind == "aigc":
            listing = synthetic.render_product_photo(seed)
            return [(_aigc_png(synthetic.paint_damage(listing, seed + index).image), "photo.png")]
        shot = synthetic.render_other_shot(seed, index)
        # EXIF keeps local time without a zone: write it as the phone would, in UTC+8.
        taken = timezone.localtime(delivered + dt.timedelta(hours=5))
        return [
            (_jpeg(shot.image, camera=kind != "no_exif", taken_at=taken), f"IMG_{index:04d}.jpg")
        ]

    def _claim(self, index, status, kind, shop, product, seed, buyer, users):
        price = (
            Decimal("1899.00")
            if buyer.platform_id == "buyer-6666"
            else Decimal(str(39 + (index * 37) % 400))
        )
        paid = timezone.now() - dt.timedelta(days=6 + index % 5, hours=index)
        order = services.order_create(
            merchant=shop,
            buyer=buyer,
            platform_id=f"{shop.platform_id}-o{index:03d}",
            items=[services.ItemInput(title=product.title, unit_price=price, product=product)],
            paid_at=paid,
            shipped_at=paid + dt.timedelta(days=1),
            delivered_at=paid + dt.timedelta(days=3),
            shipping_address="浙江省杭州市西湖区 ** 路 ** 号",
        )
        shipment_create(
            order=order,
            carrier="SF Express",
            tracking_number=f"SF{9000000 + index}",
            shipped_at=order.shipped_at,
        )
        reason = ["damaged", "quality", "not_as_described"][index % 3]
        photos = self._evidence(kind, seed, order, index)
        # The claim and its photos in one transaction: it is evaluated (after commit) with
        # its photos attached, never as a claim with "no evidence files to check".
        with transaction.atomic():
            claim = services.claim_submit(
                order=order,
                amount=price,
                reason=reason,
                description=DESCRIPTIONS[reason],
                platform_id=f"claim-{index:03d}",
                actor=PLATFORM,
            )
            for data, name in photos:
                evidence_add(
                    upload=data,
                    submitted_by="buyer",
                    original_name=name,
                    claim=claim,
                    actor=PLATFORM,
                )
        claim.refresh_from_db()
        self._advance(claim, status, kind, users, index)

    @staticmethod
    def _advance(claim, status, kind, users, index):
        members = {m.role: m.user for m in claim.merchant.memberships.select_related("user")}
        # Agents answer claims as owners do: the shop's agent answers some of them.
        merchant = members["agent"] if index % 4 == 2 and "agent" in members else members["owner"]
        statement, outcome, rationale = STORIES[kind]
        if status == "awaiting_merchant":
            return
        if status == "withdrawn":
            services.claim_withdraw(claim=claim, actor=PLATFORM, reason="买家撤回 buyer withdrew")
            return
        services.claim_merchant_respond(
            claim=claim, user=merchant, response="contest", statement=statement
        )
        if status == "in_review":
            return
        reviewer = users["reviewer"]
        services.claim_assign(claim=claim, reviewer=reviewer)
        if status == "awaiting_buyer":
            services.claim_request_buyer_evidence(
                claim=claim, reviewer=reviewer, message=EVIDENCE_REQUESTS[kind]
            )
            return
        services.claim_decide(
            claim=claim,
            reviewer=reviewer,
            outcome=outcome,
            rationale=rationale,
            confirmed_forgery=outcome == "refund_denied",
        )
        if status == "appealed":
            services.claim_appeal(
                claim=claim,
                filed_by="buyer",
                reason="我的照片是真实的，请重新审核。My photo is real.",
            )
        elif status == "closed":
            # Before the appeal window is over: the platform closes it because neither
            # party will appeal (what "appeal window over" would have claimed is untrue).
            services.claim_close(
                claim=claim, actor=PLATFORM, reason="双方均不申诉 neither party will appeal"
            )

    def _fresh_claims(self):
        """Two claims left for the running worker: they show up as received / checking."""
        shop = Merchant.objects.get(platform_id=DEMO_MARKER)
        product = shop.products.first()
        buyer = services.buyer_upsert(platform_id="buyer-1010", display_name="孙*琳")
        for index in (90, 91):
            paid = timezone.now() - dt.timedelta(days=4)
            order = services.order_create(
                merchant=shop,
                buyer=buyer,
                platform_id=f"{shop.platform_id}-o{index:03d}",
                items=[
                    services.ItemInput(
                        title=product.title, unit_price=Decimal("129.00"), product=product
                    )
                ],
                paid_at=paid,
                shipped_at=paid + dt.timedelta(days=1),
                delivered_at=paid + dt.timedelta(days=2),
            )
            forged = synthetic.paint_damage(synthetic.render_product_photo(101), index)
            with transaction.atomic():
                claim = services.claim_submit(
                    order=order,
                    amount=Decimal("129.00"),
                    reason="damaged",
                    description=DESCRIPTIONS["damaged"],
                    actor=PLATFORM,
                )
                evidence_add(
                    upload=_jpeg(forged.image, camera=False),
                    submitted_by="buyer",
                    original_name="IMG_new.jpg",
                    claim=claim,
                    actor=PLATFORM,
                )
