"""Merchant B never reaches merchant A's objects, whatever the merchant-facing URL; an
agent of shop A answers claims but manages neither its products nor its members.

The URL patterns come from the resolver: every pattern of the merchant-facing URL
modules (merchants, the merchant part of refunds, evidence files, notifications) that
takes an object's id or uuid must have an entry in ``OBJECTS_OF_SHOP_A``, or the first
test fails naming it. For each, bob (owner of shop B) gets exactly what a visitor gets
for an object that does not exist (404; 405 where the method is not the view's, for
every object alike, so it reveals nothing), a POST is always refused, and nothing of
shop A changed. tests/security/test_authorisation_matrix.py checks every role on every
route; this file is the cross-shop rule of issue 12, by itself and complete.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.web.conftest import _forged_claim

pytestmark = pytest.mark.django_db

MERCHANT_URL_MODULES = ("merchants.urls", "refunds.urls", "evidence.urls", "notifications.urls")
# route name -> (world -> URL kwargs for shop A's object); the ids are A's.
OBJECTS_OF_SHOP_A = {
    "merchant_claim": lambda w: {"claim_id": w["claim"].pk},
    "merchant_claim_evidence": lambda w: {"claim_id": w["claim"].pk},
    "merchant_claim_appeal": lambda w: {"claim_id": w["decided"].pk},
    "merchant_claim_ai_suspect": lambda w: {"claim_id": w["claim"].pk},
    "merchant_claim_evidence_pack": lambda w: {"claim_id": w["claim"].pk},
    "merchant_product_photos": lambda w: {"product_id": w["product"].pk},
    "merchant_product_retire": lambda w: {"product_id": w["product"].pk},
    "merchant_product_photo_replace": lambda w: {"photo_id": w["photo"].pk},
    "merchant_shipment": lambda w: {"shipment_id": w["shipment"].pk},
    "merchant_shipment_evidence": lambda w: {"shipment_id": w["shipment"].pk},
    "evidence:display": lambda w: {"file_uuid": w["buyer_photo"].uuid},
    "evidence:original": lambda w: {"file_uuid": w["buyer_photo"].uuid},
    "evidence:artifact": lambda w: {"artifact_id": w["artifact"].pk},
    "notification_open": lambda w: {"notification_id": w["notification"].pk},
}
# Patterns of those modules that are not the merchant's (the reviewers' own pages, whose
# cross-role rule is the authorisation matrix's).
NOT_MERCHANT_FACING = ("review_",)


def _walk(patterns, prefix="", namespace="", module=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.urlconf_name
            name = inner if isinstance(inner, str) else getattr(inner, "__name__", "")
            space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), space, name)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern), module


def merchant_object_routes() -> dict[str, str]:
    """Every merchant-facing route that names an object: route name -> pattern."""
    return {
        name: route
        for name, route, module in _walk(get_resolver().url_patterns)
        if module in MERCHANT_URL_MODULES
        and "<" in route
        and not name.split(":")[-1].startswith(NOT_MERCHANT_FACING)
    }


def _missing_kwargs(kwargs: dict) -> dict:
    """The same URL for an object that does not exist."""
    return {
        key: uuid.uuid4() if isinstance(value, uuid.UUID) else 2_000_000_000
        for key, value in kwargs.items()
    }


def _post_body(photo: bytes) -> dict:
    """What the forms of these routes read: an answer, a reason, a note, files, photos."""
    return {
        "response": "contest",
        "statement": "裂痕是画上去的 the crack is painted",
        "reason": "请复核 please review it again",
        "note": "阴影方向不一致",
        "files": [SimpleUploadedFile("x.jpg", photo, "image/jpeg")],
        "file": SimpleUploadedFile("y.jpg", photo, "image/jpeg"),
        "photo": ["1"],
    }


@pytest.fixture
def world(
    alice,
    charlie,
    shop_a,
    listing_product,
    make_order,
    make_claim,
    contest_and_decide,
    django_capture_on_commit_callbacks,
):
    from django.utils import timezone

    from evidence.models import FindingArtifact
    from merchants.services import shipment_create
    from notifications.models import Notification

    claim = _forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks)
    decided = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        contest_and_decide(decided, alice, charlie)
    return {
        "claim": claim,
        "decided": decided,
        "product": listing_product,
        "photo": listing_product.photos.get(),
        "shipment": shipment_create(
            order=claim.order, carrier="SF", tracking_number="SF1", shipped_at=timezone.now()
        ),
        "buyer_photo": claim.evidence_files.get(submitted_by="buyer"),
        "artifact": FindingArtifact.objects.filter(finding__claim=claim).first(),
        "notification": Notification.objects.filter(user=alice).first(),
    }


def _shop_a_state(world) -> dict:
    from evidence.models import EvidenceFile
    from notifications.models import Notification
    from refunds.models import AuditEvent, RefundClaim

    return {
        "claims": list(RefundClaim.objects.order_by("pk").values_list("pk", "status", "queue_id")),
        "audit": AuditEvent.objects.count(),
        "files": list(EvidenceFile.objects.order_by("pk").values_list("pk", "retired_at")),
        "read": list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
    }


def test_every_merchant_object_route_has_a_cross_shop_entry():
    routes = merchant_object_routes()

    assert set(routes) - set(OBJECTS_OF_SHOP_A) == set(), "new route without a cross-shop test"
    assert set(OBJECTS_OF_SHOP_A) - set(routes) == set(), "an entry for a route that is gone"


def test_merchant_b_gets_404_for_every_object_of_merchant_a(client, bob, world, photo_bytes):
    assert all(world.values()), world  # every object of the table exists
    client.force_login(bob)
    before = _shop_a_state(world)

    for name, kwargs_of in OBJECTS_OF_SHOP_A.items():
        kwargs = kwargs_of(world)
        url, missing = reverse(name, kwargs=kwargs), reverse(name, kwargs=_missing_kwargs(kwargs))

        got, nothing = client.get(url), client.get(missing)
        assert got.status_code == nothing.status_code, (name, "GET")
        assert got.status_code in (404, 405), (name, "GET", got.status_code)
        got = client.post(url, _post_body(photo_bytes(3)))
        assert got.status_code == 404, (name, "POST", got.status_code)
        assert client.post(missing, _post_body(photo_bytes(3))).status_code == 404, name

    assert _shop_a_state(world) == before


def test_alice_reaches_every_object_of_the_table(client, alice, world):
    """The table's objects are shop A's indeed: their owner gets past the lookup (all
    but the original bytes of a buyer's photo, which are the reviewers' only)."""
    client.force_login(alice)

    for name, kwargs_of in OBJECTS_OF_SHOP_A.items():
        if name == "evidence:original":
            continue
        url = reverse(name, kwargs=kwargs_of(world))
        answers = {client.get(url).status_code}
        if 405 in answers:  # a POST-only view: the lookup happens on POST
            answers = {client.post(url, {}).status_code}
        assert answers.isdisjoint({404}), (name, answers)


# --- an agent answers claims, never manages products or members ----------------------


@pytest.fixture
def agnes(django_user_model, shop_a, alice):
    from merchants.services import membership_add

    user = django_user_model.objects.create_user("agnes", password="pw-agnes-123")
    membership_add(merchant=shop_a, user=user, role="agent", by=alice)
    return user


def test_an_agent_is_refused_every_product_and_member_service(
    agnes, alice, django_user_model, shop_a, listing_product, photo_bytes
):
    from merchants import services
    from merchants.models import Membership
    from refunds.exceptions import NotAllowed

    photo = listing_product.photos.get()
    newcomer = django_user_model.objects.create_user("newcomer")
    upload = SimpleUploadedFile("a.jpg", photo_bytes(4), "image/jpeg")
    attempts = {
        "create a product": lambda: services.product_create(
            merchant=shop_a, platform_id="p-x", title="X", by=agnes
        ),
        "add photos": lambda: services.product_photos_add(
            product=listing_product, uploads=[(upload, "a.jpg")], by=agnes
        ),
        "replace a photo": lambda: services.product_photos_add(
            product=listing_product, uploads=[(upload, "a.jpg")], by=agnes, replaces=photo
        ),
        "retire photos": lambda: services.product_photos_retire(
            product=listing_product, photo_ids=[photo.pk], by=agnes
        ),
        "add a member": lambda: services.membership_add(
            merchant=shop_a, user=newcomer, role="agent", by=agnes
        ),
        "make herself owner": lambda: services.membership_add(
            merchant=shop_a, user=agnes, role="owner", by=agnes
        ),
        "remove the owner": lambda: services.membership_remove(
            merchant=shop_a, user=alice, by=agnes
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(NotAllowed):
            attempt()
        assert what  # named in the failure's traceback

    photo.refresh_from_db()
    assert photo.retired_at is None and listing_product.photos.count() == 1
    assert shop_a.products.count() == 1
    roles = dict(Membership.objects.filter(merchant=shop_a).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "agnes": "agent"}


def test_an_agent_is_refused_every_product_page_action_and_sees_no_management(
    client, agnes, listing_product, photo_bytes
):
    photo = listing_product.photos.get()
    client.force_login(agnes)
    actions = {
        "merchant_product_photos": ({"product_id": listing_product.pk}, "files"),
        "merchant_product_photo_replace": ({"photo_id": photo.pk}, "file"),
        "merchant_product_retire": ({"product_id": listing_product.pk}, None),
    }

    for name, (kwargs, field) in actions.items():
        data = {"photo": [photo.pk]}
        if field:
            data[field] = SimpleUploadedFile("a.jpg", photo_bytes(6), "image/jpeg")
        response = client.post(reverse(name, kwargs=kwargs), data, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400, name
        assert "Only an owner of the shop can manage its products." in response.content.decode()

    photo.refresh_from_db()
    assert photo.retired_at is None and listing_product.photos.count() == 1
    products = client.get(reverse("merchant_products"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-upload-form" not in products and "Retire" not in products
    profile = client.get(reverse("profile"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Agent" in profile
    # No page of the portal manages members: they are the platform's and the owners'
    # (services and the admin, which an agent cannot open).
    assert all("member" not in route for route in merchant_object_routes().values())
    assert client.get("/admin/").status_code == 302
