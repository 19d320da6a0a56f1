"""Packing videos: accepted or refused from their bytes, sampled into reference frames in
the worker, and matched by a claim photo exactly like a listing photo."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pytest
from django.utils import timezone

from evidence import video
from evidence.models import EvidenceFile
from testing import synthetic
from tests.evidence.videos import make_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def packing_scene():
    """What the camera sees while packing: the product on the table."""
    return synthetic.render_product_photo(202, size=(480, 360))


@pytest.fixture
def packing_video(packing_scene) -> bytes:
    """Three seconds: the item, a cut to the open box (a scene change), the item again."""
    box = np.full_like(packing_scene.image, 120)
    box[60:300, 80:400] = (40, 90, 160)
    return make_video([packing_scene.image, box, packing_scene.image])


@pytest.fixture
def shipment(shop_a, make_order, media_in_tmp, listing_product):
    from merchants.services import shipment_create

    order = make_order(shop_a, product=listing_product)
    return shipment_create(
        order=order,
        carrier="SF",
        tracking_number="SF1000",
        shipped_at=timezone.now() - dt.timedelta(days=4),
    )


# --- accept / refuse ------------------------------------------------------------------------


def test_an_mp4_video_is_probed_from_its_bytes(packing_video):
    info = video.probe(packing_video)

    assert (info.container, info.codec) == ("mp4", "h264")
    assert (info.width, info.height) == (480, 360)
    assert 2.5 <= info.duration <= 3.5


def test_a_webm_vp9_video_is_accepted(packing_scene):
    data = make_video([packing_scene.image], codec="libvpx-vp9", container="webm")

    info = video.probe(data)

    assert (info.content_type, info.codec) == ("video/webm", "vp9")


def test_a_video_over_the_duration_limit_is_refused_with_its_length(packing_video, monkeypatch):
    from django.utils import translation

    monkeypatch.setattr(video, "MAX_DURATION_SECONDS", 2)

    with translation.override("en"), pytest.raises(video.VideoRejected) as refused:
        video.probe(packing_video)

    assert refused.value.code == "video_too_long"
    assert "3 seconds" in refused.value.message and "2 seconds" in refused.value.message


def test_a_codec_outside_the_list_is_refused_by_name(packing_scene):
    data = make_video([packing_scene.image], codec="mpeg4")

    with pytest.raises(video.VideoRejected) as refused:
        video.probe(data)

    assert refused.value.code == "unsupported_codec"
    assert "mpeg4" in refused.value.message


def test_bytes_that_only_look_like_an_mp4_are_refused_as_undecodable():
    with pytest.raises(video.VideoRejected) as refused:
        video.probe(b"\0\0\0\x18ftypisom" + b"\x00garbage" * 200)

    assert refused.value.code == "undecodable"


def test_a_shipment_refuses_a_file_that_is_neither_photo_nor_video(shipment, alice):
    from evidence.services import BatchRejected
    from merchants.services import shipment_evidence_add

    with pytest.raises(BatchRejected) as refused:
        shipment_evidence_add(shipment=shipment, uploads=[(b"hello, world", "notes.txt")], by=alice)

    assert refused.value.refusals[0].code == "unsupported_type"
    assert not EvidenceFile.objects.filter(shipment=shipment).exists()


def test_a_video_is_refused_for_a_product(listing_product, alice, packing_video):
    from evidence.services import BatchRejected
    from merchants.services import product_photos_add

    with pytest.raises(BatchRejected) as refused:
        product_photos_add(product=listing_product, uploads=[(packing_video, "pack.mp4")], by=alice)

    assert refused.value.refusals[0].code == "unsupported_type"


# --- frames -----------------------------------------------------------------------------------


def test_frames_are_cut_at_scene_changes_and_the_sharpest_kept(packing_video):
    frames = video.sample_frames(packing_video)

    times = [f.time for f in frames]
    assert times == sorted(times)
    # One per scene: the item, the box, the item again (each one second long).
    assert len(frames) == 3
    assert [int(t) for t in times] == [0, 1, 2]
    assert all(f.jpeg[:3] == b"\xff\xd8\xff" for f in frames)


def test_a_long_still_shot_is_split_into_segments(packing_scene):
    data = make_video([packing_scene.image], seconds_per_scene=5.0, fps=5)

    frames = video.sample_frames(data, max_segment=2.0)

    assert len(frames) == 3  # 0–2 s, 2–4 s, 4–5 s


def _upload_video(shipment, user, data, django_capture_on_commit_callbacks):
    from merchants.services import shipment_evidence_add

    with django_capture_on_commit_callbacks(execute=True):
        result = shipment_evidence_add(shipment=shipment, uploads=[(data, "packing.mp4")], by=user)
    return EvidenceFile.objects.get(pk=result.added[0].pk)


def test_a_packing_video_becomes_reference_frames_kept_with_the_original(
    shipment, alice, packing_video, django_capture_on_commit_callbacks
):
    from evidence.selectors import reference_files_for_order

    stored = _upload_video(shipment, alice, packing_video, django_capture_on_commit_callbacks)

    assert stored.status == EvidenceFile.Status.CHECKED
    assert stored.content_type == "video/mp4" and stored.features is None
    assert stored.sha256 == hashlib.sha256(packing_video).hexdigest()
    with stored.original.open("rb") as handle:
        assert handle.read() == packing_video  # byte for byte
    assert stored.display  # a metadata-free poster frame for the pages
    frames = list(stored.frames.order_by("frame_time"))
    assert len(frames) == 3
    assert all(f.status == EvidenceFile.Status.CHECKED and f.features for f in frames)
    assert all(f.shipment_id == shipment.pk and f.content_type == "image/jpeg" for f in frames)
    assert frames[0].original_name.startswith("packing.mp4 @ 00:0")
    references = set(reference_files_for_order(order=shipment.order).values_list("pk", flat=True))
    assert {f.pk for f in frames} <= references
    assert stored.pk not in references


def test_running_the_video_task_twice_keeps_one_set_of_frames(
    shipment, alice, packing_video, django_capture_on_commit_callbacks
):
    from evidence.tasks import packing_video_task

    stored = _upload_video(shipment, alice, packing_video, django_capture_on_commit_callbacks)

    assert packing_video_task.apply(args=[stored.pk]).get() == "already settled"
    assert stored.frames.count() == 3


def test_a_claim_photo_matching_a_packing_frame_minus_the_damage_is_found(
    shipment, alice, packing_video, packing_scene, django_capture_on_commit_callbacks
):
    from evidence.models import Finding
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit

    stored = _upload_video(shipment, alice, packing_video, django_capture_on_commit_callbacks)
    forged = synthetic.paint_damage(packing_scene, 31)
    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_submit(
            order=shipment.order,
            amount=shipment.order.total_amount,
            reason="damaged",
            description="arrived broken",
            actor=Actor.platform("test"),
        )
        evidence_add(
            upload=synthetic.encode_jpeg(forged.image, quality=85),
            submitted_by="buyer",
            original_name="IMG_1.jpg",
            claim=claim,
        )

    matched = Finding.objects.filter(claim=claim, code__startswith="reference_").exclude(
        code="reference_match_inconclusive"
    )
    frame_ids = set(stored.frames.values_list("pk", flat=True))
    assert {f.related_evidence_id for f in matched} & frame_ids
