"""Fixtures of the browser-page tests: uploaded files in a temporary directory, a claim
whose buyer photo is the merchant's listing photo with damage painted on, and the zh-hans
catalogue of the pages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUYER_PHONE = "13800000000"
BUYER_ADDRESS = "上海市浦东新区 XX 路 1 号"
BUYER_PLATFORM_ID = "buyer-1"


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Every page test keeps its uploads in a temporary directory."""


def _forged_claim(merchant, product, make_order, capture, *, seed=101, damage=707):
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit
    from testing import synthetic

    order = make_order(merchant, product=product, total=Decimal("199.00"))
    forged = synthetic.paint_damage(synthetic.render_product_photo(seed), damage)
    with capture(execute=True):
        claim = claim_submit(
            order=order,
            amount=Decimal("199.00"),
            reason="damaged",
            description="杯子到货有裂痕 Arrived cracked",
            actor=Actor.platform("test"),
        )
        evidence_add(
            upload=synthetic.encode_jpeg(forged.image, quality=85),
            submitted_by="buyer",
            original_name="IMG_damage.jpg",
            claim=claim,
        )
    claim.refresh_from_db()
    return claim


@pytest.fixture
def forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks):
    """A claim of shop A whose photo is its listing photo with a crack painted on,
    checked and waiting for alice's answer."""
    return _forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks)


@pytest.fixture
def make_forged_claim(make_order, django_capture_on_commit_callbacks):
    def _make(merchant, product):
        return _forged_claim(merchant, product, make_order, django_capture_on_commit_callbacks)

    return _make


@pytest.fixture
def zh_catalogue():
    """The committed, compiled zh-hans catalogue (scripts/messages.sh builds it); a page
    test must fail, not pass in English, when it is missing or stale."""
    compiled = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
    assert compiled.exists(), "run `make messages` to compile the zh-hans catalogue"
    assert "还剩".encode() in compiled.read_bytes(), "the catalogue lacks the page strings"


def login(client, user):
    client.force_login(user)
    return client
