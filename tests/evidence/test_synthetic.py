import datetime as dt
import io

import numpy as np
import pytest
from PIL import ExifTags, Image

from evidence.checks.pixel_forensics import exif_thumbnail
from testing import synthetic


def test_rendering_is_deterministic_per_seed():
    first = synthetic.render_product_photo(5)
    again = synthetic.render_product_photo(5)
    other = synthetic.render_product_photo(6)

    assert np.array_equal(first.image, again.image)
    assert first.product_box == again.product_box
    assert not np.array_equal(first.image, other.image)
    assert np.array_equal(
        synthetic.render_other_shot(5, 1).image, synthetic.render_other_shot(5, 1).image
    )


@pytest.mark.parametrize("kind", synthetic.PRODUCT_KINDS)
def test_product_photo_has_the_requested_product_inside_the_frame(kind):
    photo = synthetic.render_product_photo(1, size=(800, 600), kind=kind)
    x0, y0, x1, y1 = photo.product_box

    assert photo.image.shape == (600, 800, 3)
    assert photo.kind == kind
    assert 0 <= x0 < x1 <= 800 and 0 <= y0 < y1 <= 600
    inside = photo.image[y0:y1, x0:x1].std()
    assert inside > 20  # a textured product, not an empty frame


def test_other_shot_shows_the_same_product_differently():
    listing = synthetic.render_product_photo(2)
    shot = synthetic.render_other_shot(2, 0)

    assert shot.kind == listing.kind
    assert shot.image.shape == listing.image.shape
    assert np.abs(shot.image.astype(int) - listing.image.astype(int)).mean() > 20


@pytest.mark.parametrize("kind", synthetic.DAMAGE_KINDS)
def test_damage_is_visible_only_inside_its_box(kind):
    listing = synthetic.render_product_photo(4)

    forgery = synthetic.paint_damage(listing, 4, kind=kind)

    x0, y0, x1, y1 = forgery.damage_box
    change = np.abs(forgery.image.astype(int) - listing.image.astype(int)).max(axis=2)
    assert forgery.kind == kind
    assert (change[y0:y1, x0:x1] > 40).sum() > 50
    change[y0:y1, x0:x1] = 0
    assert change.max() <= 21  # only the faint anti-aliased fringe (alpha < 0.08) is outside
    px0, py0, px1, py1 = listing.product_box
    assert px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1


def test_degrade_carries_the_box_through_crop_and_resize():
    image = np.zeros((400, 600, 3), np.uint8)

    out, box = synthetic.degrade(image, (100, 100, 200, 150), crop=(0.1, 0.25, 0, 0), scale=0.5)

    assert out.shape == (150, 270, 3)
    assert box == (20, 0, 70, 25)


def test_degrade_applies_colour_jitter_and_jpeg():
    image = np.full((64, 64, 3), 100, np.uint8)

    brighter, _ = synthetic.degrade(image, brightness=0.1)
    recompressed, _ = synthetic.degrade(synthetic.render_product_photo(1).image, jpeg_quality=60)

    assert int(brighter[0, 0, 0]) == 110
    assert recompressed.shape == (900, 1200, 3)


def test_jpeg_with_camera_exif_and_thumbnail_reads_back():
    photo = synthetic.render_product_photo(7).image
    taken = dt.datetime(2025, 11, 2, 9, 30, 0, tzinfo=dt.UTC)

    data = synthetic.encode_jpeg(
        photo, exif=True, thumbnail_of=photo, make="Xiaomi", model="Redmi Note 12", taken_at=taken
    )

    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        assert exif[0x010F] == "Xiaomi"
        assert exif[0x0110] == "Redmi Note 12"
        assert exif.get_ifd(ExifTags.IFD.Exif)[0x9003] == "2025:11:02 09:30:00"
        thumb = exif_thumbnail(data, exif)
    assert thumb is not None
    with Image.open(io.BytesIO(thumb)) as preview:
        assert max(preview.size) == 160


def test_jpeg_without_exif_has_none():
    data = synthetic.encode_jpeg(synthetic.render_product_photo(7).image)

    with Image.open(io.BytesIO(data)) as img:
        assert len(img.getexif()) == 0
