"""Web forms refuse a body over the limit from its Content-Length, before reading it:
413 with a page saying what the limit is (zh-hans and en); the API keeps its own
problem-document answer for the same limit."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test.client import MULTIPART_CONTENT
from django.urls import reverse

from evidence.models import EvidenceFile

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
MB = 1024 * 1024


class UnreadableBody:
    """A request body that fails the test the moment anything reads it."""

    def read(self, *args):
        raise AssertionError("the request body was read")

    readline = read


def _declared(length: int, content_type: str = MULTIPART_CONTENT + "; boundary=x") -> dict:
    return {"CONTENT_LENGTH": str(length), "CONTENT_TYPE": content_type}


def _post_declared(client, url, length, content_type=None, **extra):
    meta = _declared(length) if content_type is None else _declared(length, content_type)
    return client.generic("POST", url, b"x", **meta, **{"wsgi.input": UnreadableBody()}, **extra)


def test_a_150_mb_upload_is_refused_before_its_body_is_read(client, alice, make_claim, shop_a):
    claim = make_claim(shop_a)
    client.force_login(alice)

    response = _post_declared(
        client, reverse("merchant_claim_evidence", args=[claim.pk]), 150 * MB, **EN
    )

    assert response.status_code == 413
    html = response.content.decode()
    assert "at most 100 MB can be sent at once" in html
    assert "25 MB per photo" in html
    assert not EvidenceFile.objects.filter(claim=claim).exists()


def test_the_refusal_comes_before_the_csrf_check_reads_the_body(alice, make_claim, shop_a):
    from django.test import Client

    claim = make_claim(shop_a)
    strict = Client(enforce_csrf_checks=True)  # the CSRF check reads the form for its token
    strict.force_login(alice)

    response = _post_declared(
        strict, reverse("merchant_claim_evidence", args=[claim.pk]), 150 * MB, **EN
    )

    assert response.status_code == 413
    assert "alice" in response.content.decode()  # the page knows who is signed in


def test_the_refusal_is_in_chinese_by_default(client, alice, make_claim, shop_a):
    claim = make_claim(shop_a)
    client.force_login(alice)

    response = _post_declared(
        client, reverse("merchant_claim_evidence", args=[claim.pk]), 150 * MB, **ZH
    )

    assert response.status_code == 413
    assert "一次最多只能发送 100 MB" in response.content.decode()


def test_a_form_without_files_is_limited_to_the_field_limit(client, alice, make_claim, shop_a):
    claim = make_claim(shop_a)
    client.force_login(alice)

    response = _post_declared(
        client,
        reverse("merchant_claim", args=[claim.pk]),
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1,
        "application/x-www-form-urlencoded",
        **EN,
    )

    assert response.status_code == 413
    assert "larger than 1 MB" in response.content.decode()


def test_the_login_form_is_limited_too(client):
    response = _post_declared(
        client, reverse("login"), 10 * MB, "application/x-www-form-urlencoded", **EN
    )

    assert response.status_code == 413


def test_an_upload_within_the_limit_goes_through(client, alice, make_claim, shop_a, photo_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    claim = make_claim(shop_a)
    client.force_login(alice)

    response = client.post(
        reverse("merchant_claim_evidence", args=[claim.pk]),
        {"files": [SimpleUploadedFile("packing.jpg", photo_bytes(3), "image/jpeg")]},
        **EN,
    )

    assert response.status_code == 302
    assert EvidenceFile.objects.filter(claim=claim).count() == 1


def test_a_real_body_over_a_lowered_limit_is_refused(
    client, alice, make_claim, shop_a, photo_bytes, settings
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.UPLOAD_MAX_REQUEST_BYTES = 10_000
    claim = make_claim(shop_a)
    client.force_login(alice)

    response = client.post(
        reverse("merchant_claim_evidence", args=[claim.pk]),
        {"files": [SimpleUploadedFile("big.jpg", photo_bytes(3) + bytes(20_000), "image/jpeg")]},
        **EN,
    )

    assert response.status_code == 413
    assert not EvidenceFile.objects.filter(claim=claim).exists()


@pytest.mark.parametrize("referer", ["http://testserver/claims/7/", "https://evil.example/x"])
def test_the_refusal_links_back_only_to_this_site(client, alice, referer):
    client.force_login(alice)

    response = _post_declared(
        client, reverse("merchant_inbox"), 150 * MB, HTTP_REFERER=referer, **EN
    )

    html = response.content.decode()
    assert response.status_code == 413
    if "evil" in referer:
        assert "evil.example" not in html
    else:
        assert 'href="http://testserver/claims/7/"' in html


def test_the_api_answers_its_own_problem_document(api_a_client):
    response = api_a_client.generic(
        "POST",
        "/api/v1/claims/",
        b"x",
        **_declared(150 * MB, "application/json"),
        **{"wsgi.input": UnreadableBody()},
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "request_too_large"


@pytest.fixture
def api_a_client(shop_a):
    from rest_framework.test import APIClient

    from merchants.services import platform_client_create

    _client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api
