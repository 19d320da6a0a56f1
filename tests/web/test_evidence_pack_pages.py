"""The evidence pack download: who may have it, what the response promises (a private,
uncached attachment), the buttons on both claim pages, the report's language."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.urls import reverse

from refunds.models import AuditEvent
from tests.web.conftest import BUYER_ADDRESS, BUYER_PHONE, BUYER_PLATFORM_ID

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _merchant_url(claim):
    return reverse("merchant_claim_evidence_pack", args=[claim.pk])


def _review_url(claim):
    return reverse("review_evidence_pack", args=[claim.pk])


def _exports(claim):
    return AuditEvent.objects.filter(claim=claim, action="evidence_pack_exported")


def _pdf_text(archive: zipfile.ZipFile) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(archive.read("report.pdf")))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_merchant_downloads_the_pack_of_its_claim(client, alice, forged_claim):
    client.force_login(alice)

    response = client.post(_merchant_url(forged_claim), **EN)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        f'attachment; filename="claimlens-claim-{forged_claim.pk}-evidence-pack.zip"'
    )
    assert response["Cache-Control"] == "private, no-store"
    body = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["audience"] == "merchant"
    assert manifest["generated_by"] == {"id": alice.pk, "username": "alice"}
    assert manifest["claim"]["id"] == forged_claim.pk
    export = _exports(forged_claim).get()
    assert export.actor == alice
    assert export.data["sha256"] == hashlib.sha256(body).hexdigest()


def test_merchants_pack_holds_none_of_the_buyers_private_data(client, alice, forged_claim):
    client.force_login(alice)

    body = b"".join(client.post(_merchant_url(forged_claim), **EN).streaming_content)

    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = archive.read("manifest.json").decode()
    pdf_text = _pdf_text(archive)
    for secret in (BUYER_PHONE, BUYER_ADDRESS, BUYER_PLATFORM_ID, "IMG_damage.jpg"):
        assert secret not in manifest
        assert secret not in pdf_text
    assert "This photo is a copy of your listing photo" in pdf_text


def test_merchant_cannot_download_other_shops_pack(client, bob, forged_claim):
    client.force_login(bob)

    response = client.post(_merchant_url(forged_claim))

    assert response.status_code == 404
    assert not _exports(forged_claim).exists()


def test_merchant_cannot_use_the_reviewers_download(client, alice, forged_claim):
    client.force_login(alice)

    assert client.post(_review_url(forged_claim)).status_code == 404
    assert not _exports(forged_claim).exists()


def test_reviewer_downloads_the_reviewers_pack(client, charlie, forged_claim):
    client.force_login(charlie)

    response = client.post(_review_url(forged_claim), **EN)

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["audience"] == "reviewer"
    assert "platform_wide" in manifest["buyer_credit"]
    assert _exports(forged_claim).get().data["audience"] == "reviewer"


@pytest.mark.parametrize("url", [_merchant_url, _review_url])
def test_anonymous_visitor_is_sent_to_login(client, forged_claim, url):
    response = client.post(url(forged_claim))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_link_or_an_image_tag_cannot_make_a_pack(client, alice, charlie, forged_claim):
    # A GET could be triggered by any site the merchant visits (<img src=...>) or by a
    # prefetcher: every export writes an audit record and renders a PDF.
    client.force_login(alice)
    assert client.get(_merchant_url(forged_claim)).status_code == 405
    client.force_login(charlie)
    assert client.get(_review_url(forged_claim)).status_code == 405

    assert not _exports(forged_claim).exists()


def test_the_pack_needs_the_pages_csrf_token(alice, forged_claim):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)

    refused = browser.post(_merchant_url(forged_claim))
    page = browser.get(reverse("merchant_claim", args=[forged_claim.pk]))
    token = page.context["csrf_token"]
    accepted = browser.post(_merchant_url(forged_claim), {"csrfmiddlewaretoken": str(token)})

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert _exports(forged_claim).count() == 1


def test_both_claim_pages_offer_the_pack(client, alice, charlie, forged_claim):
    client.force_login(alice)
    merchant_page = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN)
    client.force_login(charlie)
    review_page = client.get(reverse("review_claim", args=[forged_claim.pk]), **EN)

    assert f'action="{_merchant_url(forged_claim)}"' in merchant_page.content.decode()
    assert "Download the evidence pack (ZIP)" in merchant_page.content.decode()
    assert f'action="{_review_url(forged_claim)}"' in review_page.content.decode()


def test_export_appears_in_the_merchants_history(client, alice, forged_claim):
    client.force_login(alice)
    client.post(_merchant_url(forged_claim), **EN)

    html = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN).content.decode()

    assert "An evidence pack of the claim was exported" in html
    assert "Your shop" in html


def test_report_is_chinese_by_default(client, alice, forged_claim, zh_catalogue):
    client.force_login(alice)

    body = b"".join(client.post(_merchant_url(forged_claim)).streaming_content)

    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = json.loads(archive.read("manifest.json"))
    text = "".join(_pdf_text(archive).split())
    assert manifest["report_language"] == "zh-hans"
    assert f"申请#{forged_claim.pk}的证据包" in text
    assert "这张照片是您的商品主图" in text  # the finding, in the merchant's words
    # The manifest stays English whatever the report's language.
    assert any(
        f["message"].startswith("This photo is a copy of your listing photo")
        for f in manifest["findings"]
    )
