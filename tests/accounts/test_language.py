"""The language choice is stored on the account: the language switch saves it for a
signed-in user (through ``profile_set_language``), the login applies it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import Profile
from accounts.selectors import stored_language
from accounts.services import UnknownLanguage, profile_set_language
from tests.accounts.conftest import EN, ZH


def _switch(client, language, **headers):
    return client.post(
        reverse("set_language"), {"language": language, "next": reverse("home")}, **headers
    )


def test_switching_language_signed_in_stores_it_on_the_account(client, alice):
    client.force_login(alice)

    response = _switch(client, "en", **ZH)

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert stored_language(user=alice) == "en"

    _switch(client, "zh-hans", **EN)

    assert stored_language(user=alice) == "zh-hans"
    assert Profile.objects.filter(user=alice).count() == 1


def test_switching_language_signed_out_stores_nothing(client, alice):
    response = _switch(client, "en", **ZH)

    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert not Profile.objects.exists()


def test_an_unknown_language_is_neither_applied_nor_stored(client, alice):
    client.force_login(alice)

    response = _switch(client, "xx-nope", **ZH)

    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert not Profile.objects.exists()


def test_a_language_without_pages_is_not_stored(client, alice):
    """Django has a French catalogue, Claimlens has no French pages."""
    client.force_login(alice)

    _switch(client, "fr", **ZH)

    assert stored_language(user=alice) == ""


def test_the_service_refuses_a_language_claimlens_has_no_pages_in(alice):
    with pytest.raises(UnknownLanguage):
        profile_set_language(user=alice, language="fr")
    assert not Profile.objects.exists()


def test_login_applies_the_stored_language_over_the_browsers(client, alice):
    profile_set_language(user=alice, language="en")

    # when: alice logs in from a browser asking for Chinese
    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice-123"}, **ZH
    )

    # then: the language cookie is set, and her pages are in English
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    inbox = client.get(reverse("merchant_inbox"), **ZH)
    assert '<html lang="en">' in inbox.content.decode()
    assert "Refund-only claims against your shop" in inbox.content.decode()


def test_login_applies_chinese_stored_over_an_english_browser(client, bob):
    profile_set_language(user=bob, language="zh-hans")

    client.post(reverse("login"), {"username": "bob", "password": "pw-bob-123"}, **EN)

    html = client.get(reverse("merchant_inbox"), **EN).content.decode()
    assert '<html lang="zh-hans">' in html


def test_login_without_a_stored_language_leaves_the_browsers(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice-123"}, **EN
    )

    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    html = client.get(reverse("merchant_inbox"), **EN).content.decode()
    assert '<html lang="en">' in html


def test_a_failed_login_applies_nothing(client, alice):
    profile_set_language(user=alice, language="en")

    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"}, **ZH)

    assert response.status_code == 200
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
