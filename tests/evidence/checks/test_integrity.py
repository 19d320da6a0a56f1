import json

import pytest

from evidence.checks.base import CheckContext, Severity
from evidence.checks.integrity import FileIntegrityCheck
from evidence.containers import jpeg_structure, png_structure
from evidence.imaging import decode
from tests.evidence.images import (
    C2PA,
    CAMERA,
    QUIET_CAMERA_FILES,
    camera_exif,
    jpeg_bytes,
    photo,
    png_bytes,
    webp_bytes,
)

CHECK = FileIntegrityCheck()


def run(data: bytes, **context):
    return CHECK.run(decode(data), CheckContext(**context))


def codes(findings):
    return {f.code for f in findings}


def test_clean_photo_is_quiet():
    assert run(jpeg_bytes(photo(800, 600))) == []
    assert run(png_bytes(photo(800, 600))) == []
    assert run(webp_bytes(photo(800, 600))) == []


def test_jpeg_cut_short_decodes_and_is_reported_truncated():
    data = jpeg_bytes(photo(800, 600))
    cut = data[: len(data) * 2 // 3]

    image = decode(cut)
    findings = CHECK.run(image, CheckContext())

    assert "jpeg_truncated" in image.decode_warnings
    truncated = next(f for f in findings if f.code == "file_truncated")
    assert truncated.severity == Severity.MEDIUM


def test_jpeg_missing_only_its_eoi_marker_is_truncated():
    data = jpeg_bytes(photo(800, 600))

    assert "file_truncated" in codes(run(data[:-2]))
    assert jpeg_structure(data[:-2]).truncated
    assert not jpeg_structure(data).truncated


def test_jpeg_cut_after_the_first_byte_of_its_eoi_marker_is_truncated():
    data = jpeg_bytes(photo(800, 600))

    assert jpeg_structure(data[:-1]).truncated  # ends on a lone 0xFF
    assert "file_truncated" in codes(run(data[:-1]))


def test_blank_block_inside_picture_data_is_damage():
    # With restart markers (as cameras write them) the codec resynchronises after damage.
    data = bytearray(jpeg_bytes(photo(1200, 900, seed=3), quality=95, restart_marker_rows=1))
    start = len(data) // 3
    # an erased flash block, ending the way corrupted.jpg's does (0xFF then 0x9F)
    data[start : start + 4097] = b"\xff" * 4096 + b"\x9f"

    findings = run(bytes(data))

    damaged = next(f for f in findings if f.code == "file_damaged")
    assert damaged.details["damage"] == "ff_block"
    assert damaged.details["filler_bytes"] >= 4095  # the last 0xFF opens the bad marker
    assert damaged.details["offset"] == start
    json.dumps(damaged.details)


def test_zeroed_block_inside_picture_data_is_damage():
    data = bytearray(jpeg_bytes(photo(1200, 900, seed=4), quality=95, restart_marker_rows=1))
    start = len(data) // 2
    data[start : start + 8192] = bytes(8192)

    assert "file_damaged" in codes(run(bytes(data)))


def test_damage_the_codec_cannot_survive_is_a_clear_rejection():
    from evidence.imaging import ImageRejected

    data = bytearray(jpeg_bytes(photo(1200, 900, seed=3), quality=95))  # no restart markers
    start = len(data) // 3
    data[start : start + 4097] = b"\xff" * 4096 + b"\x9f"

    with pytest.raises(ImageRejected) as rejected:
        decode(bytes(data))
    assert rejected.value.code == "damaged"


def test_trailing_garbage_after_eoi_is_low():
    data = jpeg_bytes(photo(640, 480)) + b"PK\x03\x04" + bytes(range(256)) * 8

    finding = next(f for f in run(data) if f.code == "file_trailing_data")

    assert finding.severity == Severity.LOW
    assert finding.params["size"] == 4 + 256 * 8


def test_appended_preview_jpeg_is_not_trailing_garbage():
    data = jpeg_bytes(photo(640, 480)) + jpeg_bytes(photo(160, 120))

    assert "file_trailing_data" not in codes(run(data))


def test_png_with_bad_crc_is_damaged():
    data = bytearray(png_bytes(photo(400, 300)))
    idat = data.find(b"IDAT")
    data[idat + 40] ^= 0xFF

    assert png_structure(bytes(data)).damage == "bad_chunk_crc"


def test_png_trailing_data_is_reported():
    data = png_bytes(photo(400, 300)) + b"hidden payload" * 10

    assert "file_trailing_data" in codes(run(data))


def test_duplicate_file_lists_the_earlier_evidence():
    findings = run(jpeg_bytes(photo(640, 480)), duplicate_sha256_evidence_ids=[42, 7, 42])

    duplicate = next(f for f in findings if f.code == "file_duplicate")
    assert duplicate.severity == Severity.MEDIUM
    assert duplicate.details == {"evidence_ids": [7, 42]}
    assert duplicate.params == {"evidence_ids": "#7, #42"}
    assert duplicate.related_evidence_id == 7


def test_no_duplicate_without_matching_ids():
    assert "file_duplicate" not in codes(run(jpeg_bytes(photo(640, 480))))


def test_tiny_image_is_low():
    finding = next(f for f in run(jpeg_bytes(photo(120, 90))) if f.code == "file_tiny")

    assert finding.severity == Severity.LOW
    assert finding.params == {"width": 120, "height": 90}


def test_metadata_describing_another_size_is_reported():
    exif = camera_exif(pixel_size=(4000, 3000))

    finding = next(
        f
        for f in run(jpeg_bytes(photo(640, 480), exif=exif))
        if f.code == "file_metadata_size_mismatch"
    )

    assert finding.details == {"declared": [4000, 3000], "actual": [640, 480]}


def test_matching_metadata_size_is_quiet():
    exif = camera_exif(pixel_size=(640, 480))

    assert "file_metadata_size_mismatch" not in codes(run(jpeg_bytes(photo(640, 480), exif=exif)))


def test_corrupted_camera_file_reports_the_blank_block():
    # corrupted.jpg: a 16 KiB run of 0xFF (an erased flash block) replaces compressed
    # data at byte 212992; the codec stumbles on an invalid marker 0xFF9F at 229375.
    findings = run((CAMERA / "corrupted.jpg").read_bytes())

    damaged = next(f for f in findings if f.code == "file_damaged")
    assert damaged.details["damage"] == "ff_block"
    assert damaged.details["offset"] == 212992
    assert damaged.details["filler_bytes"] >= 16383
    assert any("0x9F" in note for note in damaged.details["notes"])
    assert "file_truncated" not in codes(findings)


def test_invalid_image_01137_is_a_resized_export():
    # No EXIF at all; its XMP (Adobe Fireworks CS4) still describes the 5454 x 3647
    # original, while the file holds an 88 x 64 thumbnail.
    findings = run((CAMERA / "invalid_image01137.jpg").read_bytes())

    mismatch = next(f for f in findings if f.code == "file_metadata_size_mismatch")
    assert mismatch.details == {"declared": [5454, 3647], "actual": [88, 64]}
    assert "file_tiny" in codes(findings)
    assert "file_damaged" not in codes(findings)


def test_invalid_image_02206_is_structurally_sound():
    # No EXIF, an XMP packet from Adobe Fireworks CS4, 65 x 65 pixels: tiny, not broken.
    findings = run((CAMERA / "invalid_image02206.jpg").read_bytes())

    assert codes(findings) == {"file_tiny"}


@pytest.mark.parametrize("path", QUIET_CAMERA_FILES, ids=lambda p: p.name)
def test_real_camera_photos_raise_nothing_high(path):
    findings = CHECK.run(decode(path.read_bytes()), CheckContext())

    assert all(f.severity not in (Severity.HIGH, Severity.CRITICAL) for f in findings)


@pytest.mark.parametrize(
    "name", ["C.jpg", "CA.jpg", "XCA.jpg", "cloud.jpg", "sample1.png", "sample1.webp"]
)
def test_c2pa_vectors_are_structurally_sound(name):
    findings = CHECK.run(decode((C2PA / name).read_bytes()), CheckContext())

    assert not codes(findings) & {"file_truncated", "file_damaged", "file_trailing_data"}
