"""The merchant's claim page: a compare control for every buyer photo that matched one of
the shop's photos, a metadata table per photo that never shows a position, the
buyer-history line, the AI-made flag, the confirmation step of a money answer and the
appeal of the shop's own acceptance."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from django.urls import reverse

from refunds.models import AuditEvent, ClaimStatus
from tests.conftest import TESTDATA

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
GPS_PHOTOS = ("gps_DSCN0010.jpg", "gps_DSCN0021.jpg")


def _claim_with_photos(order, uploads, capture, amount=Decimal("199.00")):
    """A claim on ``order`` with the buyer's ``(name, bytes)`` photos, checked."""
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit

    with capture(execute=True):
        claim = claim_submit(
            order=order,
            amount=amount,
            reason="damaged",
            description="杯子到货有裂痕 Arrived cracked",
            actor=Actor.platform("test"),
        )
        for name, data in uploads:
            evidence_add(upload=data, submitted_by="buyer", original_name=name, claim=claim)
    claim.refresh_from_db()
    return claim


@pytest.fixture
def many_photo_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks):
    """A claim of shop A with four buyer photos: two edited copies of the listing photo
    (one flipped), and the two GPS-tagged camera photos of the shared test data."""
    from testing import synthetic

    listing = synthetic.render_product_photo(101)
    cracked = synthetic.paint_damage(listing, 707).image
    flipped, _ = synthetic.degrade(synthetic.paint_damage(listing, 11).image, mirror=True)
    uploads = [
        ("IMG_1.jpg", synthetic.encode_jpeg(cracked, quality=85)),
        ("IMG_2.jpg", synthetic.encode_jpeg(flipped, quality=85)),
        *((name, (TESTDATA / "camera" / name).read_bytes()) for name in GPS_PHOTOS),
    ]
    order = make_order(shop_a, product=listing_product, total=Decimal("199.00"))
    claim = _claim_with_photos(order, uploads, django_capture_on_commit_callbacks)
    assert claim.status == ClaimStatus.AWAITING_MERCHANT
    return claim


def _page(client, claim, headers=EN) -> str:
    response = client.get(reverse("merchant_claim", args=[claim.pk]), **headers)
    assert response.status_code == 200
    return response.content.decode()


# --- the compare control ------------------------------------------------------------------


def test_every_matched_photo_has_a_compare_control_with_its_aligned_reference(
    client, alice, bob, many_photo_claim
):
    from evidence.models import FindingArtifact

    client.force_login(alice)
    html = _page(client, many_photo_claim)

    # one panel per buyer photo, and a control beside each of the two copies
    assert html.count("data-photo-panel=") == 4
    controls = re.findall(r'<div class="compare-control" data-compare', html)
    assert len(controls) == 2
    aligned = FindingArtifact.objects.filter(
        name="aligned_reference", finding__claim=many_photo_claim
    )
    assert aligned.count() == 2
    for artifact in aligned:
        url = reverse("evidence:artifact", args=[artifact.pk])
        assert f'src="{url}"' in html
        assert client.get(url).status_code == 200
    # the toggle works without the script: two radio buttons per control
    assert html.count('class="compare-pick" type="radio"') == 4
    assert "flipped left to right" in html
    assert '<script src="/static/js/compare.js" defer></script>' in html
    # served only to the shop: another merchant gets 404 for the aligned picture
    client.force_login(bob)
    assert client.get(reverse("evidence:artifact", args=[aligned[0].pk])).status_code == 404


def test_the_aligned_reference_is_not_repeated_among_the_pictures_of_what_differs(
    client, alice, forged_claim
):
    client.force_login(alice)
    html = _page(client, forged_claim)
    assert html.count('data-artifact="aligned_reference"') == 1  # the compare control's


# --- the metadata table -------------------------------------------------------------------


def _coordinates(name: str) -> list[str]:
    """Every way the photo's GPS position could be written on a page."""
    from PIL import Image

    gps = Image.open(TESTDATA / "camera" / name).getexif().get_ifd(0x8825)
    forms = []
    for tag in (2, 4):
        degrees, minutes, seconds = (float(Fraction(str(v))) for v in gps[tag])
        decimal = degrees + minutes / 60 + seconds / 3600
        forms += [f"{decimal:.4f}", f"{decimal:.3f}", f"{seconds:.2f}", f"{seconds:.3f}"]
        forms += [f"{int(degrees)}°", f"{int(degrees)}&deg;", f"{int(degrees)}, {int(minutes)}"]
    return forms


@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh-hans"])
def test_the_metadata_table_shows_the_camera_and_never_the_position(
    client, alice, many_photo_claim, headers, zh_catalogue
):
    client.force_login(alice)
    html = _page(client, many_photo_claim, headers)

    assert html.count('<table class="metadata-table">') == 4
    assert "COOLPIX P6000" in html
    assert "2008-10-23 00:28" in html or "2008-10-22 16:28" in html  # the time taken
    for name in GPS_PHOTOS:
        for written in _coordinates(name):
            assert written not in html, (name, written)
    assert "WGS-84" not in html
    if headers is EN:
        assert "kept private, never shown" in html
        assert "Lens" in html and "Editing software" in html and "AI labels" in html


def test_no_merchant_page_of_the_claim_shows_the_position(client, alice, many_photo_claim):
    """The claim page, its confirmation step and the pages after each action."""
    client.force_login(alice)
    url = reverse("merchant_claim", args=[many_photo_claim.pk])
    pages = [
        client.get(url, **EN),
        client.post(url, {"response": "accept"}, **EN),
        client.post(
            reverse("merchant_claim_ai_suspect", args=[many_photo_claim.pk]), follow=True, **EN
        ),
        client.get(reverse("merchant_inbox"), **EN),
    ]
    forbidden = [w for name in GPS_PHOTOS for w in _coordinates(name)]
    for response in pages:
        assert response.status_code == 200
        body = response.content.decode()
        assert not [w for w in forbidden if w in body]
        assert "13800000000" not in body and "浦东新区" not in body  # phone, address


def test_metadata_rows_read_the_findings(
    client, alice, shop_a, listing_product, make_order, django_capture_on_commit_callbacks
):
    """Canon_40D carries a camera and a capture time; the table says them in words."""
    order = make_order(shop_a, product=listing_product)
    photo = (TESTDATA / "camera" / "Canon_40D.jpg").read_bytes()
    claim = _claim_with_photos(
        order, [("c.jpg", photo)], django_capture_on_commit_callbacks, amount=Decimal("50")
    )
    client.force_login(alice)
    html = _page(client, claim)

    table = html[html.index('<table class="metadata-table">') :]
    table = table[: table.index("</table>")]
    assert re.search(r"Camera</th><td>Canon EOS 40D</td>", table)
    assert re.search(r"Taken on \(Beijing time\)</th><td>2008-05-3\d \d\d:\d\d</td>", table)
    assert "Location" not in table  # no position in this file: no row about one


# --- buyer history ------------------------------------------------------------------------


def test_the_buyer_history_line_gives_figures_and_no_other_shop(
    client, alice, shop_a, shop_b, make_claim, contest_and_decide, bob, charlie
):
    from refunds.models import RefundClaim

    # given: the same buyer had a claim against shop B, decided as forged
    other = make_claim(shop_b, amount=Decimal("88.00"))
    contest_and_decide(other, bob, charlie)
    RefundClaim.objects.filter(pk=other.pk).update(description="B 店的秘密 secret of shop B")
    claim = make_claim(shop_a)

    client.force_login(alice)
    html = _page(client, claim)

    line = re.search(r"data-buyer-history>(.*?)</dd>", html, re.S).group(1)
    assert "2 claims in 90 days" in line and "2 in 365 days" in line
    assert "refund-only claims on 100% of orders" in line
    assert "1 confirmed forgery" in line
    assert shop_b.name not in html and "secret of shop B" not in html and "88.00" not in html


# --- the AI-made flag ---------------------------------------------------------------------


def test_the_flag_is_one_click_and_shows_on_both_pages(client, alice, charlie, forged_claim):
    from refunds import services

    client.force_login(alice)
    assert "data-flag-ai" in _page(client, forged_claim)

    response = client.post(
        reverse("merchant_claim_ai_suspect", args=[forged_claim.pk]),
        {"note": "标签文字是乱码 garbled label"},
        **EN,
    )

    assert response.status_code == 302
    html = _page(client, forged_claim)
    assert "data-flag-ai" not in html and "data-ai-suspect" in html
    assert "garbled label" in html
    assert "The merchant flagged the buyer&#x27;s photo as possibly AI-made" in html
    # the reviewer sees it on the review page
    services.claim_merchant_respond(
        claim=forged_claim, user=alice, response="contest", statement="AI 生成的图片 generated"
    )
    client.force_login(charlie)
    review = client.get(reverse("review_claim", args=[forged_claim.pk]), **EN).content.decode()
    assert "data-ai-suspect" in review and "garbled label" in review


def test_another_shop_gets_404_for_the_flag_and_nothing_is_written(client, bob, forged_claim):
    client.force_login(bob)
    before = AuditEvent.objects.count()

    response = client.post(reverse("merchant_claim_ai_suspect", args=[forged_claim.pk]))

    assert response.status_code == 404
    assert AuditEvent.objects.count() == before
    forged_claim.refresh_from_db()
    assert forged_claim.ai_suspected_at is None


def test_the_flag_url_answers_only_post(client, alice, forged_claim):
    client.force_login(alice)
    assert (
        client.get(reverse("merchant_claim_ai_suspect", args=[forged_claim.pk])).status_code == 405
    )


# --- money answers are confirmed ----------------------------------------------------------


def test_accepting_asks_for_a_confirmation_that_states_the_amount(client, alice, forged_claim):
    client.force_login(alice)
    url = reverse("merchant_claim", args=[forged_claim.pk])
    before = AuditEvent.objects.filter(claim=forged_claim).count()

    # when: she picks "accept" and sends the form
    step = client.post(url, {"response": "accept"}, **EN)

    # then: nothing happened yet; the page says what it will pay
    assert step.status_code == 200
    body = step.content.decode()
    assert "data-confirm-step" in body
    assert "the buyer is refunded <strong>¥199.00</strong> now" in body
    assert 'name="confirmed_amount" value="199.00"' in body
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.AWAITING_MERCHANT
    assert AuditEvent.objects.filter(claim=forged_claim).count() == before

    # when: she confirms
    done = client.post(
        url, {"response": "accept", "confirmed": "1", "confirmed_amount": "199.00"}, **EN
    )

    # then
    assert done.status_code == 302
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.DECIDED


def test_a_partial_offer_is_confirmed_with_its_own_amount(client, alice, forged_claim):
    client.force_login(alice)
    url = reverse("merchant_claim", args=[forged_claim.pk])
    offer = {"response": "offer_partial", "statement": "可以退一半 half back", "offer_amount": "60"}

    step = client.post(url, offer, **ZH)
    stale = client.post(url, {**offer, "confirmed": "1", "confirmed_amount": "50.00"}, **EN)

    assert "¥60.00" in step.content.decode() and "data-confirm-step" in step.content.decode()
    assert "The amount changed since you confirmed it" in stale.content.decode()
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.AWAITING_MERCHANT
    done = client.post(url, {**offer, "confirmed": "1", "confirmed_amount": "60.00"})
    assert done.status_code == 302
    forged_claim.refresh_from_db()
    assert forged_claim.merchant_offer_amount == Decimal("60.00")


def test_a_return_offer_states_the_full_amount(client, alice, forged_claim):
    client.force_login(alice)
    step = client.post(
        reverse("merchant_claim", args=[forged_claim.pk]),
        {"response": "offer_return", "statement": "请退货后退款 return first"},
        **EN,
    )
    assert "the buyer is refunded <strong>¥199.00</strong>" in step.content.decode()


def test_another_shop_cannot_reach_the_confirmation(client, bob, forged_claim):
    client.force_login(bob)
    response = client.post(
        reverse("merchant_claim", args=[forged_claim.pk]),
        {"response": "accept", "confirmed": "1", "confirmed_amount": "199.00"},
    )
    assert response.status_code == 404
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.AWAITING_MERCHANT


# --- the shop's appeal of its own acceptance ------------------------------------------------


def test_the_shop_can_take_back_its_acceptance_from_the_page(client, alice, forged_claim):
    client.force_login(alice)
    url = reverse("merchant_claim", args=[forged_claim.pk])
    client.post(url, {"response": "accept", "confirmed": "1", "confirmed_amount": "199.00"})

    html = _page(client, forged_claim)
    assert "Take back your acceptance: ask a reviewer to decide" in html
    response = client.post(
        reverse("merchant_claim_appeal", args=[forged_claim.pk]),
        {"reason": "点错了 I clicked the wrong answer"},
    )

    assert response.status_code == 302
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.APPEALED


# --- cost -----------------------------------------------------------------------------------


def test_claim_page_query_count_does_not_grow_with_photos(
    client, alice, many_photo_claim, forged_claim, django_assert_max_num_queries
):
    client.force_login(alice)
    _page(client, forged_claim)  # warm the per-process caches (scoring thresholds)
    # 22: the photos' current verdicts (one prefetch) and the evidence requests (one).
    with django_assert_max_num_queries(22) as one_photo:
        _page(client, forged_claim)
    with django_assert_max_num_queries(22) as four_photos:
        _page(client, many_photo_claim)
    assert len(four_photos.captured_queries) == len(one_photo.captured_queries)
