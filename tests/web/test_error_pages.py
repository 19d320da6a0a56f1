"""Error pages (400, 403, 404, 500, a refused CSRF token) with DEBUG off: in the site's
design, in the visitor's language, with a way back home, and without a word of what broke
inside. Under /api/ the same handlers answer problem documents.

This module is also the URL configuration of its tests (``pytest.mark.urls``): the site's
routes and handlers, plus three routes that fail on purpose.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client, override_settings
from django.urls import path, reverse

import config.urls
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from tests.web.test_security_headers import assert_nothing_inline, assert_strict

SECRET = "db-password-hunter2 in /srv/claimlens/secret.py"


def _raise_suspicious(request):
    raise SuspiciousOperation(SECRET)


def _raise_denied(request):
    raise PermissionDenied(SECRET)


def _raise_error(request):
    raise RuntimeError(SECRET)


urlpatterns = [
    path("boom/400/", _raise_suspicious),
    path("boom/403/", _raise_denied),
    path("boom/500/", _raise_error),
    path("api/boom/500/", _raise_error),
    *config.urls.urlpatterns,
]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
HEADINGS = {
    "en": {
        400: "Bad request",
        403: "Not allowed",
        404: "Page not found",
        500: "Something went wrong",
        "csrf": "This form has expired",
    },
    "zh-hans": {
        400: "请求无效",
        403: "无权访问",
        404: "页面不存在",
        500: "出错了",
        "csrf": "表单已过期",
    },
}
HOME_LINK = {"en": "Back to the start page", "zh-hans": "返回首页"}
LANGUAGES = [pytest.param(EN, "en", id="en"), pytest.param(ZH, "zh-hans", id="zh-hans")]


@pytest.fixture
def client():
    """Exceptions become the handlers' answers, as for a visitor."""
    return Client(raise_request_exception=False)


def assert_error_page(response, status, language: str, heading_key=None):
    html = response.content.decode()
    assert response.status_code == status, html[:300]
    assert response["Content-Type"].startswith("text/html")
    heading = HEADINGS[language][heading_key or status]
    assert f"<h1>{heading}</h1>" in html
    assert f"<title>{heading} · Claimlens</title>" in html
    assert f'<html lang="{language}">' in html
    # the site's design: its stylesheet and top bar
    assert 'class="topbar"' in html and "css/claimlens.css" in html
    # a way back
    assert f'href="{reverse("home")}" data-home>{HOME_LINK[language]}</a>' in html
    # nothing of what broke inside
    assert SECRET not in html and "hunter2" not in html
    assert "Traceback" not in html and "RuntimeError" not in html
    assert_strict(response)
    assert_nothing_inline(response)
    return html


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("headers", "language"), LANGUAGES)
def test_400_page(client, headers, language):
    response = client.get("/boom/400/", **headers)

    assert_error_page(response, 400, language)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("headers", "language"), LANGUAGES)
def test_400_page_for_a_host_not_served(client, headers, language):
    response = client.get(reverse("login"), HTTP_HOST="evil.example", **headers)

    assert_error_page(response, 400, language)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("headers", "language"), LANGUAGES)
def test_403_page(client, headers, language):
    response = client.get("/boom/403/", **headers)

    assert_error_page(response, 403, language)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("headers", "language"), LANGUAGES)
def test_404_page_for_an_unknown_address(client, headers, language):
    response = client.get("/no-such-page/", **headers)

    assert_error_page(response, 404, language)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("headers", "language"), LANGUAGES)
def test_500_page_tells_nothing_of_the_error(client, headers, language):
    response = client.get("/boom/500/", **headers)

    html = assert_error_page(response, 500, language)
    # the language switch still works from it (it carries a CSRF token)
    assert 'name="csrfmiddlewaretoken"' in html


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("headers", "language"), LANGUAGES)
def test_csrf_failure_page(alice, headers, language):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice-123"}, **headers
    )

    assert_error_page(response, 403, language, heading_key="csrf")
    assert "_auth_user_id" not in client.session


@override_settings(DEBUG=False)
def test_404_page_for_another_shops_claim_shows_the_signed_in_user(client, bob, make_claim, shop_a):
    claim = make_claim(shop_a)
    client.force_login(bob)

    response = client.get(reverse("merchant_claim", args=[claim.pk]), **EN)

    html = assert_error_page(response, 404, "en")
    assert f'href="{reverse("profile")}"' in html and ">bob</a>" in html
    assert "Shop A" not in html


@override_settings(DEBUG=False)
def test_api_errors_stay_problem_documents(client):
    missing = client.get("/api/v1/no-such-thing/", **EN)
    broken = client.get("/api/boom/500/", **EN)

    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    assert broken.status_code == 500
    assert broken["Content-Type"] == "application/problem+json"
    assert SECRET not in broken.content.decode()


def test_the_handlers_are_the_sites():
    assert (handler400, handler403, handler404, handler500) == (
        "config.errors.bad_request",
        "config.errors.permission_denied",
        "config.errors.page_not_found",
        "config.errors.server_error",
    )


def test_csrf_failures_have_the_sites_page(settings):
    assert settings.CSRF_FAILURE_VIEW == "config.errors.csrf_failure"
