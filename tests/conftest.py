"""Shared fixtures: named personas (alice runs shop A, bob runs shop B, a buyer, charlie
the reviewer, dora the senior reviewer, erin a second reviewer, fred a second senior) and
small builders for orders and claims."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from config.celery import app as celery_app

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TESTDATA = SHARED / "testdata"
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")
ON_REDIS = os.environ.get("CELERY_BROKER_URL", "").startswith("redis")
IN_CI = os.environ.get("CI") == "true"
HAS_CHROMIUM = Path("/usr/bin/chromium").exists()
HAS_TESSERACT = shutil.which("tesseract") is not None


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests run in the PostgreSQL suite; browser tests need Chromium and
    OCR tests tesseract, which CI always installs (a missing one in CI is a failure, not a
    pass)."""
    selected, deselected = [], []
    for item in items:
        if (item.get_closest_marker("postgres") and not ON_POSTGRES) or (
            item.get_closest_marker("redis") and not ON_REDIS
        ):
            deselected.append(item)
        elif item.get_closest_marker("browser") and not HAS_CHROMIUM and not IN_CI:
            deselected.append(item)
        elif item.get_closest_marker("ocr") and not HAS_TESSERACT and not IN_CI:
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher():
    """Passwords of the tests' users are hashed with a fast hasher (Django's advice for
    test suites): the production PBKDF2 costs ≈0.5 s of CPU a hash here, and every user a
    fixture creates and every login pays it (about a third of the suite's time). Nothing
    outside this process checks a test user's password."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def _private_media_root(tmp_path_factory):
    """Uploaded files and audit checkpoints of the tests go to a folder of this run, never
    to the checkout's var/media (a demo's files there would be read as the tests' own).
    Worker processes started by the tests inherit it through the environment."""
    from django.conf import settings
    from django.test import override_settings

    media = tmp_path_factory.mktemp("media")
    storages = {**settings.STORAGES}
    if storages["default"]["BACKEND"].endswith("FileSystemStorage"):
        storages["default"] = {
            **storages["default"],
            "OPTIONS": {**storages["default"].get("OPTIONS", {}), "location": str(media)},
        }
    previous = os.environ.get("MEDIA_ROOT")
    os.environ["MEDIA_ROOT"] = str(media)
    with override_settings(MEDIA_ROOT=media, STORAGES=storages):
        yield media
    if previous is None:
        os.environ.pop("MEDIA_ROOT", None)
    else:
        os.environ["MEDIA_ROOT"] = previous


@pytest.fixture(autouse=True)
def _no_language_left_over():
    """A request through LocaleMiddleware (or a test's ``activate``) leaves its language
    active on the thread; every test starts from the default, whatever ran before it."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Unit tests run tasks in-process; tests marked ``worker`` use a real worker."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


def reseed_reference_data() -> None:
    """What the migrations seed (reviewer groups, queues, routing rules, rationale
    templates, scoring weights), for transactional tests whose flush removed it. The
    seeds of the latest migrations, which run on today's models."""
    import importlib

    from django.apps import apps

    from evidence.scoring import ensure_defaults

    for group in ("reviewers", "senior reviewers"):
        Group.objects.get_or_create(name=group)
    importlib.import_module("refunds.migrations.0008_review_seed_queues").seed(apps, None)
    importlib.import_module("refunds.migrations.0011_review_decision_form").seed_templates(
        apps, None
    )
    ensure_defaults()


@pytest.fixture(autouse=True)
def _audit_seq_from_one(request):
    """The audit log's ``seq`` comes from a PostgreSQL sequence, which a test's rollback or
    flush does not rewind: start it after the last event in every database test (1 on an
    empty log), as on SQLite."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if ON_POSTGRES and uses_db:
        request.getfixturevalue("django_db_setup")
        from django.db import connection

        with request.getfixturevalue("django_db_blocker").unblock():
            with connection.cursor() as cursor:
                # 1 on an empty log; after the last event where a wider fixture (the
                # authorisation matrix's world) wrote some that outlive one test.
                cursor.execute(
                    "SELECT setval(c.oid, COALESCE((SELECT MAX(seq) FROM refunds_auditevent),"
                    " 0) + 1, false) FROM pg_class c "
                    "WHERE c.relname = 'refunds_auditevent_seq_seq'"
                )
    yield


@pytest.fixture
def testdata() -> Path:
    return TESTDATA


# --- personas -------------------------------------------------------------------------


@pytest.fixture
def shop_a(db):
    from merchants.models import Merchant

    return Merchant.objects.create(platform_id="shop-a", name="Shop A 家居")


@pytest.fixture
def shop_b(db):
    from merchants.models import Merchant

    return Merchant.objects.create(platform_id="shop-b", name="Shop B 数码")


@pytest.fixture
def alice(django_user_model, shop_a):
    from merchants.services import membership_add

    user = django_user_model.objects.create_user("alice", password="pw-alice-123")
    membership_add(merchant=shop_a, user=user, role="owner")
    return user


@pytest.fixture
def bob(django_user_model, shop_b):
    from merchants.services import membership_add

    user = django_user_model.objects.create_user("bob", password="pw-bob-123")
    membership_add(merchant=shop_b, user=user, role="owner")
    return user


def _member_of(django_user_model, name: str, group: str):
    user = django_user_model.objects.create_user(name, password=f"pw-{name}-123")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def charlie(django_user_model, db):
    return _member_of(django_user_model, "charlie", "reviewers")


@pytest.fixture
def dora(django_user_model, db):
    return _member_of(django_user_model, "dora", "senior reviewers")


@pytest.fixture
def erin(django_user_model, db):
    """A second reviewer, not senior."""
    return _member_of(django_user_model, "erin", "reviewers")


@pytest.fixture
def fred(django_user_model, db):
    """A second senior reviewer."""
    return _member_of(django_user_model, "fred", "senior reviewers")


@pytest.fixture
def buyer(db):
    from refunds.services import buyer_upsert

    return buyer_upsert(
        platform_id="buyer-1",
        display_name="张三",
        phone="13800000000",
        account_created_at=timezone.now() - dt.timedelta(days=400),
    )


@pytest.fixture
def make_order(db, buyer):
    from refunds.services import ItemInput, order_create

    counter = {"n": 0}

    def _make(
        merchant,
        *,
        total=Decimal("199.00"),
        product=None,
        shipped=True,
        delivered=True,
        the_buyer=None,
    ):
        counter["n"] += 1
        paid = timezone.now() - dt.timedelta(days=5)
        return order_create(
            merchant=merchant,
            buyer=the_buyer or buyer,
            platform_id=f"order-{merchant.platform_id}-{counter['n']}",
            items=[ItemInput(title="陶瓷杯 Ceramic mug", unit_price=total, product=product)],
            paid_at=paid,
            shipped_at=paid + dt.timedelta(days=1) if shipped else None,
            delivered_at=paid + dt.timedelta(days=3) if shipped and delivered else None,
            shipping_address="上海市浦东新区 XX 路 1 号",
        )

    return _make


@pytest.fixture
def make_claim(make_order, django_capture_on_commit_callbacks):
    """A submitted claim, evaluated (no evidence): it waits for the merchant."""
    from refunds.audit import Actor
    from refunds.services import claim_submit

    def _make(merchant, *, amount=Decimal("99.00"), evaluate=True, **order_kwargs):
        order = make_order(merchant, **order_kwargs)
        with django_capture_on_commit_callbacks(execute=evaluate):
            claim = claim_submit(
                order=order,
                amount=amount,
                reason="damaged",
                description="杯子到货有裂痕",
                actor=Actor.platform("test"),
            )
        claim.refresh_from_db()
        return claim

    return _make


@pytest.fixture
def contest_and_decide():
    """The shop contests the claim; the reviewer takes the next claim and decides it.
    Returns the claim, decided (as ``claim_decide`` does)."""
    from refunds import services

    def _decide(
        claim,
        merchant_user,
        reviewer,
        *,
        outcome="refund_denied",
        confirmed_forgery=True,
        rationale="The buyer's photo is our listing photo with a painted crack.",
    ):
        services.claim_merchant_respond(
            claim=claim, user=merchant_user, response="contest", statement="裂痕是画上去的 painted"
        )
        services.claim_take_next(reviewer=reviewer)
        return services.claim_decide(
            claim=claim,
            reviewer=reviewer,
            outcome=outcome,
            rationale=rationale,
            confirmed_forgery=confirmed_forgery,
        )

    return _decide


# --- stored files ---------------------------------------------------------------------


@pytest.fixture
def media_in_tmp(settings, tmp_path) -> Path:
    """Uploaded files (originals, display copies, artifacts) go to a temporary directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": None},
        },
    }
    return tmp_path / "media"


@pytest.fixture
def listing_product(media_in_tmp, shop_a, django_capture_on_commit_callbacks):
    """Shop A's product with its listing photo (checked, so it is a reference)."""
    from evidence.services import evidence_add
    from merchants.services import product_create
    from testing import synthetic

    product = product_create(
        merchant=shop_a, platform_id="mug-1", title="北欧陶瓷马克杯 Nordic mug"
    )
    listing = synthetic.render_product_photo(101)
    with django_capture_on_commit_callbacks(execute=True):
        evidence_add(
            upload=synthetic.encode_jpeg(listing.image, quality=90),
            submitted_by="merchant",
            original_name="listing.jpg",
            product=product,
        )
    return product


# --- images ---------------------------------------------------------------------------


def jpeg_bytes(array_or_image, quality: int = 90, exif=None) -> bytes:
    from PIL import Image

    image = (
        array_or_image
        if isinstance(array_or_image, Image.Image)
        else Image.fromarray(array_or_image)
    )
    out = io.BytesIO()
    kwargs = {"quality": quality}
    if exif is not None:
        kwargs["exif"] = exif
    image.convert("RGB").save(out, "JPEG", **kwargs)
    return out.getvalue()


@pytest.fixture
def photo_bytes():
    """A plausible product photo as JPEG bytes, different for each seed."""
    import numpy as np

    def _make(seed: int = 1, size=(640, 480)) -> bytes:
        rng = np.random.default_rng(seed)
        h, w = size[1], size[0]
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack(
            [(xx * 255 / w), (yy * 255 / h), np.full((h, w), rng.integers(0, 255))], axis=-1
        )
        noise = rng.normal(0, 12, (h, w, 3))
        arr = np.clip(base + noise, 0, 255).astype("uint8")
        cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
        arr[cy - 40 : cy + 40, cx - 60 : cx + 60] = rng.integers(0, 255, 3)
        return jpeg_bytes(arr)

    return _make


# --- unavailable services ---------------------------------------------------------------


@pytest.fixture
def dead_port():
    """A loopback port where nothing listens: bound (so nobody else takes it during the
    test) but never listening, so every connection to it is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- the append-only audit table ------------------------------------------------------


@pytest.fixture(autouse=True)
def _audit_triggers_out_of_the_flushs_way(request):
    """A transactional test ends with a flush, which deletes (SQLite) or truncates
    (PostgreSQL) every table, and the audit table refuses both: drop its triggers just
    before (this teardown runs before pytest-django's). The flush's post_migrate signal
    puts them back (``refunds.append_only``).

    A test that gets the database through another fixture (``token(transactional_db)``)
    would set that up after this one, and flush before this teardown: so it is set up
    here first, and torn down after."""
    marker = request.node.get_closest_marker("django_db")
    by_marker = bool(marker and marker.kwargs.get("transaction"))
    by_fixture = bool({"transactional_db", "live_server"} & set(request.fixturenames))
    if by_fixture and not by_marker:
        request.getfixturevalue("transactional_db")
    yield
    if by_marker or by_fixture:
        from django.db import connection

        from refunds import append_only

        append_only.uninstall(connection)


@pytest.fixture(autouse=True)
def _no_automatic_audit_checkpoints(settings):
    """Checkpoints are files, which outlive a test's database: a test that wants the
    every-Nth-event checkpoint turns it on, with its files in a temporary directory."""
    settings.AUDIT_CHECKPOINT_EVERY = 0
