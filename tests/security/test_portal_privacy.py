"""No merchant page, e-mail, notification or evidence pack ever holds a buyer's GPS
position, phone or address.

The buyer's claim carries the two GPS-tagged camera photos of ``../shared/testdata/camera/``
(and a copy of the listing photo, so there are findings, artifacts and a compare
control); the order names the buyer with a phone and a street address. The shop is then
told of everything a shop is told of (new claim, evidence requested, decision, appeal
decided, deadline soon, the digest), and every merchant-facing page the resolver knows
is rendered in both languages, with the pages after each action. Each text is searched
for the coordinates in every form a page could write them (decimal, degrees-minutes-
seconds, the raw EXIF rationals), the phone (as stored, spaced, dashed) and the address.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from django.core import mail
from django.urls import get_resolver, reverse
from django.utils import timezone
from PIL import Image

from tests.conftest import TESTDATA
from tests.security.test_portal_cross_shop import OBJECTS_OF_SHOP_A, _walk
from tests.web.conftest import zh_catalogue  # noqa: F401 (fixture)
from tests.web.test_claim_page import _claim_with_photos

pytestmark = pytest.mark.django_db

# ``../shared/testdata/camera/`` beside the repository; a git worktree's sibling may lack
# it, then the machine's shared copy.
CAMERA = TESTDATA / "camera"
if not CAMERA.exists():
    CAMERA = Path("/work/shared/testdata/camera")
GPS_PHOTOS = ("gps_DSCN0010.jpg", "gps_DSCN0021.jpg")
GPS_IFD = 0x8825
ORDER_PHONE = "13912345678"
ADDRESS = "浙江省杭州市西湖区文三路 477 号 5 幢 1203 室"
ADDRESS_PARTS = ("文三路", "477 号", "1203 室")
LANGUAGES = ({"HTTP_ACCEPT_LANGUAGE": "en"}, {"HTTP_ACCEPT_LANGUAGE": "zh-hans"})
MERCHANT_PAGE_MODULES = (
    "merchants.urls",
    "refunds.urls",
    "evidence.urls",
    "notifications.urls",
    "accounts.urls",
)


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """The uploads in a temporary directory."""


def _coordinate_forms(name: str) -> set[str]:
    """Every way a page could write the photo's position."""
    gps = Image.open(CAMERA / name).getexif().get_ifd(GPS_IFD)
    forms = {"WGS-84"}
    for tag in (2, 4):  # latitude, longitude: three rationals each
        raw = [Fraction(value.numerator, value.denominator) for value in gps[tag]]
        degrees, minutes, seconds = (float(v) for v in raw)
        decimal = degrees + minutes / 60 + seconds / 3600
        forms |= {f"{decimal:.3f}", f"{decimal:.4f}", f"{decimal:.5f}", f"{decimal:.6f}"}
        forms |= {f"{seconds:.3f}", f'{seconds:.2f}"', f'{seconds:.1f}"', f"{seconds:.1f}″"}
        for sign in ("°", "&deg;", "&#176;", "º"):
            forms |= {f"{int(degrees)}{sign}{int(minutes)}", f"{int(degrees)}{sign} {int(minutes)}"}
        forms |= {f"{int(degrees)}, {int(minutes)}", f"{int(degrees)} deg {int(minutes)}"}
        for value in gps[tag]:
            forms |= {
                f"{value.numerator}/{value.denominator}",
                f"({value.numerator}, {value.denominator})",
            }
            if value.denominator != 1:
                forms.add(str(value.numerator))
    return forms


def _phone_forms(phone: str) -> set[str]:
    return {phone, f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"}


@pytest.fixture
def forbidden(buyer) -> set[str]:
    words = {ADDRESS, *ADDRESS_PARTS} | _phone_forms(ORDER_PHONE) | _phone_forms(buyer.phone)
    for name in GPS_PHOTOS:
        words |= _coordinate_forms(name)
    return words


@pytest.fixture
def private_claim(alice, shop_a, buyer, listing_product, django_capture_on_commit_callbacks):
    """Shop A's claim with the two GPS photos and a copy of its listing photo, on an
    order that names the buyer's phone and street address (alice, its owner, has an
    e-mail address: she is told of it)."""
    alice.email = "alice@example.com"
    alice.save()
    from refunds.services import ItemInput, order_create
    from testing import synthetic

    paid = timezone.now() - dt.timedelta(days=5)
    order = order_create(
        merchant=shop_a,
        buyer=buyer,
        platform_id="order-private-1",
        items=[
            ItemInput(
                title="北欧陶瓷马克杯 Nordic mug",
                unit_price=Decimal("199.00"),
                product=listing_product,
            )
        ],
        paid_at=paid,
        shipped_at=paid + dt.timedelta(days=1),
        delivered_at=paid + dt.timedelta(days=3),
        shipping_address=ADDRESS,
        buyer_name="李四",
        buyer_phone=ORDER_PHONE,
    )
    copy = synthetic.paint_damage(synthetic.render_product_photo(101), 707).image
    uploads = [("IMG_copy.jpg", synthetic.encode_jpeg(copy, quality=85))]
    uploads += [(name, (CAMERA / name).read_bytes()) for name in GPS_PHOTOS]
    claim = _claim_with_photos(order, uploads, django_capture_on_commit_callbacks)
    assert claim.evidence_files.filter(status="checked").count() == 3
    assert all(
        Image.open(f.original).getexif().get_ifd(GPS_IFD)
        for f in claim.evidence_files.filter(original_name__startswith="gps_")
    )
    return claim


@pytest.fixture
def told_everything(
    alice,
    charlie,
    dora,
    shop_a,
    make_claim,
    private_claim,
    django_user_model,
    django_capture_on_commit_callbacks,
):
    """The shop told of each kind of event about the private claim and a second one;
    agnes takes the daily digest."""
    from merchants.services import membership_add
    from notifications import services as notifications
    from refunds import services

    agnes = django_user_model.objects.create_user("agnes", email="agnes@example.com")
    membership_add(merchant=shop_a, user=agnes, role="agent", by=alice)
    notifications.preferences_update(user=agnes, digest=True)
    asked = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        for claim in (asked, private_claim):
            services.claim_merchant_respond(
                claim=claim, user=alice, response="contest", statement="裂痕是画上去的 painted"
            )
        services.claim_assign(claim=asked, reviewer=charlie)
        services.claim_request_buyer_evidence(
            claim=asked, reviewer=charlie, message="请拍包装盒 a photo of the box"
        )
        for reviewer, rationale in (
            (charlie, "Our listing photo, cracked."),
            (dora, "Upheld on appeal: the crack is painted."),
        ):
            services.claim_assign(claim=private_claim, reviewer=reviewer)
            services.claim_decide(
                claim=private_claim, reviewer=reviewer, outcome="refund_denied", rationale=rationale
            )
            if reviewer is charlie:
                services.claim_appeal(
                    claim=private_claim,
                    filed_by="merchant",
                    reason="请再看一次 look again",
                    user=alice,
                )
    soon = make_claim(shop_a)
    soon.__class__.objects.filter(pk=soon.pk).update(
        merchant_deadline=timezone.now() + dt.timedelta(hours=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        notifications.deadline_reminders_send()
        for user_id in notifications.digests_send_due():
            notifications.digest_send(user_id=user_id)
    return agnes


def _texts_of_mail() -> list[str]:
    texts = []
    for message in mail.outbox:
        texts.append(message.subject + "\n" + message.body)
        texts += [content for content, _type in getattr(message, "alternatives", [])]
    return texts


def _merchant_page_urls(objects: dict) -> list[str]:
    """Every GET-able merchant-facing URL: the pages without an object, then each
    object route of the cross-shop table with shop A's objects."""
    urls = []
    for name, route, module in _walk(get_resolver().url_patterns):
        if module not in MERCHANT_PAGE_MODULES or name.startswith("review_"):
            continue
        if "<" not in route:
            urls.append(reverse(name))
        elif name in OBJECTS_OF_SHOP_A and name != "evidence:original":
            urls.append(reverse(name, kwargs=OBJECTS_OF_SHOP_A[name](objects)))
    return urls


def _assert_clean(text: str, forbidden: set[str], where: str) -> None:
    found = sorted(word for word in forbidden if word in text)
    assert not found, (where, found)


def test_no_page_mail_notification_or_pack_holds_the_buyers_position_phone_or_address(
    client,
    alice,
    private_claim,
    told_everything,
    forbidden,
    listing_product,
    zh_catalogue,  # noqa: F811
):
    from evidence.models import FindingArtifact
    from merchants.services import shipment_create
    from notifications.models import Notification

    # given: the shop was told of every kind of event, by the bell and by e-mail
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert {
        "new_claim",
        "evidence_requested",
        "decision",
        "appeal_decided",
        "deadline_soon",
    } <= kinds
    assert f"#{private_claim.pk}" in mail.outbox[0].subject  # the new claim's mail
    assert any(m.to == ["agnes@example.com"] for m in mail.outbox)  # the digest
    assert len(mail.outbox) >= 7
    objects = {
        "claim": private_claim,
        "decided": private_claim,
        "product": listing_product,
        "photo": listing_product.photos.first(),
        "shipment": shipment_create(
            order=private_claim.order,
            carrier="SF",
            tracking_number="SF9",
            shipped_at=timezone.now(),
        ),
        "buyer_photo": private_claim.evidence_files.get(original_name=GPS_PHOTOS[0]),
        "artifact": FindingArtifact.objects.filter(finding__claim=private_claim).first(),
        "notification": Notification.objects.filter(user=alice).first(),
    }
    client.force_login(alice)

    # when: every merchant page is rendered in both languages (and the inbox searched)
    urls = _merchant_page_urls(objects)
    urls += [
        reverse("merchant_inbox") + "?q=order-private-1",
        reverse("merchant_inbox") + "?shop=all&sort=risk",
        reverse("merchant_claim", args=[private_claim.pk]) + "?response=accept",
    ]
    assert len(urls) >= 15
    binary = {}
    for headers in LANGUAGES:
        for url in urls:
            response = client.get(url, **headers)
            assert response.status_code in (200, 302, 405), (url, response.status_code)
            if response.get("Content-Type", "").startswith("text/"):
                _assert_clean(response.content.decode(), forbidden, url)
            else:
                binary[url] = b"".join(response) if response.streaming else response.content

    # then: nor does any e-mail or notification, nor the images and the pack
    for text in _texts_of_mail():
        _assert_clean(text, forbidden, "mail")
    for row in Notification.objects.all():
        _assert_clean(f"{row.params} {row.event_key}", forbidden, f"notification {row.pk}")
    pack_url = reverse("merchant_claim_evidence_pack", args=[private_claim.pk])
    for headers in LANGUAGES:  # a POST: the export is recorded
        response = client.post(pack_url, **headers)
        assert response["Content-Type"] == "application/zip"
        _assert_pack_clean(b"".join(response.streaming_content), forbidden)
    for url, data in binary.items():  # the display copies and the artifacts
        assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD) == {}, url
        assert b"WGS-84" not in data, url


def _assert_pack_clean(pack: bytes, forbidden: set[str]) -> None:
    from pypdf import PdfReader

    archive = zipfile.ZipFile(io.BytesIO(pack))
    assert any(name.endswith(".pdf") for name in archive.namelist())
    for name in archive.namelist():
        data = archive.read(name)
        if name.endswith(".pdf"):
            reader = PdfReader(io.BytesIO(data))
            text = " ".join(page.extract_text() for page in reader.pages)
            assert "Nordic" in text or "北欧" in text  # the report was read
            _assert_clean(text, forbidden, name)
        elif name.endswith((".jpg", ".jpeg", ".png")):
            assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD) == {}, name
        else:
            _assert_clean(data.decode(errors="replace"), forbidden, name)


def test_the_searched_forms_catch_each_way_of_writing_them(buyer, forbidden):
    """The search is not vacuous: the ways a careless template or e-mail would write the
    first photo's position, or the buyer's phone and address, are all caught."""
    writings = [
        "43.467448, 11.885127",  # decimal degrees
        "43°28′2.81″ N",
        "43° 28' 2.814\" N",
        "11&deg;53",
        "GPSLatitude: 281400000/100000000",  # the raw rational
        "((43, 1), (28, 1), (281400000, 100000000))",
        f"电话 {buyer.phone[:3]} {buyer.phone[3:7]} {buyer.phone[7:]}",
        "收货地址：浙江省杭州市西湖区文三路 477 号",
    ]
    for text in writings:
        with pytest.raises(AssertionError):
            _assert_clean(text, forbidden, "a careless page")
