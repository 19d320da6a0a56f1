"""Fixtures of the merchant portal's tests: agnes, an agent of shop A; uploads in a
temporary directory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Every portal test keeps its uploads in a temporary directory."""


@pytest.fixture
def agnes(django_user_model, shop_a, alice):
    from merchants.services import membership_add

    user = django_user_model.objects.create_user("agnes", password="pw-agnes-123")
    membership_add(merchant=shop_a, user=user, role="agent", by=alice)
    return user


@pytest.fixture
def upload(photo_bytes):
    """A photo as the browser sends it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    def _make(name: str, seed: int = 1, data: bytes | None = None):
        return SimpleUploadedFile(
            name, data if data is not None else photo_bytes(seed), "image/jpeg"
        )

    return _make


@pytest.fixture
def forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks):
    """Shop A's claim whose photo is its listing photo with a crack painted on."""
    from tests.web.conftest import _forged_claim

    return _forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks)
