"""When checking a file goes wrong: what the client is told, where redelivery stops, and
what the reconciler does with claims a lost message left behind (issue 9)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from evidence.models import EvidenceFile


@pytest.fixture
def received_claim(shop_a, make_order, django_capture_on_commit_callbacks):
    """A claim whose evaluation message never reached a worker: still ``received``."""
    from refunds.audit import Actor
    from refunds.services import claim_submit

    with django_capture_on_commit_callbacks(execute=False):
        claim = claim_submit(
            order=make_order(shop_a),
            amount=Decimal("30.00"),
            reason="damaged",
            actor=Actor.platform("test"),
        )
    return claim


@pytest.fixture
def unchecked_photo(received_claim, photo_bytes, media_in_tmp, django_capture_on_commit_callbacks):
    """A buyer's photo stored and committed, its check not run yet."""
    from evidence.services import evidence_add

    with django_capture_on_commit_callbacks(execute=False):
        evidence = evidence_add(
            upload=photo_bytes(3), submitted_by="buyer", claim=received_claim, original_name="a.jpg"
        )
    return evidence


def test_a_file_whose_checks_fail_shows_no_server_path_or_exception(
    unchecked_photo, media_in_tmp, shop_a
):
    from rest_framework.test import APIClient

    from evidence.tasks import check_evidence_task
    from merchants.services import platform_client_create

    _client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    # given: the stored original is gone (a storage failure)
    path = unchecked_photo.original.path
    unchecked_photo.original.storage.delete(unchecked_photo.original.name)

    # when: the worker tries to check it
    with pytest.raises(FileNotFoundError):
        check_evidence_task.apply(args=[unchecked_photo.pk])

    # then: the file failed with a generic message; the claim moved on
    unchecked_photo.refresh_from_db()
    assert unchecked_photo.status == "failed"
    assert unchecked_photo.rejection_code == "checks_failed"
    response = api.get(f"/api/v1/claims/{unchecked_photo.claim_id}/evidence/")
    shown = response.json()[0]["rejection_message"]
    assert shown
    for leak in (str(media_in_tmp), path, "FileNotFoundError", "Errno", "/"):
        assert leak not in shown
    unchecked_photo.claim.refresh_from_db()
    assert unchecked_photo.claim.status == "awaiting_merchant"


def test_a_file_delivered_again_at_the_attempts_cap_fails_and_the_claim_moves_on(
    unchecked_photo,
):
    """A check that kills its worker is redelivered (acks_late); once the cap of started
    attempts is reached the next delivery gives up instead of checking once more."""
    from evidence.pipeline import MAX_CHECK_ATTEMPTS
    from evidence.tasks import check_evidence_task

    EvidenceFile.objects.filter(pk=unchecked_photo.pk).update(
        status="checking", check_attempts=MAX_CHECK_ATTEMPTS, checking_since=timezone.now()
    )

    outcome = check_evidence_task.apply(args=[unchecked_photo.pk]).get()

    unchecked_photo.refresh_from_db()
    assert outcome == "gave up"
    assert unchecked_photo.status == "failed"
    assert unchecked_photo.check_attempts == MAX_CHECK_ATTEMPTS
    assert unchecked_photo.rejection_code == "checks_gave_up"
    assert not unchecked_photo.check_runs.exists()
    unchecked_photo.claim.refresh_from_db()
    assert unchecked_photo.claim.status == "awaiting_merchant"
    assert unchecked_photo.claim.merchant_deadline is not None


def test_a_file_below_the_cap_is_checked_again(unchecked_photo):
    from evidence.pipeline import MAX_CHECK_ATTEMPTS
    from evidence.tasks import check_evidence_task

    EvidenceFile.objects.filter(pk=unchecked_photo.pk).update(
        status="checking", check_attempts=MAX_CHECK_ATTEMPTS - 1, checking_since=timezone.now()
    )

    assert check_evidence_task.apply(args=[unchecked_photo.pk]).get() == "checked"
    unchecked_photo.refresh_from_db()
    assert unchecked_photo.check_attempts == MAX_CHECK_ATTEMPTS


def test_the_reconciler_evaluates_a_claim_left_received(received_claim, settings):
    """The claim's evaluation message was lost (broker down at submission): after
    CHECK_STUCK_MINUTES the reconciler evaluates it, so the merchant's window opens."""
    from evidence.tasks import reconcile_checks_task
    from refunds.models import RefundClaim

    settings.CLAIMLENS = {**settings.CLAIMLENS, "CHECK_STUCK_MINUTES": 10}
    RefundClaim.objects.filter(pk=received_claim.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=11)
    )

    result = reconcile_checks_task.apply().get()

    received_claim.refresh_from_db()
    assert result["claims"] == 1
    assert received_claim.status == "awaiting_merchant"
    assert received_claim.merchant_deadline is not None


def test_the_reconciler_evaluates_a_checking_claim_whose_files_are_settled(unchecked_photo):
    """The last file was settled but the claim's evaluation after it never ran."""
    from evidence.tasks import reconcile_checks_task
    from refunds.models import RefundClaim

    RefundClaim.objects.filter(pk=unchecked_photo.claim_id).update(status="checking")
    EvidenceFile.objects.filter(pk=unchecked_photo.pk).update(status="failed")

    assert reconcile_checks_task.apply().get()["claims"] == 1
    assert RefundClaim.objects.get(pk=unchecked_photo.claim_id).status == "awaiting_merchant"


def test_the_reconciler_leaves_fresh_claims_with_pending_files_alone(unchecked_photo):
    from evidence.tasks import reconcile_checks_task
    from refunds.models import RefundClaim

    result = reconcile_checks_task.apply().get()

    assert result == {"requeued": 0, "failed": 0, "claims": 0}
    assert RefundClaim.objects.get(pk=unchecked_photo.claim_id).status == "received"


def test_the_reconciler_gives_up_with_the_generic_message(unchecked_photo, settings):
    from evidence.pipeline import MAX_CHECK_ATTEMPTS
    from evidence.tasks import reconcile_checks_task

    settings.CLAIMLENS = {**settings.CLAIMLENS, "CHECK_STUCK_MINUTES": 10}
    EvidenceFile.objects.filter(pk=unchecked_photo.pk).update(
        status="checking",
        check_attempts=MAX_CHECK_ATTEMPTS,
        checking_since=timezone.now() - dt.timedelta(hours=1),
    )

    assert reconcile_checks_task.apply().get()["failed"] == 1
    unchecked_photo.refresh_from_db()
    assert unchecked_photo.status == "failed"
    assert unchecked_photo.rejection_code == "checks_gave_up"


def test_reconciler_is_scheduled():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "evidence.tasks.reconcile_checks_task" in tasks


def test_uploading_again_restores_a_file_whose_original_was_lost(
    unchecked_photo, photo_bytes, django_capture_on_commit_callbacks
):
    """Files damaged before the fix: the row failed, its original deleted. The buyer's
    re-upload of the same photo restores that file and checks it, instead of being
    refused as a duplicate of a file that no longer has its bytes."""
    from evidence.services import evidence_add

    unchecked_photo.original.storage.delete(unchecked_photo.original.name)
    EvidenceFile.objects.filter(pk=unchecked_photo.pk).update(
        status="failed", check_attempts=1, rejection_code="checks_failed"
    )

    with django_capture_on_commit_callbacks(execute=True):
        restored = evidence_add(
            upload=photo_bytes(3), submitted_by="buyer", claim=unchecked_photo.claim
        )

    assert restored.pk == unchecked_photo.pk
    restored.refresh_from_db()
    assert restored.status == "checked"
    assert restored.rejection_code == ""
    with restored.original.open("rb") as handle:
        assert handle.read() == photo_bytes(3)
    assert EvidenceFile.objects.filter(claim=unchecked_photo.claim).count() == 1


def test_uploading_again_a_file_that_still_has_its_original_is_a_duplicate(
    unchecked_photo, photo_bytes
):
    from evidence.services import EvidenceRejected, evidence_add

    EvidenceFile.objects.filter(pk=unchecked_photo.pk).update(status="failed")

    with pytest.raises(EvidenceRejected) as refused:
        evidence_add(upload=photo_bytes(3), submitted_by="buyer", claim=unchecked_photo.claim)
    assert refused.value.code == "duplicate_file"
