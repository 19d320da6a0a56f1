"""Localisation aids: a photo with a patch pasted in between two saves is reported, with
the patch boxed; genuine photos, once or twice saved, and real camera files are not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from evidence import imaging, verdicts
from evidence.checks import localisation
from evidence.checks.base import CheckContext
from testing import synthetic

CHECK = localisation.LocalisationCheck()
PATCH = (700, 300, 940, 480)  # x0, y0, x1, y1 in the 1200x900 photo


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _unjpeg(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _run(data: bytes):
    return {f.code: f for f in CHECK.run(imaging.decode(data), CheckContext())}


def _spliced() -> bytes:
    """A genuine shot saved at q65, a patch of another photo pasted in, saved at q92."""
    photo = _unjpeg(_jpeg(synthetic.render_other_shot(301, 1).image, 65))
    donor = synthetic.render_printed_shot(501, 2).image
    x0, y0, x1, y1 = PATCH
    photo[y0:y1, x0:x1] = donor[100 : 100 + y1 - y0, 200 : 200 + x1 - x0]
    return _jpeg(photo, 92)


def _overlaps(box, truth) -> bool:
    ix = max(0, min(box[2], truth[2]) - max(box[0], truth[0]))
    iy = max(0, min(box[3], truth[3]) - max(box[1], truth[1]))
    return ix * iy >= 0.3 * (truth[2] - truth[0]) * (truth[3] - truth[1])


def test_a_patch_pasted_between_two_saves_is_reported_and_boxed():
    findings = _run(_spliced())

    region = findings["localisation_inconsistent_region"]
    assert region.details["aid"] == "double_quantisation"
    assert _overlaps(region.details["boxes"][0], PATCH)
    assert verdicts.verdict_of_code(region.code, region.severity) == verdicts.INCONCLUSIVE
    heatmaps = {a.name for a in findings["localisation_heatmap"].artifacts}
    assert heatmaps == {"noise", "jpeg_grid", "double_quantisation"}


@pytest.mark.parametrize("quality", [75, 90])
def test_a_genuine_photo_saved_once_or_twice_is_quiet(quality):
    once = _jpeg(synthetic.render_other_shot(302, 4).image, quality)
    twice = _jpeg(_unjpeg(once), 80)

    for data in (once, twice):
        findings = _run(data)
        assert "localisation_inconsistent_region" not in findings
        assert findings["localisation_heatmap"].details["grid_assessed"] is True


@pytest.mark.parametrize("name", ["gps_DSCN0010.jpg", "gps_DSCN0021.jpg", "mobile_jolla.jpg"])
def test_real_camera_photos_are_quiet(testdata, name):
    findings = _run((testdata / "camera" / name).read_bytes())

    assert "localisation_inconsistent_region" not in findings
    assert "noise" in {a.name for a in findings["localisation_heatmap"].artifacts}


def test_a_large_photo_gets_the_noise_map_only():
    data = _jpeg(synthetic.render_other_shot(303, 5, size=(2400, 1800)).image, 90)

    heatmap = _run(data)["localisation_heatmap"]

    assert heatmap.details["grid_assessed"] is False
    assert [a.name for a in heatmap.artifacts] == ["noise"]


def test_a_tiny_picture_gets_nothing():
    assert _run(_jpeg(synthetic.render_other_shot(304, 6, size=(120, 90)).image, 90)) == {}
