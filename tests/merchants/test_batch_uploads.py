"""Uploads that never lose or trap a file: a batch is validated whole, then attached
whole or not at all; the contest with statement and files is one action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from refunds.models import ClaimStatus

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
STATEMENT = "这是我们的主图，裂痕是画上去的。Painted cracks on our listing photo."


def _stored_originals(media) -> int:
    return sum(1 for path in media.rglob("*") if path.is_file() and "original" in path.parts)


def _contest(client, claim, files, statement=STATEMENT):
    return client.post(
        reverse("merchant_claim", args=[claim.pk]),
        {"response": "contest", "statement": statement, "files": files},
        **EN,
    )


def test_a_batch_with_one_refused_file_stores_nothing(
    forged_claim, alice, photo_bytes, media_in_tmp
):
    from evidence.services import BatchRejected, evidence_add_batch

    before = _stored_originals(media_in_tmp)
    with pytest.raises(BatchRejected) as refused:
        evidence_add_batch(
            uploads=[(photo_bytes(1), "good.jpg"), (b"", "empty.jpg"), (b"xx", "bad.jpg")],
            submitted_by="merchant",
            claim=forged_claim,
            uploaded_by=alice,
        )

    assert [(r.name, r.code) for r in refused.value.refusals] == [
        ("empty.jpg", "empty_file"),
        ("bad.jpg", "unsupported_type"),
    ]
    assert not forged_claim.evidence_files.filter(submitted_by="merchant").exists()
    assert _stored_originals(media_in_tmp) == before  # no stray bytes left behind


def test_contest_with_one_refused_file_keeps_nothing_and_names_the_file(
    client, alice, forged_claim, upload
):
    client.force_login(alice)

    response = _contest(
        client, forged_claim, [upload("box.jpg", 1), upload("notes.jpg", data=b"text")]
    )

    body = response.content.decode()
    assert "notes.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image." in body
    assert "Nothing of this submission was kept" in body
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.AWAITING_MERCHANT  # the answer was not sent
    assert not forged_claim.evidence_files.filter(submitted_by="merchant").exists()


def test_picking_the_good_file_again_then_goes_through(
    client, alice, forged_claim, upload, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    _contest(client, forged_claim, [upload("box.jpg", 1), upload("notes.jpg", data=b"text")])

    with django_capture_on_commit_callbacks(execute=True):
        response = _contest(client, forged_claim, [upload("box.jpg", 1)])

    assert response.status_code == 302
    forged_claim.refresh_from_db()
    assert forged_claim.merchant_response == "contest"
    assert list(
        forged_claim.evidence_files.filter(submitted_by="merchant").values_list(
            "original_name", flat=True
        )
    ) == ["box.jpg"]


def test_an_answer_the_rules_refuse_keeps_none_of_its_files(client, alice, forged_claim, upload):
    client.force_login(alice)

    response = _contest(client, forged_claim, [upload("box.jpg", 1)], statement="no")

    assert "at least 10 characters" in response.content.decode()
    assert "Your files were not kept either" in response.content.decode()
    assert not forged_claim.evidence_files.filter(submitted_by="merchant").exists()


def test_sending_an_attached_file_again_after_the_answer_is_no_error(
    client, alice, forged_claim, upload, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        _contest(client, forged_claim, [upload("box.jpg", 1)])

    response = client.post(
        reverse("merchant_claim_evidence", args=[forged_claim.pk]),
        {"files": [upload("box.jpg", 1), upload("tape.jpg", 2)]},
        follow=True,
        **EN,
    )

    body = response.content.decode()
    assert "Already attached to this claim (nothing to do): box.jpg" in body
    names = sorted(
        forged_claim.evidence_files.filter(submitted_by="merchant").values_list(
            "original_name", flat=True
        )
    )
    assert names == ["box.jpg", "tape.jpg"]


def test_the_api_keeps_the_accepted_photos_of_a_batch(shop_a, listing_product, photo_bytes):
    """The platform's API documents partial acceptance (docs/api.md): the same service,
    asked to keep what it can."""
    from evidence.services import BatchResult
    from merchants.services import product_photos_add

    result = product_photos_add(
        product=listing_product,
        uploads=[(photo_bytes(11), "ok.jpg"), (b"", "empty.jpg")],
        all_or_nothing=False,
    )

    assert isinstance(result, BatchResult)
    assert [f.original_name for f in result.added] == ["ok.jpg"]
    assert [(r.index, r.code) for r in result.refused] == [(1, "empty_file")]


def test_an_offer_with_files_keeps_nothing_until_confirmed_then_keeps_both(
    client, alice, forged_claim, upload
):
    """A money answer stops at its confirmation step: its files are not kept half-way
    (the page asks for them again), and the confirmed answer attaches them with it."""
    client.force_login(alice)
    url = reverse("merchant_claim", args=[forged_claim.pk])
    offer = {"response": "offer_partial", "statement": STATEMENT, "offer_amount": "60"}

    step = client.post(url, {**offer, "files": [upload("box.jpg", 1)]}, **EN)

    body = step.content.decode()
    assert "data-confirm-step" in body
    assert "Pick the files you sent with your answer again (box.jpg)" in body
    assert 'enctype="multipart/form-data"' in body
    assert not forged_claim.evidence_files.filter(submitted_by="merchant").exists()

    done = client.post(
        url,
        {**offer, "confirmed": "1", "confirmed_amount": "60.00", "files": [upload("box.jpg", 1)]},
        **EN,
    )

    assert done.status_code == 302
    forged_claim.refresh_from_db()
    assert forged_claim.merchant_offer_amount == 60
    assert [
        f.original_name for f in forged_claim.evidence_files.filter(submitted_by="merchant")
    ] == ["box.jpg"]
