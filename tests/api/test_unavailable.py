"""A database, cache or broker that cannot be reached is a 503 with Retry-After (a
problem document under /api/, a plain translated page elsewhere), never a 500 — tested
against connections that really fail (a port where nothing listens, a database file
that cannot be opened)."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient


@pytest.fixture
def database_down(transactional_db, tmp_path, dead_port):
    """The default connection points where no database is, until the test ends."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-directory" / "db.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(dead_port))
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


@pytest.fixture
def token_a(transactional_db, shop_a):
    from merchants.services import platform_client_create

    _client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    return token


def _api(token: str) -> APIClient:
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def _assert_unavailable_problem(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert body["status"] == 503
    assert body["type"] == "urn:claimlens:problem:service_unavailable"
    for leak in ("OperationalError", "Connection refused", "unable to open", "127.0.0.1"):
        assert leak not in response.content.decode()


def test_api_read_with_the_database_down_is_503(token_a, database_down):
    response = _api(token_a).get("/api/v1/claims/")

    _assert_unavailable_problem(response)


def test_api_write_with_an_idempotency_key_and_the_database_down_is_503(token_a, database_down):
    response = _api(token_a).post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="db-down-1",
    )

    _assert_unavailable_problem(response)


def test_a_page_with_the_database_down_is_a_plain_translated_503(alice, transactional_db, request):
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)
    request.getfixturevalue("database_down")

    response = browser.get("/claims/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "服务暂时不可用" in page
    assert "OperationalError" not in page


def test_a_page_with_the_database_down_in_english(alice, transactional_db, request):
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)
    request.getfixturevalue("database_down")

    response = browser.get("/claims/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert "temporarily unavailable" in response.content.decode()


def test_api_with_the_cache_down_is_503(token_a, settings, dead_port):
    """Rate limits and idempotency live in the shared cache (Redis in production)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{dead_port}/3",
        }
    }

    response = _api(token_a).get("/api/v1/claims/")

    _assert_unavailable_problem(response)


def test_a_broker_that_cannot_be_reached_is_503(dead_port):
    from kombu import Connection
    from kombu.exceptions import OperationalError

    from api.exceptions import problem_exception_handler

    with Connection(f"redis://127.0.0.1:{dead_port}/3") as broker:
        with pytest.raises(OperationalError) as refused:
            broker.ensure_connection(max_retries=1)

    response = problem_exception_handler(refused.value, {})

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.data["code"] == "service_unavailable"


def test_other_server_errors_stay_500(token_a, settings):
    from api.exceptions import problem_exception_handler

    assert problem_exception_handler(RuntimeError("a bug"), {}) is None
