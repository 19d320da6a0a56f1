"""Webhook URLs are vetted when they are saved: no internal service may be a target.

These tests switch ``WEBHOOK_ALLOW_PRIVATE_TARGETS`` off (as in production) and prove the
refusal; the delivery tests (test_webhooks_delivery.py) switch it on to use a receiver on
127.0.0.1.
"""

import pytest
from django.utils import translation

from refunds import services
from refunds.exceptions import ClaimValidationError
from refunds.models import WebhookEndpoint

# Every one of these reaches this machine, its network or a cloud metadata service.
INTERNAL_URLS = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://127.0.0.1:5432/",  # PostgreSQL on loopback
    "http://localhost:6379/",  # Redis, by name
    "http://LOCALHOST./x",  # upper case, trailing dot
    "http://redis.localhost/",  # RFC 6761: every *.localhost is loopback
    "http://127.1/",  # short form of 127.0.0.1
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0x7f000001/",  # hex 127.0.0.1
    "http://0x7f.1/",  # mixed hex
    "http://0177.0.0.1/",  # octal 127.0.0.1
    "http://0.0.0.0:8000/",  # unspecified: Linux connects it to loopback
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT, shared address space
    "http://198.18.0.1/",  # benchmarking
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",  # broadcast
    "http://[::1]:8000/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped 169.254.169.254, in hex
    "http://[::7f00:1]/",  # IPv4-compatible (deprecated) 127.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "http://[fe80::1]/",  # link-local
    "http://[fc00::1]/",  # unique local
    "http://[fec0::1]/",  # site-local (deprecated)
    "http://[ff02::1]/",  # multicast
]


@pytest.fixture
def no_private_targets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_REQUIRE_HTTPS = False


@pytest.fixture
def platform(shop_a):
    from merchants.services import platform_client_create

    client, _token = platform_client_create(name="platform-a", merchants=[shop_a])
    return client


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_url_is_refused_when_saved(platform, no_private_targets, url):
    with pytest.raises(ClaimValidationError) as refused:
        services.webhook_endpoint_create(client=platform, url=url)
    assert refused.value.code in {"private_address", "local_name"}
    assert "internal" in refused.value.message or "local" in refused.value.message
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hooks",  # a public address
        "https://[2606:4700::1111]/hooks",  # a public IPv6 address
        # A name that does not resolve now is accepted: it is vetted again at every send.
        "https://platform.example/hooks",
    ],
)
def test_public_url_is_accepted(platform, no_private_targets, url):
    endpoint, _secret = services.webhook_endpoint_create(client=platform, url=url)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).url == url


@pytest.mark.parametrize(
    "url", ["ftp://93.184.215.14/", "file:///etc/passwd", "gopher://93.184.215.14/", "http:///x"]
)
def test_only_http_and_https_urls_with_a_host(platform, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with pytest.raises(ClaimValidationError) as refused:
        services.webhook_endpoint_create(client=platform, url=url)
    assert refused.value.code == "invalid_url"


def test_https_is_required_when_the_setting_says_so(platform, settings):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(ClaimValidationError) as refused:
        services.webhook_endpoint_create(client=platform, url="http://93.184.215.14/hooks")
    assert refused.value.code == "https_required"
    services.webhook_endpoint_create(client=platform, url="https://93.184.215.14/hooks")
    assert WebhookEndpoint.objects.count() == 1


def test_loopback_is_accepted_where_private_targets_are_allowed(platform, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False
    endpoint, _ = services.webhook_endpoint_create(client=platform, url="http://127.0.0.1:9/x")
    assert endpoint.pk


def test_update_to_an_internal_url_is_refused_and_changes_nothing(platform, no_private_targets):
    endpoint, _ = services.webhook_endpoint_create(
        client=platform, url="https://93.184.215.14/hooks"
    )
    with pytest.raises(ClaimValidationError):
        services.webhook_endpoint_update(
            endpoint=endpoint, url="http://169.254.169.254/latest/", is_active=False
        )
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.is_active) == ("https://93.184.215.14/hooks", True)


def test_refusal_message_is_translated(platform, no_private_targets):
    with translation.override("zh-hans"), pytest.raises(ClaimValidationError) as refused:
        services.webhook_endpoint_create(client=platform, url="http://127.0.0.1:5432/")
    assert refused.value.message
    assert "internal" not in refused.value.message


def test_new_secrets_are_standard_webhooks_secrets(platform, no_private_targets):
    import base64

    _endpoint, secret = services.webhook_endpoint_create(
        client=platform, url="https://93.184.215.14/hooks"
    )
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(key) == 32


def _public_endpoint(platform) -> WebhookEndpoint:
    endpoint, _secret = services.webhook_endpoint_create(
        client=platform, url="https://93.184.215.14/hooks"
    )
    return endpoint


def test_admin_refuses_an_internal_url(admin_client, platform, no_private_targets):
    # Endpoints are registered through the API (it hands out the secret once); the admin
    # may change the URL, and vets it like the service.
    endpoint = _public_endpoint(platform)
    response = admin_client.post(
        f"/admin/refunds/webhookendpoint/{endpoint.pk}/change/",
        {
            "url": "http://169.254.169.254/latest/meta-data/",
            "event_types": "[]",
            "is_active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["url"]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/hooks"


def test_admin_accepts_a_public_url(admin_client, platform, no_private_targets):
    endpoint = _public_endpoint(platform)
    response = admin_client.post(
        f"/admin/refunds/webhookendpoint/{endpoint.pk}/change/",
        {
            "url": "https://93.184.215.15/other",
            "event_types": "[]",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.15/other"
