"""Asking the buyer: per photo, with a window, optionally a challenge code the worker's
checks read in the new photo."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from refunds import services
from refunds.exceptions import ClaimValidationError
from refunds.models import EvidenceRequest
from tests.conftest import jpeg_bytes
from tests.evidence.checks.test_challenge_code import challenge_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_claim(
    shop_a,
    make_claim,
    alice,
    charlie,
    media_in_tmp,
    photo_bytes,
    django_capture_on_commit_callbacks,
):
    from evidence.services import evidence_add

    claim = make_claim(shop_a, evaluate=False)
    with django_capture_on_commit_callbacks(execute=True):
        first = evidence_add(
            upload=photo_bytes(4), submitted_by="platform", original_name="crack.jpg", claim=claim
        )
    services.claim_evaluate(claim_id=claim.pk)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="the crack is painted on"
    )
    services.claim_assign(claim=claim, reviewer=charlie)
    claim.refresh_from_db()
    claim.first_photo = first
    return claim


def test_a_request_names_the_photo_the_wish_and_the_window(held_claim, charlie):
    claim = services.claim_request_buyer_evidence(
        claim=held_claim,
        reviewer=charlie,
        message="Photograph the crack from the side, in daylight.",
        evidence=held_claim.first_photo,
        challenge=True,
        hours=48,
    )
    request = EvidenceRequest.objects.get(claim=claim)
    assert request.evidence == held_claim.first_photo
    assert request.deadline == claim.buyer_deadline
    assert request.deadline - request.issued_at == dt.timedelta(hours=48)
    assert len(request.challenge_code) == 6
    assert claim.status == "awaiting_buyer"
    assert claim.held_by is None


def test_default_window_is_72_hours_and_a_foreign_photo_is_refused(
    held_claim, charlie, shop_a, make_claim
):
    with pytest.raises(ClaimValidationError):
        services.claim_request_buyer_evidence(
            claim=held_claim, reviewer=charlie, message="more", hours=24 * 30
        )
    claim = services.claim_request_buyer_evidence(
        claim=held_claim, reviewer=charlie, message="A photo of the label, please."
    )
    request = EvidenceRequest.objects.get(claim=claim)
    assert request.deadline - request.issued_at == dt.timedelta(hours=72)
    assert request.challenge_code == ""


def test_merchant_sees_the_request_and_its_deadline_but_not_the_code(
    held_claim, charlie, client, alice
):
    services.claim_request_buyer_evidence(
        claim=held_claim, reviewer=charlie, message="Photograph the crack again.", challenge=True
    )
    code = EvidenceRequest.objects.get(claim=held_claim).challenge_code
    client.force_login(alice)
    html = client.get(
        reverse("merchant_claim", args=[held_claim.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Evidence asked of the buyer" in html
    assert "Photograph the crack again." in html
    assert 'data-evidence-request="open"' in html
    assert code not in html


def test_missed_window_moves_the_claim_on_and_closes_the_request(held_claim, charlie):
    claim = services.claim_request_buyer_evidence(
        claim=held_claim, reviewer=charlie, message="A photo of the label, please."
    )
    services.enforce_deadlines(now=claim.buyer_deadline + dt.timedelta(minutes=1))
    claim.refresh_from_db()
    assert claim.status == "in_review"
    request = EvidenceRequest.objects.get(claim=claim)
    assert request.status == "missed"
    event = claim.audit_events.get(action="buyer_deadline_missed")
    assert event.reason == "the buyer sent no further evidence before the deadline"


@pytest.mark.ocr
def test_challenge_photo_is_checked_and_its_code_read(
    held_claim, charlie, django_capture_on_commit_callbacks
):
    from evidence.models import Finding
    from evidence.services import evidence_add

    services.claim_request_buyer_evidence(
        claim=held_claim,
        reviewer=charlie,
        message="Photograph the code beside the cup.",
        challenge=True,
    )
    code = EvidenceRequest.objects.get(claim=held_claim).challenge_code
    with django_capture_on_commit_callbacks(execute=True):
        evidence_add(
            upload=jpeg_bytes(challenge_photo(code)),
            submitted_by="platform",
            original_name="code.jpg",
            claim=held_claim,
        )
    held_claim.refresh_from_db()
    read = Finding.objects.get(claim=held_claim, code="challenge_code_read")
    # Read within one character (the reviewer confirms what was read).
    assert read.params["code"] == code
    assert read.details["distance"] <= 1
    assert held_claim.status == "in_review"  # back to review once checked
    assert EvidenceRequest.objects.get(claim=held_claim).status == "answered"
