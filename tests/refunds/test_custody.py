"""The chain of custody of evidence files: every upload, refusal, file the checks gave up
on and original handed out is an event of the hash-chained audit log."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from evidence import custody
from evidence.services import EvidenceRejected, evidence_add
from refunds.audit import Actor, verify_chain
from refunds.models import AuditEvent


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Uploads go to a temporary directory."""


@pytest.fixture
def claim(make_claim, shop_a):
    return make_claim(shop_a)


def _custody(action: str):
    return AuditEvent.objects.filter(action=action).order_by("seq")


def _truncated_png() -> bytes:
    """A PNG whose header reads (the upload accepts it) but whose pixels stop halfway
    (the decoder in the checks rejects it)."""
    out = io.BytesIO()
    Image.effect_noise((400, 300), 60).convert("RGB").save(out, "PNG")
    data = out.getvalue()
    return data[: len(data) // 2]


# --- uploads -------------------------------------------------------------------------------


def test_an_upload_is_recorded_with_who_its_hash_size_type_and_target(
    alice, claim, photo_bytes, django_capture_on_commit_callbacks
):
    data = photo_bytes(3)

    with django_capture_on_commit_callbacks(execute=True):
        evidence = evidence_add(
            upload=data, submitted_by="merchant", claim=claim, uploaded_by=alice
        )

    event = _custody("evidence_uploaded").get()
    assert event.evidence_id == evidence.pk
    assert event.actor == alice and event.actor_label == "user:alice"
    assert event.claim_id is None  # the claim's timeline is its lifecycle
    assert event.data == {
        "file": str(evidence.uuid),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "attached_to": "claim",
        "target_id": claim.pk,
        "role": "merchant",
    }
    assert verify_chain() == (AuditEvent.objects.count(), None)


def test_the_upload_and_its_record_are_one_transaction(claim, photo_bytes):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        evidence_add(upload=photo_bytes(4), submitted_by="buyer", claim=claim)

    sqls = [query["sql"] for query in queries.captured_queries]
    row = next(i for i, sql in enumerate(sqls) if 'INSERT INTO "evidence_evidencefile"' in sql)
    event = next(i for i, sql in enumerate(sqls) if 'INSERT INTO "refunds_auditevent"' in sql)
    opened = max(i for i, sql in enumerate(sqls[:row]) if sql.startswith("SAVEPOINT"))
    closed = next(i for i, sql in enumerate(sqls) if i > row and sql.startswith("RELEASE"))
    assert opened < row < event < closed  # one block: both commit or neither


def test_a_listing_photo_upload_is_recorded_against_its_product(listing_product):
    photo = listing_product.photos.get()

    event = _custody("evidence_uploaded").get(evidence_id=photo.pk)

    assert event.data["attached_to"] == "product"
    assert event.data["target_id"] == listing_product.pk
    assert event.data["sha256"] == photo.sha256
    assert event.actor_label == "system:unattributed upload"  # no user, no client given


def test_an_api_upload_is_recorded_as_the_platform_clients(shop_a, claim, photo_bytes):
    from rest_framework.test import APIClient

    from merchants.services import platform_client_create

    _client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = api.post(
        f"/api/v1/claims/{claim.pk}/evidence/",
        {
            "file": SimpleUploadedFile("1.jpg", photo_bytes(5), "image/jpeg"),
            "submitted_by": "buyer",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    event = _custody("evidence_uploaded").get()
    assert event.actor_label == "platform:platform-a"
    assert event.data["role"] == "buyer"


# --- refusals ------------------------------------------------------------------------------


def test_a_refused_upload_is_recorded_with_its_code_and_the_refused_bytes_hash(
    alice, claim, photo_bytes
):
    data = photo_bytes(6)
    evidence_add(upload=data, submitted_by="merchant", claim=claim, uploaded_by=alice)
    not_an_image = b"GIF89a not what we take"

    for upload in (data, SimpleUploadedFile("x.gif", not_an_image, "image/gif")):
        with pytest.raises(EvidenceRejected):
            evidence_add(upload=upload, submitted_by="merchant", claim=claim, uploaded_by=alice)

    duplicate, unsupported = _custody("evidence_refused")
    assert duplicate.data == {
        "code": "duplicate_file",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "attached_to": "claim",
        "target_id": claim.pk,
        "role": "merchant",
    }
    assert unsupported.data["code"] == "unsupported_type"
    assert unsupported.data["sha256"] == hashlib.sha256(not_an_image).hexdigest()
    assert duplicate.actor == unsupported.actor == alice
    assert duplicate.evidence_id is None and duplicate.claim_id is None
    assert _custody("evidence_uploaded").count() == 1


def test_a_refusal_before_the_bytes_are_read_records_no_hash(
    alice, charlie, claim, photo_bytes, contest_and_decide
):
    decided = contest_and_decide(claim, alice, charlie)  # closed to evidence

    with pytest.raises(EvidenceRejected) as refused:
        evidence_add(
            upload=photo_bytes(7),
            submitted_by="buyer",
            claim=decided,
            actor=Actor.platform("platform-a"),
        )

    event = _custody("evidence_refused").get()
    assert refused.value.code == event.data["code"] == "claim_closed"
    assert "sha256" not in event.data
    assert event.actor_label == "platform:platform-a"


# --- what the checks gave up on -------------------------------------------------------------


def test_a_file_the_decoder_rejects_is_recorded(claim, django_capture_on_commit_callbacks):
    data = _truncated_png()

    with django_capture_on_commit_callbacks(execute=True):
        evidence = evidence_add(upload=data, submitted_by="buyer", claim=claim)

    evidence.refresh_from_db()
    assert evidence.status == "rejected"
    event = _custody("evidence_rejected").get()
    assert event.evidence_id == evidence.pk
    assert event.actor_label == "system:checks"
    assert event.data == {
        "code": evidence.rejection_code,
        "sha256": hashlib.sha256(data).hexdigest(),
        "role": "system",
    }


def test_a_file_whose_checks_failed_is_recorded_once(claim, photo_bytes):
    from evidence import pipeline

    evidence = evidence_add(upload=photo_bytes(8), submitted_by="buyer", claim=claim)

    pipeline.mark_failed(evidence.pk, "TimeoutError: the worker gave up")
    pipeline.mark_failed(evidence.pk, "TimeoutError: the worker gave up")  # a retry's echo

    event = _custody("evidence_check_failed").get()
    assert event.evidence_id == evidence.pk
    # The generic message the file shows, never the exception (it may name server paths).
    assert event.data["code"] == pipeline.CHECKS_FAILED
    assert event.data["error"] == pipeline.FAILURE_MESSAGES[pipeline.CHECKS_FAILED]
    assert "TimeoutError" not in str(event.data)
    assert event.data["sha256"] == evidence.sha256


def test_a_checked_file_is_not_recorded_as_failed(claim, photo_bytes):
    evidence = evidence_add(upload=photo_bytes(9), submitted_by="buyer", claim=claim)

    custody.record_check_outcome(evidence.pk)  # still pending: nothing to record

    assert not _custody("evidence_check_failed").exists()
    assert not _custody("evidence_rejected").exists()


# --- originals handed out -------------------------------------------------------------------


def test_a_reviewer_downloading_an_original_is_recorded_with_the_served_bytes_hash(
    client, charlie, claim, photo_bytes
):
    data = photo_bytes(10)
    evidence = evidence_add(upload=data, submitted_by="buyer", claim=claim)
    client.force_login(charlie)

    response = client.get(reverse("evidence:original", args=[evidence.uuid]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    event = _custody("evidence_original_exported").get()
    assert event.evidence_id == evidence.pk
    assert event.actor == charlie
    assert event.data == {
        "file": str(evidence.uuid),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "matches_upload": True,
        "role": "reviewer",
    }


def test_an_original_changed_in_storage_is_recorded_as_not_matching(
    client, charlie, claim, photo_bytes
):
    evidence = evidence_add(upload=photo_bytes(11), submitted_by="buyer", claim=claim)
    with open(evidence.original.path, "wb") as handle:
        handle.write(photo_bytes(12))
    client.force_login(charlie)

    client.get(reverse("evidence:original", args=[evidence.uuid]))

    event = _custody("evidence_original_exported").get()
    assert event.data["matches_upload"] is False
    assert event.data["sha256"] == hashlib.sha256(photo_bytes(12)).hexdigest()


def test_a_refused_original_download_records_nothing(client, alice, claim, photo_bytes):
    evidence = evidence_add(upload=photo_bytes(13), submitted_by="buyer", claim=claim)
    client.force_login(alice)

    assert client.get(reverse("evidence:original", args=[evidence.uuid])).status_code == 404
    assert not _custody("evidence_original_exported").exists()
