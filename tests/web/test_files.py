"""Uploaded files are streamed only to who may see them, and merchants only get the
metadata-free display copy."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image


@pytest.fixture
def buyer_file(forged_claim):
    return forged_claim.evidence_files.get(submitted_by="buyer")


@pytest.fixture
def listing_photo(listing_product):
    return listing_product.photos.get()


@pytest.fixture
def artifact(forged_claim):
    from evidence.models import FindingArtifact

    return FindingArtifact.objects.filter(finding__claim=forged_claim, name="overlay").get()


def _display(file):
    return reverse("evidence:display", args=[file.uuid])


def test_merchant_gets_the_display_copy_of_its_claims_evidence(client, alice, buyer_file):
    client.force_login(alice)

    response = client.get(_display(buyer_file))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join(response.streaming_content)
    assert body == buyer_file.display.open("rb").read()
    assert body != buyer_file.original.open("rb").read()


def test_display_copy_carries_no_location_or_camera_data(
    client, alice, shop_a, make_order, django_capture_on_commit_callbacks
):
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit
    from testing import synthetic

    photo = synthetic.render_other_shot(7, 1)
    jpeg = synthetic.encode_jpeg(photo.image, exif=True, make="Xiaomi", model="Redmi K70")
    image = Image.open(io.BytesIO(jpeg))
    exif = image.getexif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (31.0, 12.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)})
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_submit(
            order=make_order(shop_a), amount=10, reason="damaged", actor=Actor.platform("t")
        )
        evidence = evidence_add(upload=out.getvalue(), submitted_by="buyer", claim=claim)
    evidence.refresh_from_db()
    client.force_login(alice)

    body = b"".join(client.get(_display(evidence)).streaming_content)

    assert b"Exif" in evidence.original.open("rb").read()
    assert Image.open(io.BytesIO(body)).getexif().get_ifd(0x8825) == {}
    assert b"Xiaomi" not in body


def test_merchant_never_gets_the_original(client, alice, buyer_file):
    client.force_login(alice)

    response = client.get(reverse("evidence:original", args=[buyer_file.uuid]))

    assert response.status_code == 404


def test_reviewer_downloads_the_original(client, charlie, buyer_file):
    client.force_login(charlie)

    response = client.get(reverse("evidence:original", args=[buyer_file.uuid]))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == buyer_file.original.open("rb").read()
    assert "private" in response["Cache-Control"]


def test_other_shop_gets_404_for_every_file(client, bob, buyer_file, listing_photo, artifact):
    client.force_login(bob)
    urls = [
        _display(buyer_file),
        _display(listing_photo),
        reverse("evidence:original", args=[buyer_file.uuid]),
        reverse("evidence:artifact", args=[artifact.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url


def test_anonymous_gets_no_file(client, buyer_file, listing_photo, artifact):
    urls = [
        _display(buyer_file),
        _display(listing_photo),
        reverse("evidence:original", args=[buyer_file.uuid]),
        reverse("evidence:artifact", args=[artifact.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_merchant_sees_own_listing_photo_and_artifacts(client, alice, listing_photo, artifact):
    client.force_login(alice)

    photo = client.get(_display(listing_photo))
    overlay = client.get(reverse("evidence:artifact", args=[artifact.pk]))

    assert photo.status_code == 200
    assert overlay.status_code == 200
    assert overlay["Content-Type"] == "image/png"
    assert "private" in overlay["Cache-Control"]
    assert overlay["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(b"".join(overlay.streaming_content))).width > 0


def test_reviewer_sees_any_claims_files(client, charlie, buyer_file, listing_photo, artifact):
    client.force_login(charlie)
    for url in (
        _display(buyer_file),
        _display(listing_photo),
        reverse("evidence:artifact", args=[artifact.pk]),
    ):
        assert client.get(url).status_code == 200, url


def test_unknown_file_is_404(client, alice):
    import uuid

    client.force_login(alice)

    assert client.get(reverse("evidence:display", args=[uuid.uuid4()])).status_code == 404
    assert client.get(reverse("evidence:artifact", args=[999999])).status_code == 404
