"""The shipments and packing evidence pages: per order the shipment, its packing photos
and videos with their check status and the frames kept as references; and the reviewer
sees a matched packing frame beside the claim photo, with its time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from evidence.models import EvidenceFile
from testing import synthetic
from tests.evidence.videos import make_video

pytestmark = pytest.mark.django_db
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def scene():
    return synthetic.render_product_photo(202, size=(480, 360))


@pytest.fixture
def packing_mp4(scene):
    box = np.full_like(scene.image, 120)
    return SimpleUploadedFile(
        "packing.mp4", make_video([scene.image, box]), content_type="video/mp4"
    )


@pytest.fixture
def shipment(shop_a, make_order, listing_product):
    from merchants.services import shipment_create

    return shipment_create(
        order=make_order(shop_a, product=listing_product),
        carrier="SF",
        tracking_number="SF2000",
        shipped_at=timezone.now() - dt.timedelta(days=4),
    )


def _upload(client, shipment, files, capture):
    with capture(execute=True):
        return client.post(
            reverse("merchant_shipment_evidence", args=[shipment.pk]), {"files": files}, **EN
        )


def test_shipments_list_shows_the_shops_shipments(client, alice, shipment):
    client.force_login(alice)

    body = client.get(reverse("merchant_shipments"), **EN).content.decode()

    assert "SF2000" in body
    assert reverse("merchant_shipment", args=[shipment.pk]) in body


def test_a_packing_photo_and_video_in_one_upload_and_the_frames_kept(
    client, agnes, shipment, packing_mp4, upload, django_capture_on_commit_callbacks
):
    client.force_login(agnes)  # an agent packs parcels too

    response = _upload(
        client, shipment, [upload("tape.jpg", 3), packing_mp4], django_capture_on_commit_callbacks
    )

    assert response.status_code == 302
    video = EvidenceFile.objects.get(shipment=shipment, content_type="video/mp4")
    assert video.frames.count() == 2
    body = client.get(reverse("merchant_shipment", args=[shipment.pk]), **EN).content.decode()
    assert "Carrier" in body and "SF2000" in body
    assert "tape.jpg" in body and "packing.mp4" in body
    assert "Checked: frames kept as references" in body
    assert body.count("data-kept-frames") == 1
    for frame in video.frames.all():
        assert reverse("evidence:display", args=[frame.uuid]) in body


def test_a_refused_video_keeps_nothing_of_the_upload(
    client, alice, shipment, scene, upload, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    wrong = SimpleUploadedFile("old.mp4", make_video([scene.image], codec="mpeg4"), "video/mp4")

    response = _upload(
        client, shipment, [upload("tape.jpg", 3), wrong], django_capture_on_commit_callbacks
    )

    assert response.status_code == 400
    assert "old.mp4: The video is encoded as mpeg4" in response.content.decode()
    assert not EvidenceFile.objects.filter(shipment=shipment).exists()


def test_another_shops_shipment_is_404(client, bob, shipment, upload):
    client.force_login(bob)

    assert client.get(reverse("merchant_shipment", args=[shipment.pk])).status_code == 404
    response = client.post(
        reverse("merchant_shipment_evidence", args=[shipment.pk]), {"files": [upload("a.jpg")]}
    )
    assert response.status_code == 404
    assert "SF2000" not in client.get(reverse("merchant_shipments")).content.decode()
    assert not EvidenceFile.objects.filter(shipment=shipment).exists()


def test_the_reviewer_sees_the_matched_packing_frame_beside_the_claim_photo(
    client, alice, charlie, shipment, packing_mp4, scene, django_capture_on_commit_callbacks
):
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_merchant_respond, claim_submit

    client.force_login(alice)
    _upload(client, shipment, [packing_mp4], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_submit(
            order=shipment.order,
            amount=shipment.order.total_amount,
            reason="damaged",
            description="arrived broken",
            actor=Actor.platform("test"),
        )
        evidence_add(
            upload=synthetic.encode_jpeg(synthetic.paint_damage(scene, 31).image, quality=85),
            submitted_by="buyer",
            original_name="IMG_1.jpg",
            claim=claim,
        )
    claim.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        claim_merchant_respond(
            claim=claim,
            user=alice,
            response="contest",
            statement="我们打包时完好 intact when packed",
        )
    client.force_login(charlie)

    body = client.get(reverse("review_claim", args=[claim.pk]), **EN).content.decode()

    assert "data-packing-frames" in body
    assert "Filmed by the shop before shipment" in body
    assert "s of “packing.mp4”" in body  # the frame's time in the video


def test_the_shipments_list_has_a_pinned_query_count(
    client, alice, shop_a, make_order, django_assert_max_num_queries
):
    from merchants.services import shipment_create

    for n in range(8):
        shipment_create(
            order=make_order(shop_a),
            carrier="SF",
            tracking_number=f"SF9{n:03d}",
            shipped_at=timezone.now() - dt.timedelta(days=n),
        )
    client.force_login(alice)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("merchant_shipments"), **EN)

    assert response.content.decode().count("SF9") == 8
