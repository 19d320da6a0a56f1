"""Hostile files sent where the outside world sends files: the platform API
(``POST /api/v1/claims/{id}/evidence/``) and the merchant's two counter-evidence forms on
the claim page (the answer form, and "add counter-evidence" once answered).

Whatever arrives: no 500; a refusal is a clear message (a problem document with a stable
code from the API, a form error naming the file on the page); an accepted file settles
(checked, rejected or failed; never left pending or checking) and so does its claim; and
no answer, page or stored message shown to a client carries a server path, a traceback or
an exception's class name. Checks run eagerly (the suite's Celery is eager).
"""

from __future__ import annotations

import re
import socket

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from evidence.models import EvidenceFile
from refunds import services
from refunds.models import ClaimStatus
from tests.security.hostile import REMOTE_MANIFEST_URL, SAMPLES, SCRIPT, Sample

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
SETTLED = {EvidenceFile.Status.CHECKED, EvidenceFile.Status.REJECTED, EvidenceFile.Status.FAILED}
CHANNELS = ("api", "answer_form", "evidence_form")
STATEMENT = "这是我们的主图，裂痕是画上去的。Painted cracks."
# What the merchant reads for each refusal (English); the API's problem carries the code.
FORM_MESSAGES = {
    "empty_file": "The submitted file is empty.",  # Django's file field, before the service
    "unsupported_type": "{name}: This file is not a JPEG, PNG, WebP, HEIC or AVIF image.",
    "too_many_pixels": "{name}: The image is",
}
FORM_MESSAGE_ENDINGS = {"too_many_pixels": "the limit is 60 megapixels."}


def _leaks(text: str, media_root) -> list[str]:
    """Server internals in text shown to a client."""
    patterns = [
        r"Traceback \(most recent call last\)",
        r'File "[^"]+", line \d+',
        r"site-packages",
        r"\b\w+\.py\b",
        r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b",  # DecompressionBombError, ValueError...
        r"\bobject at 0x[0-9a-f]+",
        r"<_io\.\w+",
        r"root:x:0:0",  # /etc/passwd, had an XML entity been resolved
        re.escape(str(settings.BASE_DIR)),
        re.escape(str(media_root)),
    ]
    return [found.group(0) for p in patterns if (found := re.search(p, text))]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Record any connection to a non-loopback address (a fetched remote manifest, an
    external XML entity...); the test fails if there was one."""
    attempts: list = []
    original = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.")):
            return original(sock, address)
        if sock.family == socket.AF_UNIX:
            return original(sock, address)
        attempts.append(address)
        raise OSError("network access attempted by the test subject")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts
    assert not attempts, f"the server tried to reach {attempts}"


@pytest.fixture
def api_a(client_a) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {client_a.token}")
    return api


@pytest.fixture
def client_a(shop_a):
    from merchants.services import platform_client_create

    client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    client.token = token
    return client


def _upload(sample: Sample) -> SimpleUploadedFile:
    return SimpleUploadedFile(sample.filename, sample.data, content_type=sample.content_type)


def _send(channel, sample, *, claim, api_a, client, capture):
    """Send the sample; return the answer and the text a client then reads about it."""
    with capture(execute=True):
        if channel == "api":
            response = api_a.post(
                f"/api/v1/claims/{claim.pk}/evidence/",
                {"file": _upload(sample), "submitted_by": "buyer"},
                format="multipart",
                **EN,
            )
        elif channel == "answer_form":
            response = client.post(
                reverse("merchant_claim", args=[claim.pk]),
                {"response": "contest", "statement": STATEMENT, "files": [_upload(sample)]},
                **EN,
            )
        else:
            response = client.post(
                reverse("merchant_claim_evidence", args=[claim.pk]),
                {"files": [_upload(sample)]},
                **EN,
            )
    if channel == "api":
        afterwards = [
            api_a.get(f"/api/v1/claims/{claim.pk}/{part}/", **EN).content.decode()
            for part in ("evidence", "findings")
        ]
    else:
        afterwards = [client.get(reverse("merchant_claim", args=[claim.pk]), **EN).content.decode()]
    return response, afterwards


@pytest.fixture
def claim_for(shop_a, alice, make_claim):
    """A claim of shop A ready for the channel: waiting for the merchant (API, answer
    form), or answered so the page offers the counter-evidence form."""

    def _make(channel):
        claim = make_claim(shop_a)
        if channel == "evidence_form":
            services.claim_merchant_respond(
                claim=claim, user=alice, response="contest", statement=STATEMENT
            )
            claim.refresh_from_db()
        return claim

    return _make


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
@pytest.mark.parametrize("channel", CHANNELS)
def test_hostile_upload_is_refused_clearly_or_settles(
    channel,
    sample,
    claim_for,
    api_a,
    client,
    alice,
    media_in_tmp,
    django_capture_on_commit_callbacks,
):
    # given
    claim = claim_for(channel)
    status_before = claim.status
    client.force_login(alice)

    # when
    response, afterwards = _send(
        channel,
        sample,
        claim=claim,
        api_a=api_a,
        client=client,
        capture=django_capture_on_commit_callbacks,
    )

    # then
    body = response.content.decode(errors="replace")
    assert response.status_code < 500, body[:2000]
    files = EvidenceFile.objects.filter(claim=claim, original_name=sample.filename)
    claim.refresh_from_db()
    if sample.refused_with:
        assert not files.exists(), "a refused file was stored"
        assert claim.status == status_before
        if channel == "api":
            assert response.status_code == sample.status, body
            assert response["Content-Type"] == "application/problem+json"
            problem = response.json()
            assert problem["code"] == sample.refused_with, problem
            assert problem["type"] == f"urn:claimlens:problem:{sample.refused_with}"
            assert problem["detail"].strip()
        else:
            assert response.status_code == 200, "a refused file must keep the merchant on the form"
            message = FORM_MESSAGES[sample.refused_with].format(name=sample.filename)
            assert message in body, f"no form error {message!r} on the page"
            ending = FORM_MESSAGE_ENDINGS.get(sample.refused_with)
            assert ending is None or ending in body
    else:
        assert response.status_code in (201, 302), body[:2000]
        evidence = files.get()
        assert evidence.status in SETTLED, f"the file is left {evidence.status}"
        assert claim.status not in (S.RECEIVED, S.CHECKING), f"the claim is stuck {claim.status}"
        stored = [evidence.rejection_message] + [
            f"{finding.display_message} {finding.params}" for finding in evidence.findings.all()
        ]
        assert not _leaks(" ".join(stored), media_in_tmp), stored
    for text in (body, *afterwards):
        assert not _leaks(text, media_in_tmp), _leaks(text, media_in_tmp)


def test_remote_content_credentials_are_reported_not_fetched(
    shop_a, make_claim, api_a, media_in_tmp, django_capture_on_commit_callbacks
):
    sample = next(s for s in SAMPLES if s.name == "c2pa_remote_manifest")
    claim = make_claim(shop_a)

    _send(
        "api",
        sample,
        claim=claim,
        api_a=api_a,
        client=None,
        capture=django_capture_on_commit_callbacks,
    )

    findings = api_a.get(f"/api/v1/claims/{claim.pk}/findings/", **EN).json()
    remote = [f for f in findings if f["code"] == "c2pa_remote_unverified"]
    assert remote, [f["code"] for f in findings]
    assert remote[0]["params"]["host"] == REMOTE_MANIFEST_URL.split("/")[2]


@pytest.mark.parametrize("name", ["jpeg_html_polyglot", "jpeg_zip_polyglot"])
def test_a_polyglot_is_only_ever_served_re_encoded(
    name, shop_a, alice, make_claim, client, api_a, media_in_tmp, django_capture_on_commit_callbacks
):
    sample = next(s for s in SAMPLES if s.name == name)
    claim = make_claim(shop_a)
    _send(
        "api",
        sample,
        claim=claim,
        api_a=api_a,
        client=None,
        capture=django_capture_on_commit_callbacks,
    )
    evidence = EvidenceFile.objects.get(claim=claim)
    client.force_login(alice)

    response = client.get(reverse("evidence:display", args=[evidence.uuid]))

    shown = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert shown[:3] == b"\xff\xd8\xff"
    assert SCRIPT not in shown and b"PK\x03\x04" not in shown
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_the_leak_detector_sees_what_it_looks_for(tmp_path):
    leaky = [
        'Traceback (most recent call last):\n  File "/srv/app/evidence/imaging.py", line 3',
        "DecompressionBombError: Image size (400000000 pixels) exceeds limit",
        "cannot identify image file <_io.BytesIO object at 0x7f6272fa9580>",
        f"could not open {settings.BASE_DIR}/var/media/original",
        f"{tmp_path}/evidence/1/original",
        "root:x:0:0:root:/root:/bin/bash",
    ]
    for text in leaky:
        assert _leaks(text, tmp_path), text
    assert not _leaks("The image cannot be read; the file may be damaged.", tmp_path)
    assert not _leaks("Error level analysis: edited areas are brighter.", tmp_path)
