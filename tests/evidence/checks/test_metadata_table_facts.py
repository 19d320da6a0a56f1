"""What camera_metadata (version 2) records for the claim page's metadata table: the
lens and the capture time in the camera finding's details, and never a position."""

from __future__ import annotations

import json

import pytest

from evidence.checks.base import CheckContext
from evidence.checks.metadata import CameraMetadataCheck
from evidence.imaging import decode
from tests.conftest import TESTDATA


def _camera_finding(name: str):
    data = (TESTDATA / "camera" / name).read_bytes()
    findings = CameraMetadataCheck().run(decode(data), CheckContext())
    return next(f for f in findings if f.code in ("metadata_camera", "metadata_no_camera"))


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("Canon_40D.jpg", "2008-05-30 15:56"),  # naive EXIF time, read as Beijing time
        ("gps_DSCN0010.jpg", "2008-10-22 16:28"),
    ],
)
def test_the_camera_finding_carries_the_capture_time(name, taken):
    finding = _camera_finding(name)
    assert finding.details["taken"] == taken


@pytest.mark.parametrize("name", ["gps_DSCN0010.jpg", "gps_DSCN0021.jpg"])
def test_the_camera_finding_holds_no_position(name):
    finding = _camera_finding(name)

    assert set(finding.details) <= {"make", "model", "lens", "taken"}
    text = json.dumps([finding.params, finding.details])
    assert "43." not in text and "11.8" not in text and "WGS" not in text


def test_the_camera_finding_names_the_lens_and_an_aware_time_in_beijing_time():
    from tests.evidence.images import camera_exif, jpeg_bytes

    exif = camera_exif(taken="2025:03:12 08:30:00", offset="+01:00", gps=True)
    sub = exif.get_ifd(0x8769)
    sub[0xA433], sub[0xA434] = "Canon", "EF-S 18-55mm f/3.5-5.6 IS"

    findings = CameraMetadataCheck().run(decode(jpeg_bytes(exif=exif)), CheckContext())

    camera = next(f for f in findings if f.code == "metadata_camera")
    assert camera.details["lens"] == "Canon EF-S 18-55mm f/3.5-5.6 IS"
    assert camera.details["taken"] == "2025-03-12 15:30"
    assert set(camera.details) == {"make", "model", "lens", "taken"}
