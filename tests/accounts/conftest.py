"""Fixtures of the account tests: agnes, an agent (not an owner) of alice's shop A; the
reset throttle's counters cleared between tests; request headers for each language."""

from __future__ import annotations

import pytest

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def agnes(django_user_model, shop_a, alice):
    from merchants.services import membership_add

    user = django_user_model.objects.create_user(
        "agnes", email="agnes@example.com", password="pw-agnes-123"
    )
    membership_add(merchant=shop_a, user=user, role="agent", by=alice)
    return user


@pytest.fixture
def with_email():
    """Give a persona an e-mail address (the shared personas have none)."""

    def _set(user, email: str):
        user.email = email
        user.save(update_fields=["email"])
        return user

    return _set
