"""The merchant's inbox and claim page: scoping, privacy, the answer, both languages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from refunds.models import ClaimStatus, RefundClaim
from tests.web.conftest import BUYER_ADDRESS, BUYER_PHONE, BUYER_PLATFORM_ID

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _contest(client, claim, **extra):
    data = {"response": "contest", "statement": "这是我们的主图，裂痕是画上去的。Painted cracks."}
    data.update(extra)
    return client.post(reverse("merchant_claim", args=[claim.pk]), data, **EN)


# --- scoping ---------------------------------------------------------------------------


def test_inbox_lists_only_the_users_shops_claims(client, alice, bob, shop_a, shop_b, make_claim):
    own = make_claim(shop_a)
    other = make_claim(shop_b)
    client.force_login(alice)

    html = client.get(reverse("merchant_inbox"), **EN).content.decode()

    assert reverse("merchant_claim", args=[own.pk]) in html
    assert reverse("merchant_claim", args=[other.pk]) not in html


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "merchant_claim"),
        ("post", "merchant_claim"),
        ("post", "merchant_claim_evidence"),
        ("post", "merchant_claim_appeal"),
    ],
)
def test_merchant_cannot_open_other_shops_claim(client, bob, shop_a, make_claim, method, name):
    claim = make_claim(shop_a)
    client.force_login(bob)

    response = getattr(client, method)(
        reverse(name, args=[claim.pk]), {"response": "accept", "reason": "x" * 20}
    )

    assert response.status_code == 404
    claim.refresh_from_db()
    assert claim.status == S.AWAITING_MERCHANT


def test_anonymous_visitor_is_sent_to_login(client, shop_a, make_claim):
    claim = make_claim(shop_a)
    for url in (reverse("merchant_inbox"), reverse("merchant_claim", args=[claim.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_home_sends_merchants_to_inbox_and_reviewers_to_queues(client, alice, charlie):
    client.force_login(alice)
    assert client.get("/")["Location"] == reverse("merchant_inbox")
    client.force_login(charlie)
    assert client.get("/")["Location"] == reverse("review_queues")


# --- inbox -----------------------------------------------------------------------------


def test_inbox_shows_status_amount_risk_and_countdown(client, alice, shop_a, make_claim):
    claim = make_claim(shop_a, amount=Decimal("88.00"))
    RefundClaim.objects.filter(pk=claim.pk).update(
        merchant_deadline=timezone.now() + dt.timedelta(hours=31, minutes=20)
    )
    client.force_login(alice)

    html = client.get(reverse("merchant_inbox"), **EN).content.decode()

    assert "¥88.00" in html
    assert "Awaiting merchant" in html
    assert "31 hours left" in html
    assert "risk risk-" in html


def test_inbox_filters_by_status(client, alice, shop_a, make_claim):
    waiting = make_claim(shop_a)
    answered = make_claim(shop_a)
    client.force_login(alice)
    _contest(client, answered)

    html = client.get(reverse("merchant_inbox"), {"status": S.IN_REVIEW}, **EN).content.decode()

    assert reverse("merchant_claim", args=[answered.pk]) in html
    assert reverse("merchant_claim", args=[waiting.pk]) not in html


# Pages, sorts, the shop switcher and the query pin: tests/web/test_merchant_inbox.py


# --- claim page ------------------------------------------------------------------------


def test_claim_page_explains_the_forgery(client, alice, forged_claim):
    client.force_login(alice)

    html = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN).content.decode()

    assert forged_claim.risk_score >= 70
    assert "This photo is a copy of your listing photo" in html
    assert "has an area altered" in html
    assert "finding-critical" in html
    assert "The buyer&#x27;s photo with the pixels that differ from yours in red." in html
    for artifact in ("overlay", "side_by_side", "ela"):
        assert f'data-artifact="{artifact}"' in html
    # the strongest reason comes first, above the weaker ones
    assert html.index("is a copy of your listing photo") < html.index("names no camera")
    assert "hours left" in html


def test_claim_page_shows_buyer_photo_beside_listing_photo(client, alice, forged_claim):
    client.force_login(alice)

    html = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN).content.decode()

    buyer_file = forged_claim.evidence_files.get(submitted_by="buyer")
    listing = forged_claim.order.items.first().product.photos.first()
    assert reverse("evidence:display", args=[buyer_file.uuid]) in html
    assert reverse("evidence:display", args=[listing.uuid]) in html
    assert "/original" not in html


def test_merchant_never_sees_buyer_private_data(client, alice, forged_claim):
    client.force_login(alice)
    pages = [
        client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN),
        client.get(reverse("merchant_inbox"), **EN),
        client.get(reverse("merchant_claim", args=[forged_claim.pk])),
    ]
    for response in pages:
        html = response.content.decode()
        assert BUYER_PHONE not in html
        assert BUYER_ADDRESS not in html
        assert BUYER_PLATFORM_ID not in html
        assert "IMG_damage.jpg" not in html  # the buyer's own file name stays private
    assert "张三" in pages[0].content.decode()  # the display name is what merchants see


def test_contest_with_counter_evidence_sends_claim_to_review(
    client, alice, forged_claim, photo_bytes, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    upload = SimpleUploadedFile("packing.jpg", photo_bytes(3), content_type="image/jpeg")

    with django_capture_on_commit_callbacks(execute=True):
        response = _contest(client, forged_claim, files=[upload])

    assert response.status_code == 302
    forged_claim.refresh_from_db()
    assert forged_claim.status == S.IN_REVIEW
    assert forged_claim.merchant_response == "contest"
    counter = forged_claim.evidence_files.get(submitted_by="merchant")
    assert counter.uploaded_by == alice
    html = client.get(response["Location"], **EN).content.decode()
    assert "Your answer was sent to a platform reviewer." in html
    assert "The merchant contested the claim" in html


def test_refused_counter_evidence_is_a_form_error(client, alice, forged_claim):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    upload = SimpleUploadedFile("notes.jpg", b"this is not a picture", content_type="image/jpeg")

    response = _contest(client, forged_claim, files=[upload])

    assert response.status_code == 200
    assert "notes.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image." in (
        response.content.decode()
    )
    forged_claim.refresh_from_db()
    assert forged_claim.status == S.AWAITING_MERCHANT


def test_service_refusal_is_shown_not_a_500(client, alice, shop_a, make_claim):
    claim = make_claim(shop_a)
    client.force_login(alice)

    response = client.post(
        reverse("merchant_claim", args=[claim.pk]),
        {"response": "contest", "statement": "no"},
        **EN,
    )

    assert response.status_code == 200
    assert "at least 10 characters" in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == S.AWAITING_MERCHANT


def test_answer_on_a_claim_already_answered_is_an_error_message(client, alice, shop_a, make_claim):
    claim = make_claim(shop_a)
    client.force_login(alice)
    _contest(client, claim)

    response = client.post(reverse("merchant_claim", args=[claim.pk]), {"response": "accept"}, **EN)

    assert response.status_code == 200
    assert "This claim is not waiting for your answer." in response.content.decode()


def test_partial_offer_must_be_below_the_claimed_amount(client, alice, shop_a, make_claim):
    claim = make_claim(shop_a, amount=Decimal("99.00"))
    client.force_login(alice)

    refused = client.post(
        reverse("merchant_claim", args=[claim.pk]),
        {"response": "offer_partial", "statement": "可以退一半 half back", "offer_amount": "120"},
        **EN,
    )
    accepted = client.post(
        reverse("merchant_claim", args=[claim.pk]),
        {
            "response": "offer_partial",
            "statement": "可以退一半 half back",
            "offer_amount": "40",
            "confirmed": "1",
            "confirmed_amount": "40.00",
        },
        **EN,
    )

    assert "A partial refund must be more than ¥0" in refused.content.decode()
    assert accepted.status_code == 302
    claim.refresh_from_db()
    assert claim.merchant_offer_amount == Decimal("40")


def test_accept_refunds_the_buyer(client, alice, shop_a, make_claim):
    claim = make_claim(shop_a)
    client.force_login(alice)

    response = client.post(
        reverse("merchant_claim", args=[claim.pk]),
        {"response": "accept", "confirmed": "1", "confirmed_amount": str(claim.amount)},
    )

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == S.DECIDED
    assert claim.outcome == "refund_approved"


def test_more_counter_evidence_after_answering(client, alice, shop_a, make_claim, photo_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    claim = make_claim(shop_a)
    client.force_login(alice)
    _contest(client, claim)

    response = client.post(
        reverse("merchant_claim_evidence", args=[claim.pk]),
        {"files": [SimpleUploadedFile("box.jpg", photo_bytes(5), content_type="image/jpeg")]},
    )

    assert response.status_code == 302
    assert claim.evidence_files.filter(submitted_by="merchant").count() == 1


# --- languages -------------------------------------------------------------------------


def test_pages_default_to_simplified_chinese(client, alice, shop_a, make_claim, zh_catalogue):
    claim = make_claim(shop_a)
    RefundClaim.objects.filter(pk=claim.pk).update(
        merchant_deadline=timezone.now() + dt.timedelta(hours=31, minutes=5)
    )
    client.force_login(alice)

    inbox = client.get(reverse("merchant_inbox")).content.decode()
    page = client.get(reverse("merchant_claim", args=[claim.pk])).content.decode()

    assert '<html lang="zh-hans">' in inbox
    assert "还剩 31 小时" in inbox
    assert "待商家处理" in inbox or "等待商家" in inbox  # the status label
    assert "提交答复" in page or "您的答复" in page


def test_english_by_cookie_and_by_accept_language(client, alice, shop_a, make_claim, settings):
    make_claim(shop_a)
    client.force_login(alice)

    by_header = client.get(reverse("merchant_inbox"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    by_cookie = client.get(reverse("merchant_inbox")).content.decode()

    for html in (by_header, by_cookie):
        assert '<html lang="en">' in html
        assert "Refund-only claims against your shop" in html


def test_language_switcher_sets_the_cookie(client, alice, settings):
    client.force_login(alice)

    response = client.post(
        reverse("set_language"), {"language": "en", "next": reverse("merchant_inbox")}
    )

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
