"""The API refuses webhook URLs that point at internal services, as a problem document."""

import pytest

from refunds.models import WebhookEndpoint

ENDPOINTS = "/api/v1/webhook-endpoints/"


@pytest.fixture
def production_rules(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_REQUIRE_HTTPS = True


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:5432/",
        "https://localhost:6379/",
        "https://[::ffff:127.0.0.1]/",
        "https://10.1.2.3/hooks",
    ],
)
def test_registering_an_internal_url_is_a_400_problem(api_a, production_rules, url):
    response = api_a.post(ENDPOINTS, {"url": url}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert "internal" in body["detail"] or "local" in body["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_is_refused_where_https_is_required(api_a, production_rules):
    response = api_a.post(
        ENDPOINTS, {"url": "http://93.184.215.14/hooks"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "https" in response.json()["detail"]


def test_the_refusal_follows_accept_language(api_a, production_rules):
    english = api_a.post(
        ENDPOINTS, {"url": "https://127.0.0.1/"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    ).json()["detail"]
    chinese = api_a.post(
        ENDPOINTS, {"url": "https://127.0.0.1/"}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()["detail"]
    assert english != chinese


def test_changing_the_url_to_an_internal_one_is_refused(api_a, production_rules):
    created = api_a.post(ENDPOINTS, {"url": "https://93.184.215.14/hooks"}, format="json")
    assert created.status_code == 201, created.content
    url = f"{ENDPOINTS}{created.json()['id']}/"
    for method in (api_a.patch, api_a.put):
        response = method(url, {"url": "https://169.254.169.254/"}, format="json")
        assert response.status_code == 400
    assert api_a.get(url).json()["url"] == "https://93.184.215.14/hooks"


def test_a_public_https_url_is_accepted(api_a, production_rules):
    response = api_a.post(ENDPOINTS, {"url": "https://93.184.215.14/hooks"}, format="json")
    assert response.status_code == 201
    assert response.json()["secret"].startswith("whsec_")
