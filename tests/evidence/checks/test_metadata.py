import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from evidence.checks.base import CheckContext, Severity
from evidence.checks.metadata import CameraMetadataCheck, parse_exif_datetime
from evidence.imaging import decode
from tests.evidence.images import (
    QUIET_CAMERA_FILES,
    camera_exif,
    jpeg_bytes,
    png_bytes,
    xmp_packet,
)

CHECK = CameraMetadataCheck()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def run(data: bytes, **context):
    return CHECK.run(decode(data), CheckContext(**context))


def codes(findings):
    return {f.code for f in findings}


def by_code(findings, code):
    return next(f for f in findings if f.code == code)


def order_times():
    shipped = dt.datetime(2025, 3, 10, 9, 0, tzinfo=SHANGHAI)
    delivered = dt.datetime(2025, 3, 12, 15, 0, tzinfo=SHANGHAI)
    return {"shipped_at": shipped, "delivered_at": delivered}


def test_camera_make_and_model_is_an_info_finding():
    findings = run(jpeg_bytes(exif=camera_exif(make="NIKON CORPORATION", model="NIKON D70")))

    camera = by_code(findings, "metadata_camera")
    assert camera.severity == Severity.INFO
    assert camera.params["camera"] == "NIKON D70"  # the make is not repeated
    assert camera.details == {"make": "NIKON CORPORATION", "model": "NIKON D70"}
    assert "metadata_no_camera" not in codes(findings)


def test_missing_camera_metadata_is_low_only():
    findings = run(jpeg_bytes())

    missing = by_code(findings, "metadata_no_camera")
    assert missing.severity == Severity.LOW
    assert CHECK.codes["metadata_no_camera"][0] <= 10


@pytest.mark.parametrize(
    ("software", "editor"),
    [
        ("Adobe Photoshop CC 2019 (Windows)", "Adobe Photoshop"),
        ("GIMP 2.10.34", "GIMP"),
        ("Meitu 9.8.1", "Meitu (美图)"),
        ("美图秀秀", "Meitu (美图)"),
        ("Snapseed 2.0", "Snapseed"),
        ("PicsArt", "PicsArt"),
        ("Adobe Lightroom 6.0", "Adobe Lightroom"),
        ("Canva", "Canva"),
    ],
)
def test_editor_software_is_medium(software, editor):
    exif = camera_exif()
    exif[0x0131] = software.encode("utf-8")  # apps write UTF-8 into the ASCII tag

    findings = run(jpeg_bytes(exif=exif))

    finding = by_code(findings, "metadata_editor_software")
    assert finding.severity == Severity.MEDIUM
    assert finding.params["editor"] == editor


def test_editor_in_xmp_creator_tool_is_found():
    xmp = xmp_packet(
        'xmp:CreatorTool="Adobe Fireworks CS4"|', {"xmp": "http://ns.adobe.com/xap/1.0/"}
    )

    findings = run(jpeg_bytes(xmp=xmp))

    assert by_code(findings, "metadata_editor_software").params["editor"] == "Adobe Fireworks"


def test_phone_firmware_software_is_not_an_editor():
    findings = run(jpeg_bytes(exif=camera_exif(software="HDR+ 1.0.540104767zd")))

    assert "metadata_editor_software" not in codes(findings)


def test_photo_taken_before_shipment_is_high():
    exif = camera_exif(taken="2025:03:01 12:00:00")

    findings = run(jpeg_bytes(exif=exif), **order_times())

    finding = by_code(findings, "metadata_taken_before_shipment")
    assert finding.severity == Severity.HIGH
    assert finding.params == {"taken": "2025-03-01 12:00", "moment": "2025-03-10 09:00"}
    assert finding.details["capture_time_had_offset"] is False
    json.dumps(finding.details)


def test_photo_taken_after_shipment_but_before_delivery_is_high():
    exif = camera_exif(taken="2025:03:11 20:00:00")

    findings = run(jpeg_bytes(exif=exif), **order_times())

    assert "metadata_taken_before_shipment" not in codes(findings)
    assert by_code(findings, "metadata_taken_before_delivery").severity == Severity.HIGH


def test_photo_taken_after_delivery_is_quiet():
    exif = camera_exif(taken="2025:03:13 08:00:00")

    findings = run(jpeg_bytes(exif=exif), **order_times())

    assert not codes(findings) & {
        "metadata_taken_before_shipment",
        "metadata_taken_before_delivery",
    }


def test_naive_exif_time_is_read_as_shanghai_time():
    # 16:00 Beijing time is 08:00 UTC, one hour *after* a 07:00 UTC delivery... minus slack
    delivered = dt.datetime(2025, 3, 12, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
    before = camera_exif(taken="2025:03:12 09:00:00")  # 01:00 UTC, 3 h before delivery
    after = camera_exif(taken="2025:03:12 13:00:00")  # 05:00 UTC, after delivery

    assert "metadata_taken_before_delivery" in codes(
        run(jpeg_bytes(exif=before), delivered_at=delivered)
    )
    assert "metadata_taken_before_delivery" not in codes(
        run(jpeg_bytes(exif=after), delivered_at=delivered)
    )


def test_offset_time_original_is_honoured():
    delivered = dt.datetime(2025, 3, 12, 12, 0, tzinfo=SHANGHAI)  # 04:00 UTC
    # 23:00 on the 11th at UTC-05:00 is 04:00 UTC on the 12th: the very moment of delivery
    exif = camera_exif(taken="2025:03:11 23:00:00", offset="-05:00")

    findings = run(jpeg_bytes(exif=exif), delivered_at=delivered)

    assert "metadata_taken_before_delivery" not in codes(findings)
    parsed, had_offset = parse_exif_datetime("2025:03:11 23:00:00", "-05:00")
    assert had_offset is True
    assert parsed == dt.datetime(2025, 3, 12, 4, 0, tzinfo=dt.UTC)


def test_capture_time_is_ignored_for_merchant_packing_photos():
    exif = camera_exif(taken="2025:03:01 12:00:00")

    findings = run(
        jpeg_bytes(exif=exif), submitted_by="merchant", attached_to="shipment", **order_times()
    )

    assert not codes(findings) & {
        "metadata_taken_before_shipment",
        "metadata_taken_before_delivery",
    }


def test_unset_camera_clock_is_not_read_as_before_shipment():
    exif = camera_exif(taken="2000:01:01 00:00:00")

    findings = run(jpeg_bytes(exif=exif), **order_times())

    assert "metadata_taken_before_shipment" not in codes(findings)


def test_gps_present_is_info_and_never_leaks_coordinates():
    findings = run(jpeg_bytes(exif=camera_exif(gps=True)))

    gps = by_code(findings, "metadata_gps_present")
    assert gps.severity == Severity.INFO
    assert gps.details == {"gps_present": True}
    assert gps.params == {}
    dumped = json.dumps([(f.message, f.params, f.details) for f in findings])
    for fragment in ("31", "121", "13.0", "42.5", "28.0", "11.25"):
        assert fragment not in dumped


@pytest.mark.parametrize("name", ["gps_DSCN0010.jpg", "gps_DSCN0021.jpg"])
def test_real_gps_photos_report_gps_without_coordinates(name):
    from tests.evidence.images import CAMERA

    image = decode((CAMERA / name).read_bytes())
    gps_ifd = image.exif.get_ifd(0x8825)
    latitude = gps_ifd[2]

    findings = CHECK.run(image, CheckContext())

    assert "metadata_gps_present" in codes(findings)
    dumped = json.dumps([(f.message, f.params, f.details) for f in findings], default=str)
    assert str(float(latitude[0])) not in dumped
    assert f"{float(latitude[1])}" not in dumped


def test_png_exif_is_read_without_decoding_pixels():
    findings = run(png_bytes(exif=camera_exif(make="Canon", model="Canon EOS R5")))

    assert by_code(findings, "metadata_camera").params["camera"] == "Canon EOS R5"


@pytest.mark.parametrize("path", QUIET_CAMERA_FILES, ids=lambda p: p.name)
def test_real_camera_photos_raise_nothing_high(path):
    findings = CHECK.run(decode(path.read_bytes()), CheckContext())

    assert all(f.severity not in (Severity.HIGH, Severity.CRITICAL) for f in findings)
    for finding in findings:
        json.dumps(finding.details)
        assert finding.message % finding.params
