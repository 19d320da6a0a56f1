"""Who gets past authorisation, for every route of the URL configuration.

The routes come from ``django.urls.get_resolver()``, not from a hand-kept list: a route
added to the URL conf without an entry in ``EXPECTED`` (or, for the admin, without a
place in the admin rule) fails here as "new route without an authorisation entry".

Each route is called with each method (GET, POST, and PUT/PATCH/DELETE where the API
view allows them) by each role, against shop A's / client A's objects, and the answer
must fall in the class the table names. The classes follow what the project does
everywhere (tests/api/test_tenancy.py, tests/web): another tenant's object is a 404,
never a 403 that would confirm it exists; a page for another role is a 404 too; an
anonymous visitor is sent to the login page, an API call without a token gets 401; a
platform client that lacks a capability gets 403. Every request that is not expected
to act must leave the database as it was (claims' statuses, audit trail, assignments,
decisions, appeals, files, endpoints...): a refused POST that still wrote is a failure
even when its status code looks right.

Each request runs in a savepoint that is rolled back, so one role's successful action
never changes what the next role meets; the world itself is built once per module.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.test.client import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.world import SHOP_A_TAG, build_world

pytestmark = pytest.mark.django_db

# --- roles -------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
OWNER_A = "merchant A owner"
OWNER_B = "merchant B owner"
AGENT_A = "agent of shop A"
REVIEWER = "reviewer"
SENIOR = "senior reviewer"
ADMIN = "superuser"
CLIENT_A = "platform client A"
CLIENT_B = "platform client B"
ROLES = (ANONYMOUS, OWNER_A, OWNER_B, AGENT_A, REVIEWER, SENIOR, ADMIN, CLIENT_A, CLIENT_B)
# Only the admin rule uses these two: staff without any permission, staff who may view
# claims and nothing else.
STAFF = "staff without permissions"
CLAIM_VIEWER = "staff who may view claims"
ADMIN_ROLES = (*ROLES, STAFF, CLAIM_VIEWER)
USERNAMES = {
    OWNER_A: "alice",
    OWNER_B: "bob",
    AGENT_A: "agnes",
    REVIEWER: "charlie",
    SENIOR: "dora",
    ADMIN: "root",
    STAFF: "stan",
    CLAIM_VIEWER: "vera",
}
TOKENS = {CLIENT_A: "client_a", CLIENT_B: "client_b"}


# --- classes of answers --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A class of answers: which status codes, and whether the request may write."""

    name: str
    statuses: frozenset[int]
    writes: bool = False  # True: the action must happen (the database changes)
    redirect_to: tuple[str, ...] = ()  # a 302 must go to one of these paths
    own_rows_only: bool = False  # the body must not show any of shop A's data
    or_not_served: bool = False  # a 404 that writes nothing is acceptable too

    def __str__(self) -> str:
        return self.name

    def problem(self, response, changed: bool, markers: list[str]) -> str | None:
        status = response.status_code
        if self.or_not_served and status == 404:
            return "answered 404 and CHANGED the database" if changed else None
        if status not in self.statuses:
            return f"answered {status}"
        location = response.get("Location", "")
        if self.redirect_to and status == 302:
            if not any(location.split("?")[0] == path for path in self.redirect_to):
                return f"redirected to {location}"
        elif status == 302 and location.split("?")[0] in LOGIN_PAGES:
            return f"sent to log in ({location})"
        if self.writes and not changed:
            return f"answered {status} but nothing was written"
        if changed and not self.writes:
            return f"answered {status} and CHANGED the database"
        if self.own_rows_only:
            body = response.content.decode(errors="replace")
            leaked = [marker for marker in markers if marker in body]
            if leaked:
                return f"shows shop A's data {leaked}"
        return None


SUCCESS = frozenset({200, 201, 204, 301, 302, 303})
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")
OK = Answer("allowed", SUCCESS)
DONE = Answer("allowed, and acts", SUCCESS, writes=True)
OWN_ROWS = Answer("allowed, own rows only", frozenset({200}), own_rows_only=True)
# Past authorisation, but the rules refuse this action: a form error, a message, a 4xx
# problem; never a 5xx, and nothing written.
REFUSED = Answer("refused by the rules", frozenset({200, 302, 400, 403, 404, 409}))
NOT_FOUND = Answer("404", frozenset({404}))
FORBIDDEN = Answer("403", frozenset({403}))
NOT_ALLOWED = Answer("405", frozenset({405}))
LOGIN = Answer("302 to the login page", frozenset({302}), redirect_to=("/accounts/login/",))
UNAUTHENTICATED = Answer("401", frozenset({401}))
LOGGED_OUT = Answer(
    "signed out, 302 to the login page", frozenset({302}), redirect_to=LOGIN.redirect_to
)
# The admin sends whoever is not staff to its login page (its logout, to its index).
ADMIN_LOGIN = Answer(
    "302 to the admin login", frozenset({302}), redirect_to=("/admin/login/", "/admin/")
)

# --- blocks of the table (one role each, all roles always) ------------------------------

PUBLIC = dict.fromkeys(ROLES, OK)
PUBLIC_405 = dict.fromkeys(ROLES, NOT_ALLOWED)
NOBODY_404 = dict.fromkeys(ROLES, NOT_FOUND)

# Browser pages of shop A's merchants: owners and agents act for the shop.
_NOT_BROWSER = {ANONYMOUS: LOGIN, CLIENT_A: LOGIN, CLIENT_B: LOGIN}
SHOP_A_PAGE = {
    **_NOT_BROWSER,
    OWNER_A: OK,
    AGENT_A: OK,
    OWNER_B: NOT_FOUND,
    REVIEWER: NOT_FOUND,
    SENIOR: NOT_FOUND,
    ADMIN: NOT_FOUND,
}
SHOP_A_ACTION = {**SHOP_A_PAGE, OWNER_A: DONE, AGENT_A: DONE}
SHOP_A_REFUSED = {**SHOP_A_PAGE, OWNER_A: REFUSED, AGENT_A: REFUSED}
# GET on a POST-only page: 405 before any object is looked up (so it reveals nothing).
SIGNED_IN_405 = {
    **_NOT_BROWSER,
    OWNER_A: NOT_ALLOWED,
    AGENT_A: NOT_ALLOWED,
    OWNER_B: NOT_ALLOWED,
    REVIEWER: NOT_ALLOWED,
    SENIOR: NOT_ALLOWED,
    ADMIN: NOT_ALLOWED,
}
# Pages every signed-in user has, showing only their own shops' rows.
SIGNED_IN_OWN = {
    **_NOT_BROWSER,
    OWNER_A: OK,
    AGENT_A: OK,
    OWNER_B: OWN_ROWS,
    REVIEWER: OWN_ROWS,
    SENIOR: OWN_ROWS,
    ADMIN: OWN_ROWS,
}
SIGNED_IN = {
    **_NOT_BROWSER,
    OWNER_A: OK,
    AGENT_A: OK,
    OWNER_B: OK,
    REVIEWER: OK,
    SENIOR: OK,
    ADMIN: OK,
}

# The selected shop's pages (products, shipments): a member sees their first shop (bob his
# own, never shop A's); somebody acting for no shop is told the page does not exist.
SHOP_PAGE = {
    **_NOT_BROWSER,
    OWNER_A: OK,
    AGENT_A: OK,
    OWNER_B: OWN_ROWS,
    REVIEWER: NOT_FOUND,
    SENIOR: NOT_FOUND,
    ADMIN: NOT_FOUND,
}
# Managing products is an owner's (refunds.policy.can_manage_products): the agent is refused.
OWNER_A_ACTION = {**SHOP_A_PAGE, OWNER_A: DONE, AGENT_A: REFUSED}
# A person's own object (a notification of alice's): hers only, 404 for everybody else.
ALICE_ONLY = {**SHOP_A_PAGE, AGENT_A: NOT_FOUND}

# Reviewer pages: the reviewer groups and the superuser; a merchant is told they do not exist.
REVIEWER_PAGE = {
    **_NOT_BROWSER,
    OWNER_A: NOT_FOUND,
    AGENT_A: NOT_FOUND,
    OWNER_B: NOT_FOUND,
    REVIEWER: OK,
    SENIOR: OK,
    ADMIN: OK,
}
REVIEWER_405 = {**REVIEWER_PAGE, REVIEWER: NOT_ALLOWED, SENIOR: NOT_ALLOWED, ADMIN: NOT_ALLOWED}
REVIEWER_ACTION = {**REVIEWER_PAGE, REVIEWER: DONE, SENIOR: DONE, ADMIN: DONE}
REVIEWER_REFUSED = {**REVIEWER_PAGE, REVIEWER: REFUSED, SENIOR: REFUSED, ADMIN: REFUSED}
# The claim is held by charlie (REVIEWER): only the holder acts on it.
HOLDER_ACTION = {**REVIEWER_PAGE, REVIEWER: DONE, SENIOR: REFUSED, ADMIN: REFUSED}

# Files: shop A's members and the reviewers; the original bytes to reviewers only.
FILE_OF_SHOP_A = {**SHOP_A_PAGE, REVIEWER: OK, SENIOR: OK, ADMIN: OK}
ORIGINAL_FILE = {**REVIEWER_PAGE}

# The platform API: a token or nothing (a browser session is not a credential there).
_NO_TOKEN = dict.fromkeys(
    (ANONYMOUS, OWNER_A, OWNER_B, AGENT_A, REVIEWER, SENIOR, ADMIN), UNAUTHENTICATED
)
API_READ_A = {**_NO_TOKEN, CLIENT_A: OK, CLIENT_B: NOT_FOUND}
API_WRITE_A = {**_NO_TOKEN, CLIENT_A: DONE, CLIENT_B: NOT_FOUND}
API_LIST = {**_NO_TOKEN, CLIENT_A: OK, CLIENT_B: OWN_ROWS}
# A create whose body names shop A's objects: client B's references do not exist (400).
API_CREATE_FOR_A = {**_NO_TOKEN, CLIENT_A: DONE, CLIENT_B: REFUSED}
API_CREATE_OWN = {**_NO_TOKEN, CLIENT_A: DONE, CLIENT_B: DONE}
API_405 = {**_NO_TOKEN, CLIENT_A: NOT_ALLOWED, CLIENT_B: NOT_ALLOWED}
API_FORBIDDEN = {**_NO_TOKEN, CLIENT_A: FORBIDDEN, CLIENT_B: FORBIDDEN}

# --- the table ------------------------------------------------------------------------------
# route name -> subject (the world object the URL kwargs come from; "-" for none) ->
# method -> role -> answer.

EXPECTED: dict[str, dict[str, dict[str, dict[str, Answer]]]] = {
    # Sign-in, language, home.
    "login": {"-": {"GET": PUBLIC, "POST": PUBLIC}},
    "logout": {"-": {"GET": PUBLIC_405, "POST": dict.fromkeys(ROLES, LOGGED_OUT)}},
    "set_language": {"-": {"GET": PUBLIC, "POST": PUBLIC}},
    "home": {"-": {"GET": SIGNED_IN, "POST": SIGNED_IN}},
    # The account: anybody may ask for a reset link (the answer tells nothing) or open one
    # (an invalid link says so); the profile lists the user's own shops only.
    "profile": {"-": {"GET": SIGNED_IN_OWN, "POST": SIGNED_IN_405}},
    "password_change": {"-": {"GET": SIGNED_IN, "POST": SIGNED_IN}},
    "password_change_done": {"-": {"GET": SIGNED_IN, "POST": SIGNED_IN_405}},
    "password_reset": {"-": {"GET": PUBLIC, "POST": PUBLIC}},
    "password_reset_done": {"-": {"GET": PUBLIC, "POST": PUBLIC_405}},
    "password_reset_confirm": {"not-a-token": {"GET": PUBLIC, "POST": PUBLIC}},
    "password_reset_complete": {"-": {"GET": PUBLIC, "POST": PUBLIC_405}},
    # Merchant pages.
    "merchant_inbox": {"-": {"GET": SIGNED_IN_OWN, "POST": SIGNED_IN_OWN}},
    "merchant_claim": {"claim_waiting": {"GET": SHOP_A_PAGE, "POST": SHOP_A_ACTION}},
    "merchant_claim_evidence": {
        "claim_in_review": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION},
        # The answer window is open: the shop's counter-evidence is taken (refunds.policy
        # can_add_counter_evidence), whichever of the page's two forms carries it.
        "claim_waiting": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION},
        "claim_decided": {"GET": SIGNED_IN_405, "POST": SHOP_A_REFUSED},
    },
    "merchant_claim_appeal": {"claim_decided": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION}},
    "merchant_claim_ai_suspect": {
        "claim_waiting": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION},
        "claim_decided": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION},
    },
    "merchant_claim_evidence_pack": {
        "claim_in_review": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION}
    },
    # The merchant portal's shop pages.
    "merchant_products": {"-": {"GET": SHOP_PAGE, "POST": SHOP_PAGE}},
    "merchant_product_photos": {"product_a": {"GET": SIGNED_IN_405, "POST": OWNER_A_ACTION}},
    "merchant_product_retire": {"product_a": {"GET": SIGNED_IN_405, "POST": OWNER_A_ACTION}},
    "merchant_product_photo_replace": {
        "listing_photo": {"GET": SIGNED_IN_405, "POST": OWNER_A_ACTION}
    },
    "merchant_shipments": {"-": {"GET": SHOP_PAGE, "POST": SHOP_PAGE}},
    "merchant_shipment": {"shipment": {"GET": SHOP_A_PAGE, "POST": SHOP_A_PAGE}},
    "merchant_shipment_evidence": {"shipment": {"GET": SIGNED_IN_405, "POST": SHOP_A_ACTION}},
    # Notifications: each person's own (a colleague's is a 404 too).
    "notifications_list": {"-": {"GET": SIGNED_IN_OWN, "POST": SIGNED_IN_405}},
    "notifications_bell": {"-": {"GET": SIGNED_IN_OWN, "POST": SIGNED_IN_405}},
    "notifications_read_all": {"-": {"GET": SIGNED_IN_405, "POST": SIGNED_IN}},
    "notification_preferences": {"-": {"GET": SIGNED_IN, "POST": SIGNED_IN}},
    "notification_open": {
        "notification_of_alice": {"GET": SIGNED_IN_405, "POST": ALICE_ONLY},
    },
    # Reviewer pages.
    "review_queues": {"-": {"GET": REVIEWER_PAGE, "POST": REVIEWER_PAGE}},
    "review_take_next": {"-": {"GET": REVIEWER_405, "POST": REVIEWER_ACTION}},
    "review_mine": {"-": {"GET": REVIEWER_PAGE, "POST": REVIEWER_PAGE}},
    # A POST without a filter decides nothing (no claim to tick): a page, for reviewers.
    "review_bulk": {"-": {"GET": REVIEWER_PAGE, "POST": REVIEWER_PAGE}},
    "review_stats": {"-": {"GET": REVIEWER_PAGE, "POST": REVIEWER_PAGE}},
    "review_stats_csv": {"-": {"GET": REVIEWER_PAGE, "POST": REVIEWER_PAGE}},
    "review_claim": {"claim_in_review": {"GET": REVIEWER_PAGE, "POST": REVIEWER_PAGE}},
    "review_assign": {
        "claim_in_review": {"GET": REVIEWER_405, "POST": REVIEWER_ACTION},
        "claim_held": {"GET": REVIEWER_405, "POST": REVIEWER_REFUSED},
    },
    "review_decide": {
        "claim_held": {"GET": REVIEWER_405, "POST": HOLDER_ACTION},
        "claim_in_review": {"GET": REVIEWER_405, "POST": REVIEWER_REFUSED},
    },
    "review_request_evidence": {"claim_held": {"GET": REVIEWER_405, "POST": HOLDER_ACTION}},
    # The holder, or a senior reviewer freeing a claim its holder left (audited).
    "review_release": {"claim_held": {"GET": REVIEWER_405, "POST": REVIEWER_ACTION}},
    "review_evidence_pack": {"claim_in_review": {"GET": REVIEWER_405, "POST": REVIEWER_ACTION}},
    # Only the holder sends a claim to the legal queue (refunds.policy can_escalate_to_legal).
    "review_escalate_legal": {
        "claim_held": {"GET": REVIEWER_405, "POST": HOLDER_ACTION},
        "claim_in_review": {"GET": REVIEWER_405, "POST": REVIEWER_REFUSED},
    },
    # Files, streamed after checking who asks.
    "evidence:display": {
        "buyer_photo": {"GET": FILE_OF_SHOP_A, "POST": FILE_OF_SHOP_A},
        "listing_photo": {"GET": FILE_OF_SHOP_A, "POST": FILE_OF_SHOP_A},
        "packing_photo": {"GET": FILE_OF_SHOP_A, "POST": FILE_OF_SHOP_A},
    },
    "evidence:original": {
        "buyer_photo": {"GET": ORIGINAL_FILE, "POST": ORIGINAL_FILE},
        "listing_photo": {"GET": ORIGINAL_FILE, "POST": ORIGINAL_FILE},
    },
    "evidence:artifact": {"artifact": {"GET": FILE_OF_SHOP_A, "POST": FILE_OF_SHOP_A}},
    # The API's description is public.
    "api:schema": {"-": {"GET": PUBLIC, "POST": PUBLIC_405}},
    "api:docs": {"-": {"GET": PUBLIC, "POST": PUBLIC_405}},
    # API v1.
    "api:merchant-list": {"-": {"GET": API_LIST, "POST": API_FORBIDDEN}},
    # POST is refused for a client that may not create merchants before the method is.
    "api:merchant-detail": {"shop_a": {"GET": API_READ_A, "POST": API_FORBIDDEN}},
    "api:product-list": {"-": {"GET": API_LIST, "POST": API_CREATE_FOR_A}},
    "api:product-detail": {"product_a": {"GET": API_READ_A, "POST": API_405}},
    "api:product-photos": {"product_a": {"GET": API_405, "POST": API_WRITE_A}},
    "api:order-list": {"-": {"GET": API_LIST, "POST": API_CREATE_FOR_A}},
    "api:order-detail": {"spare_order": {"GET": API_READ_A, "POST": API_405}},
    "api:claim-list": {"-": {"GET": API_LIST, "POST": API_CREATE_FOR_A}},
    # A batch answers 200 whatever its items' results: client B's item naming shop A is
    # refused inside it and writes nothing.
    "api:claim-batch": {"-": {"GET": API_405, "POST": API_CREATE_FOR_A}},
    "api:claim-detail": {"claim_waiting": {"GET": API_READ_A, "POST": API_405}},
    "api:claim-decisions": {"claim_decided": {"GET": API_READ_A, "POST": API_405}},
    "api:claim-evidence": {"claim_in_review": {"GET": API_READ_A, "POST": API_WRITE_A}},
    "api:claim-findings": {"claim_waiting": {"GET": API_READ_A, "POST": API_405}},
    "api:claim-withdraw": {"claim_waiting": {"GET": API_405, "POST": API_WRITE_A}},
    "api:webhook-endpoint-list": {"-": {"GET": API_LIST, "POST": API_CREATE_OWN}},
    "api:webhook-endpoint-detail": {
        "endpoint_a": {
            "GET": API_READ_A,
            "POST": API_405,
            "PUT": API_WRITE_A,
            "PATCH": API_WRITE_A,
            "DELETE": API_WRITE_A,
        }
    },
    # A signed, client-bound URL is the credential: whoever holds one for client A gets
    # the image; signed for a client not bound to shop A, it opens nothing.
    "api:artifact": {
        "artifact_token_a": {"GET": PUBLIC, "POST": PUBLIC_405},
        "artifact_token_b": {"GET": NOBODY_404, "POST": PUBLIC_405},
        "not-a-token": {"GET": NOBODY_404, "POST": PUBLIC_405},
    },
}

# Request bodies: enough for an authorised role's action to succeed, so that another
# role's refusal is the authorisation's doing, not a bad body's.
STATEMENT = "这是我们的主图，裂痕是画上去的。Painted cracks."
_photo_seeds = itertools.count(1)


def _photo(name: str = "photo.jpg") -> SimpleUploadedFile:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(next(_photo_seeds))
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(out, "JPEG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def _order_body(world) -> dict[str, Any]:
    return {
        "merchant": world.shop_a.pk,
        "platform_id": f"order-{SHOP_A_TAG}-new",
        "buyer": {"platform_id": "buyer-new", "display_name": "李四"},
        "items": [{"title": "陶瓷杯", "quantity": 1, "unit_price": "59.00"}],
        "paid_at": "2025-11-01T10:00:00+08:00",
    }


BODIES = {
    ("merchant_claim", "POST"): lambda w: ("form", {"response": "contest", "statement": STATEMENT}),
    ("merchant_claim_evidence", "POST"): lambda w: ("form", {"files": [_photo("box.jpg")]}),
    ("merchant_claim_appeal", "POST"): lambda w: ("form", {"reason": "请复核 please review"}),
    ("merchant_claim_ai_suspect", "POST"): lambda w: ("form", {"note": "阴影方向不一致 shadows"}),
    ("merchant_product_photos", "POST"): lambda w: ("form", {"files": [_photo("new-1.jpg")]}),
    ("merchant_product_retire", "POST"): lambda w: ("form", {"photo": [w.listing_photo.pk]}),
    ("merchant_product_photo_replace", "POST"): lambda w: ("form", {"file": _photo("new.jpg")}),
    ("merchant_shipment_evidence", "POST"): lambda w: ("form", {"files": [_photo("box-2.jpg")]}),
    ("review_decide", "POST"): lambda w: (
        "form",
        {"outcome": "refund_denied", "rationale": "买家图片为商家主图的编辑副本。Edited copy."},
    ),
    ("review_request_evidence", "POST"): lambda w: (
        "form",
        {"message": "请发送外包装照片 Send a photo of the parcel"},
    ),
    ("set_language", "POST"): lambda w: ("form", {"language": "en"}),
    ("api:merchant-list", "POST"): lambda w: ("json", {"platform_id": "shop-new", "name": "N"}),
    ("api:product-list", "POST"): lambda w: (
        "json",
        {"merchant": w.shop_a.pk, "platform_id": "new-product", "title": "New"},
    ),
    ("api:product-photos", "POST"): lambda w: (
        "form",
        {"file": _photo("listing-2.jpg"), "submitted_by": "merchant"},
    ),
    ("api:order-list", "POST"): lambda w: ("json", _order_body(w)),
    ("api:claim-list", "POST"): lambda w: (
        "json",
        {"order": w.spare_order.pk, "amount": "9.00", "reason": "damaged"},
    ),
    ("api:claim-batch", "POST"): lambda w: (
        "json",
        {
            "items": [
                {
                    "order": {**_order_body(w), "platform_id": f"order-{SHOP_A_TAG}-batch"},
                    "claim": {"amount": "9.00", "reason": "damaged"},
                }
            ]
        },
    ),
    ("api:claim-evidence", "POST"): lambda w: (
        "form",
        {"file": _photo("IMG_2.jpg"), "submitted_by": "buyer"},
    ),
    ("api:claim-withdraw", "POST"): lambda w: ("json", {"reason": "buyer gave up"}),
    ("api:webhook-endpoint-list", "POST"): lambda w: ("json", {"url": "https://x.example/new"}),
    ("api:webhook-endpoint-detail", "PUT"): lambda w: ("json", {"url": "https://x.example/put"}),
    ("api:webhook-endpoint-detail", "PATCH"): lambda w: ("json", {"is_active": False}),
}


# --- the URL configuration ----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the pattern's name, or its route text when it has none
    name: str | None
    pattern: str
    callback: Any
    format_suffix: bool  # DRF's ``.json`` twin of another route

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/")

    @property
    def methods(self) -> tuple[str, ...]:
        """GET and POST always; PUT, PATCH and DELETE where the API view maps them."""
        actions = getattr(self.callback, "actions", None) or {}
        extra = tuple(m for m in ("PUT", "PATCH", "DELETE") if m.lower() in actions)
        return ("GET", "POST", *extra)


def url_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str | None) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = namespace
                if entry.namespace:
                    inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                pattern = prefix + str(entry.pattern)
                name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
                routes.append(
                    Route(
                        key=name or pattern,
                        name=name,
                        pattern=pattern,
                        callback=entry.callback,
                        format_suffix="(?P<format>" in pattern,
                    )
                )

    walk(get_resolver(), "", None)
    return routes


ROUTES = url_routes()
APP_ROUTES = [r for r in ROUTES if not r.is_admin]
ADMIN_ROUTES = [r for r in ROUTES if r.is_admin]


def _route_id(route: Route) -> str:
    return route.key + (".<format>" if route.format_suffix else "")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once for the module inside a transaction rolled back at its end."""
    media = tmp_path_factory.mktemp("media")
    storages = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": None},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with django_db_blocker.unblock(), override_settings(STORAGES=storages):
        with transaction.atomic():
            cache.clear()
            built = build_world(USERNAMES)
            built.at_rest = snapshot()
            yield built
            transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def snapshot() -> tuple:
    """What an unauthorised request must not change, read in six queries."""
    from django.db import connection

    from api.models import IdempotencyRecord
    from evidence import custody
    from evidence.models import EvidenceFile, Finding
    from merchants.models import Membership, Merchant, PlatformClient, Product
    from refunds.models import (
        Appeal,
        Assignment,
        AuditEvent,
        Decision,
        Order,
        RefundClaim,
        WebhookEndpoint,
    )

    counted = (
        Decision,
        Appeal,
        EvidenceFile,
        Finding,
        Merchant,
        Product,
        Order,
        Membership,
        IdempotencyRecord,
    )
    # One query for the counts; the table names come from the models, not from input.
    tables = [connection.ops.quote_name(model._meta.db_table) for model in counted]
    counts = ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + counts)
        row = cursor.fetchone()
    return (
        tuple(row),
        # The claims' history. Two custody events are not counted: a refused upload and a
        # reviewer's download of an original are recorded by design (evidence.custody).
        AuditEvent.objects.exclude(action__in=(custody.REFUSED, custody.ORIGINAL_EXPORTED)).count(),
        list(
            RefundClaim.objects.order_by("pk").values_list(
                "pk", "status", "merchant_response", "outcome"
            )
        ),
        list(Assignment.objects.order_by("pk").values_list("pk", "reviewer_id", "released_at")),
        list(PlatformClient.objects.order_by("pk").values_list("pk", "is_active")),
        list(
            WebhookEndpoint.objects.order_by("pk").values_list(
                "pk", "url", "is_active", "event_types"
            )
        ),
    )


_BROWSERS: dict[str, Client] = {}


def _client_for(world, role: str) -> Client:
    """The role's test client (one per role: each loads the middleware once), holding
    nothing but the role's credential: cookies a previous answer set are dropped."""
    from http.cookies import SimpleCookie

    from django.conf import settings

    if role not in _BROWSERS:
        headers = {"authorization": f"Token {world.tokens[TOKENS[role]]}"} if role in TOKENS else {}
        _BROWSERS[role] = Client(raise_request_exception=False, headers=headers)
    client = _BROWSERS[role]
    client.cookies = SimpleCookie()
    if role in world.sessions:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    return client


def _call(world, role: str, method: str, url: str, body) -> tuple[Any, bool]:
    """One request in a savepoint rolled back afterwards; (response, database changed).
    Every request meets the world as it was built (``world.at_rest``)."""
    client = _client_for(world, role)
    kind, payload = body(world) if body else (None, None)
    with transaction.atomic():
        if kind == "json":
            response = client.generic(
                method, url, json.dumps(payload), content_type="application/json"
            )
        elif kind == "form" and method == "POST":
            response = client.post(url, payload)
        else:
            response = client.generic(method, url)
        changed = snapshot() != world.at_rest
        transaction.set_rollback(True)
    return response, changed


def _url(world, route: Route, subject: str) -> str:
    """The route's URL for ``subject``: kwargs filled by parameter name."""
    params = re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route.pattern)
    names = [a or b for a, b in params]
    value = world.objects.get(subject, subject)
    kwargs: dict[str, Any] = {}
    for name in names:
        if name == "format":
            kwargs[name] = "json"
        elif name == "file_uuid":
            kwargs[name] = value.uuid
        elif name == "token":
            kwargs[name] = value
        elif name == "uidb64":
            kwargs[name] = "MQ"  # a user id; with "not-a-token" the link is invalid
        else:
            kwargs[name] = value.pk
    return reverse(route.name, kwargs=kwargs)


def _suffix_answer(answer: Answer) -> Answer:
    """The ``.json`` twin of an API route grants no more than the route itself: the same
    answer, or a plain 404 (writing nothing) when the suffix is not served at all."""
    return replace(answer, name=f"{answer} (or 404: suffix not served)", or_not_served=True)


# --- the table is whole ------------------------------------------------------------------------


def test_every_cell_of_the_table_names_every_role():
    for key, subjects in EXPECTED.items():
        for subject, methods in subjects.items():
            for method, by_role in methods.items():
                assert set(by_role) == set(ROLES), (key, subject, method)


def test_every_table_entry_is_a_route_of_the_url_conf():
    known = {route.key for route in APP_ROUTES}
    assert not set(EXPECTED) - known, "entries for routes that no longer exist"


def test_every_api_method_the_view_allows_is_in_the_table():
    for route in APP_ROUTES:
        if route.key in EXPECTED and not route.format_suffix:
            for subject, methods in EXPECTED[route.key].items():
                assert set(route.methods) <= set(methods), (route.key, subject)


# --- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", APP_ROUTES, ids=_route_id)
def test_route_answers_each_role_as_the_table_says(world, route):
    entry = EXPECTED.get(route.key)
    if entry is None:
        pytest.fail(f"new route without an authorisation entry: {route.pattern} ({route.key})")
    failures = []
    for subject, methods in entry.items():
        url = _url(world, route, subject)
        for method in route.methods:
            for role in ROLES:
                expected = methods[method][role]
                if route.format_suffix:
                    expected = _suffix_answer(expected)
                response, changed = _call(world, role, method, url, BODIES.get((route.key, method)))
                problem = expected.problem(response, changed, world.markers)
                if problem:
                    failures.append(
                        f"{method} {url} [{subject}] as {role}: expected {expected}, {problem}"
                    )
    assert not failures, "\n".join(failures)


# --- the admin: staff with permissions only -------------------------------------------------------

ADMIN_MODEL_VIEWS = ("changelist", "add", "history", "delete", "change")
NOT_STAFF = (ANONYMOUS, OWNER_A, OWNER_B, AGENT_A, REVIEWER, SENIOR, CLIENT_A, CLIENT_B)
_ADMIN_DEFAULT = dict.fromkeys(NOT_STAFF, ADMIN_LOGIN)
_STAFF_405 = {**_ADMIN_DEFAULT, STAFF: NOT_ALLOWED, CLAIM_VIEWER: NOT_ALLOWED, ADMIN: NOT_ALLOWED}
# The admin's own pages (not a model's): route name -> method -> role -> answer.
ADMIN_PAGES: dict[str, dict[str, dict[str, Answer]]] = {
    "admin:index": {
        "GET": {**_ADMIN_DEFAULT, STAFF: OK, CLAIM_VIEWER: OK, ADMIN: OK},
        "POST": {**_ADMIN_DEFAULT, STAFF: OK, CLAIM_VIEWER: OK, ADMIN: OK},
    },
    "admin:login": {
        "GET": dict.fromkeys(ADMIN_ROLES, OK),
        "POST": dict.fromkeys(ADMIN_ROLES, OK),
    },
    "admin:logout": {
        "GET": {
            **_ADMIN_DEFAULT,
            STAFF: NOT_ALLOWED,
            CLAIM_VIEWER: NOT_ALLOWED,
            ADMIN: NOT_ALLOWED,
        },
        "POST": {**_ADMIN_DEFAULT, STAFF: LOGGED_OUT, CLAIM_VIEWER: LOGGED_OUT, ADMIN: LOGGED_OUT},
    },
    "admin:password_change": {
        "GET": {**_ADMIN_DEFAULT, STAFF: OK, CLAIM_VIEWER: OK, ADMIN: OK},
        "POST": {**_ADMIN_DEFAULT, STAFF: OK, CLAIM_VIEWER: OK, ADMIN: OK},
    },
    "admin:password_change_done": {
        "GET": {**_ADMIN_DEFAULT, STAFF: OK, CLAIM_VIEWER: OK, ADMIN: OK},
        "POST": _STAFF_405,
    },
    "admin:jsi18n": {
        "GET": {**_ADMIN_DEFAULT, STAFF: OK, CLAIM_VIEWER: OK, ADMIN: OK},
        "POST": _STAFF_405,
    },
    # The user picker of the membership form: whoever may change memberships.
    "admin:autocomplete": {
        "GET": {**_ADMIN_DEFAULT, STAFF: FORBIDDEN, CLAIM_VIEWER: FORBIDDEN, ADMIN: OK},
        "POST": _STAFF_405,
    },
    # No model has a public page to jump to.
    "admin:view_on_site": {
        "GET": {**_ADMIN_DEFAULT, STAFF: NOT_FOUND, CLAIM_VIEWER: NOT_FOUND, ADMIN: NOT_FOUND},
        "POST": {**_ADMIN_DEFAULT, STAFF: NOT_FOUND, CLAIM_VIEWER: NOT_FOUND, ADMIN: NOT_FOUND},
    },
    "admin:app_list": {
        "GET": {**_ADMIN_DEFAULT, STAFF: NOT_FOUND, CLAIM_VIEWER: OK, ADMIN: OK},
        "POST": {**_ADMIN_DEFAULT, STAFF: NOT_FOUND, CLAIM_VIEWER: OK, ADMIN: OK},
    },
    "admin/(?P<url>.*)$": {
        "GET": {**_ADMIN_DEFAULT, STAFF: NOT_FOUND, CLAIM_VIEWER: NOT_FOUND, ADMIN: NOT_FOUND},
        "POST": {**_ADMIN_DEFAULT, STAFF: NOT_FOUND, CLAIM_VIEWER: NOT_FOUND, ADMIN: NOT_FOUND},
    },
    "admin:auth_user_password_change": {
        "GET": {**_ADMIN_DEFAULT, STAFF: FORBIDDEN, CLAIM_VIEWER: FORBIDDEN, ADMIN: OK},
        "POST": {**_ADMIN_DEFAULT, STAFF: FORBIDDEN, CLAIM_VIEWER: FORBIDDEN, ADMIN: OK},
    },
}
ADMIN_PAGE_URLS = {
    "admin:autocomplete": lambda w: (
        reverse("admin:autocomplete")
        + "?app_label=merchants&model_name=membership&field_name=user&term=a"
    ),
    "admin:view_on_site": lambda w: reverse(
        "admin:view_on_site", args=[_content_type_id("refunds", "refundclaim"), w.claim_held.pk]
    ),
    "admin:app_list": lambda w: reverse("admin:app_list", args=["refunds"]),
    "admin/(?P<url>.*)$": lambda w: "/admin/no-such-page/",
    "admin:auth_user_password_change": lambda w: reverse(
        "admin:auth_user_password_change", args=[w.users[OWNER_A].pk]
    ),
}


def _content_type_id(app_label: str, model: str) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get(app_label=app_label, model=model).pk


def _admin_model(route: Route):
    """(ModelAdmin, view) of a model's admin route, or None for the admin's own pages."""
    by_prefix = {
        f"{m._meta.app_label}/{m._meta.model_name}/": model_admin
        for m, model_admin in admin.site._registry.items()
    }
    rest = route.pattern.removeprefix("admin/")
    for prefix, model_admin in by_prefix.items():
        if rest.startswith(prefix):
            meta = model_admin.model._meta
            for view in ADMIN_MODEL_VIEWS:
                if route.name == f"admin:{meta.app_label}_{meta.model_name}_{view}":
                    return model_admin, view
            if route.name is None and rest == prefix + "<path:object_id>/":
                return model_admin, "object"  # the old URL of the change page: a redirect
    return None


def _admin_model_answer(world, model_admin, view: str, method: str, role: str) -> Answer:
    """Staff with the permission for the view; the superuser unless the model's admin
    refuses the view to everybody (no adding of uploaded files, for instance)."""
    if role in NOT_STAFF:
        return ADMIN_LOGIN
    if view == "object":
        return OK  # redirects staff to the change page, which then decides
    model = model_admin.model
    if role == STAFF:
        return FORBIDDEN
    if role == CLAIM_VIEWER:
        if model._meta.label != "refunds.RefundClaim":
            return FORBIDDEN
        readable = view in ("changelist", "history") or (view == "change" and method == "GET")
        return OK if readable else FORBIDDEN
    request = RequestFactory().get("/admin/")
    request.user = world.users[ADMIN]
    obj = model._default_manager.order_by("pk").first()
    allowed = {
        "changelist": model_admin.has_view_or_change_permission(request),
        "add": model_admin.has_add_permission(request),
        "history": model_admin.has_view_or_change_permission(request, obj),
        "delete": model_admin.has_delete_permission(request, obj),
        "change": model_admin.has_view_or_change_permission(request, obj)
        if method == "GET"
        else model_admin.has_change_permission(request, obj),
    }[view]
    return OK if allowed else FORBIDDEN


def _admin_url(world, route: Route, model_admin) -> str:
    if route.key in ADMIN_PAGE_URLS:
        return ADMIN_PAGE_URLS[route.key](world)
    if model_admin is None:
        return reverse(route.name)
    obj = model_admin.model._default_manager.order_by("pk").first()
    assert obj is not None, f"the world has no {model_admin.model._meta.label} to open"
    if route.name is None:
        meta = model_admin.model._meta
        return f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/"
    if "<path:object_id>" in route.pattern:
        return reverse(route.name, args=[obj.pk])
    return reverse(route.name)


def test_admin_pages_are_in_the_rule():
    for route in ADMIN_ROUTES:
        assert _admin_model(route) or route.key in ADMIN_PAGES, (
            f"new route without an authorisation entry: {route.pattern} ({route.key})"
        )
    assert set(ADMIN_PAGES) <= {route.key for route in ADMIN_ROUTES}


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=_route_id)
def test_admin_route_is_for_staff_with_permissions(world, route):
    found = _admin_model(route)
    if found is None and route.key not in ADMIN_PAGES:
        pytest.fail(f"new route without an authorisation entry: {route.pattern} ({route.key})")
    model_admin, view = found or (None, None)
    url = _admin_url(world, route, model_admin)
    failures = []
    for method in ("GET", "POST"):
        for role in ADMIN_ROLES:
            expected = (
                _admin_model_answer(world, model_admin, view, method, role)
                if model_admin is not None
                else ADMIN_PAGES[route.key][method][role]
            )
            response, changed = _call(world, role, method, url, None)
            problem = expected.problem(response, changed, world.markers)
            if problem:
                failures.append(f"{method} {url} as {role}: expected {expected}, {problem}")
    assert not failures, "\n".join(failures)
