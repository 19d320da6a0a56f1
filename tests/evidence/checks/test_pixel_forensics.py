import io

import cv2
import numpy as np
import pytest
from PIL import Image

from evidence.checks import pixel_forensics
from evidence.checks.base import CheckContext, Severity, palette_png
from evidence.checks.pixel_forensics import (
    ElaCheck,
    ExifThumbnailCheck,
    JpegCompressionCheck,
    double_compression_score,
    estimate_quality,
    exif_thumbnail,
)
from evidence.imaging import ImageRejected, decode
from testing import synthetic
from tests.evidence.checks.conftest_visual import TESTDATA, decoded, is_png

CHECKS = (ElaCheck(), JpegCompressionCheck(), ExifThumbnailCheck())
REAL_FILES = sorted(
    p
    for p in [*(TESTDATA / "camera").glob("*"), *(TESTDATA / "c2pa").glob("*")]
    if p.suffix.lower() in (".jpg", ".jpeg", ".heic", ".png", ".webp", ".avif")
)
GENUINE_PHOTOS = sorted(
    [
        *(TESTDATA / "camera").glob("*.jpg"),
        TESTDATA / "c2pa" / "A.jpg",
        TESTDATA / "c2pa" / "P1000827.jpg",
    ]
)


def run_all(image, context=None):
    context = context or CheckContext()
    return [
        f for check in CHECKS if check.applies_to(image, context) for f in check.run(image, context)
    ]


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_never_crashes_on_real_files(path):
    try:
        image = decode(path.read_bytes())
    except ImageRejected:
        return  # the integrity check's business: nothing to analyse
    findings = run_all(image)

    assert any(f.code == "ela_heatmap" for f in findings)


@pytest.mark.parametrize("path", GENUINE_PHOTOS, ids=lambda p: p.name)
def test_genuine_camera_photos_get_nothing_high(path):
    image = decode(path.read_bytes())  # every one of them decodes

    findings = run_all(image)

    assert all(f.severity in (Severity.INFO, Severity.LOW, Severity.MEDIUM) for f in findings)
    assert not [f for f in findings if f.severity == Severity.MEDIUM], [f.code for f in findings]


def test_ela_heatmap_is_an_info_aid_with_a_caveat():
    image = decoded(synthetic.render_product_photo(1).image)

    (finding,) = ElaCheck().run(image, CheckContext())

    assert finding.severity == Severity.INFO
    assert ElaCheck.codes["ela_heatmap"][0] == 0
    (artifact,) = finding.artifacts
    assert artifact.name == "ela" and is_png(artifact.png)
    assert "normal" in artifact.caption
    heatmap = cv2.imdecode(np.frombuffer(artifact.png, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.working.shape[:2]
    assert max(width, height) > pixel_forensics.ELA_HEATMAP_LONG_SIDE  # the case reduced
    factor = -(-max(width, height) // pixel_forensics.ELA_HEATMAP_LONG_SIDE)
    assert heatmap.shape == (-(-height // factor), -(-width // factor), 3)
    assert finding.details["size"] == [heatmap.shape[1], heatmap.shape[0]]


def test_ela_heatmap_keeps_a_one_pixel_bright_spot_as_bright():
    error = np.zeros((768, 1024), np.uint8)
    error[:, :] = 2
    error[301, 555] = 200  # odd coordinates: inside a 2x2 block, not at its corner

    levels, gain = pixel_forensics.ela_levels(error)

    assert levels.shape == (384, 512)
    assert levels[150, 277] == min(255, round(200 * gain))
    assert levels.max() == levels[150, 277]
    assert np.count_nonzero(levels == levels.max()) == 1


def test_ela_heatmap_is_an_indexed_png_of_the_inferno_colour_map():
    image = decoded(synthetic.render_product_photo(2).image)

    (finding,) = ElaCheck().run(image, CheckContext())

    png = finding.artifacts[0].png
    with Image.open(io.BytesIO(png)) as stored:
        assert stored.mode == "P"  # one byte per pixel to compress, not three
    levels, gain = pixel_forensics.ela_levels(pixel_forensics.error_level_map(image.working))
    assert finding.details["gain"] == round(gain, 2)
    expected = cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)
    assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), expected)
    assert len(png) < len(cv2.imencode(".png", expected)[1])


def test_palette_png_reads_back_as_the_palette_lookup():
    rng = np.random.default_rng(3)
    indices = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)  # BGR

    png = palette_png(indices, palette)

    assert is_png(png)
    decoded_bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded_bgr, palette[indices])


def test_ela_lights_up_a_pasted_uncompressed_patch():
    base = cv2.imdecode(
        cv2.imencode(
            ".jpg", synthetic.render_product_photo(2).image, [cv2.IMWRITE_JPEG_QUALITY, 90]
        )[1],
        cv2.IMREAD_COLOR,
    )
    edited = base.copy()
    rng = np.random.default_rng(0)
    edited[200:300, 200:300] = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)

    error = pixel_forensics.error_level_map(edited)

    assert error[200:300, 200:300].mean() > 5 * error[500:600, 600:700].mean() + 1


@pytest.mark.parametrize("quality", [50, 75, 90])
def test_quality_of_standard_tables_is_estimated_exactly(quality):
    data = synthetic.encode_jpeg(synthetic.render_product_photo(3).image, quality=quality)

    with Image.open(io.BytesIO(data)) as img:
        estimated, standard = estimate_quality(img.quantization)

    assert estimated == quality
    assert standard


def test_camera_exif_on_a_software_saved_jpeg_is_low():
    image = decoded(synthetic.render_product_photo(4).image, quality=85, exif=True, make="Canon")

    findings = {f.code: f for f in JpegCompressionCheck().run(image, CheckContext())}

    finding = findings["jpeg_resaved"]
    assert finding.severity == Severity.LOW
    assert finding.params["quality"] == 85
    assert finding.details["table_family"] == "ijg"


def test_no_camera_exif_no_resave_finding():
    image = decoded(synthetic.render_product_photo(4).image, quality=85)

    assert "jpeg_resaved" not in {f.code for f in JpegCompressionCheck().run(image, CheckContext())}


@pytest.mark.parametrize("seed", range(3))
def test_double_compression_is_detected_and_single_is_not(seed):
    photo = synthetic.render_product_photo(seed, size=(900, 700)).image
    first = cv2.imdecode(
        cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 65])[1], cv2.IMREAD_COLOR
    )
    once = decoded(photo, quality=90)
    twice = decoded(first, quality=90)

    once_codes = {f.code for f in JpegCompressionCheck().run(once, CheckContext())}
    twice_findings = {f.code: f for f in JpegCompressionCheck().run(twice, CheckContext())}

    assert "jpeg_double_compression" not in once_codes
    assert twice_findings["jpeg_double_compression"].severity == Severity.LOW
    assert double_compression_score(once.gray, list(once.pil.quantization[0]))[0] < 0.2


def test_large_photos_skip_double_compression_analysis():
    image = decoded(synthetic.render_product_photo(1, size=(2000, 1500)).image, quality=90)

    assert all(
        f.code != "jpeg_double_compression"
        for f in JpegCompressionCheck().run(image, CheckContext())
    )


def test_thumbnail_of_another_picture_is_a_medium_mismatch():
    photo = synthetic.render_product_photo(5).image
    other = synthetic.render_other_shot(9, 2).image
    image = decoded(photo, exif=True, thumbnail_of=other)

    (finding,) = ExifThumbnailCheck().run(image, CheckContext())

    assert finding.code == "exif_thumbnail_mismatch"
    assert finding.severity == Severity.MEDIUM
    assert finding.details["phash_distance"] >= 20
    assert finding.artifacts[0].name == "exif_thumbnail" and is_png(finding.artifacts[0].png)


def test_thumbnail_of_the_same_picture_is_fine():
    photo = synthetic.render_product_photo(5).image

    assert (
        ExifThumbnailCheck().run(decoded(photo, exif=True, thumbnail_of=photo), CheckContext())
        == []
    )


def test_thumbnail_is_compared_after_exif_orientation():
    stored = synthetic.render_product_photo(6, size=(1000, 750)).image  # sensor orientation
    image = decoded(stored, exif=True, thumbnail_of=stored, orientation=6)

    assert image.working.shape[0] > image.working.shape[1]  # shown rotated
    assert ExifThumbnailCheck().run(image, CheckContext()) == []


def test_letterboxed_thumbnail_is_not_a_mismatch():
    photo = synthetic.render_product_photo(7, size=(1200, 800)).image  # 3:2
    preview = np.zeros((120, 160, 3), np.uint8)  # 4:3 with black bars, as cameras do
    preview[7:113] = cv2.resize(photo, (160, 106), interpolation=cv2.INTER_AREA)
    thumb = cv2.imencode(".jpg", preview)[1].tobytes()
    data = synthetic.encode_jpeg(photo, exif=synthetic.camera_exif(thumbnail=thumb))

    assert ExifThumbnailCheck().run(decode(data), CheckContext()) == []


def test_exif_thumbnail_is_read_from_the_app1_segment():
    photo = synthetic.render_product_photo(8).image
    data = synthetic.encode_jpeg(photo, exif=True, thumbnail_of=photo)

    with Image.open(io.BytesIO(data)) as img:
        thumb = exif_thumbnail(data, img.getexif())

    assert thumb is not None and thumb[:2] == b"\xff\xd8" and thumb[-2:] == b"\xff\xd9"
    assert exif_thumbnail(synthetic.encode_jpeg(photo), Image.Exif()) is None
