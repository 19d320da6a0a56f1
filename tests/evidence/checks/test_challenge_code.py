"""The challenge code: drawn on a paper-like patch, photographed with perspective and
noise beside the item, read back by tesseract."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from evidence.checks.base import CheckContext
from evidence.checks.challenge_code import (
    ALPHABET,
    ChallengeCodeCheck,
    find_code,
    new_code,
)
from evidence.imaging import decode
from tests.evidence.images import camera_exif, jpeg_bytes, photo

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def challenge_photo(code: str, *, seed: int = 3) -> np.ndarray:
    """A photo of the item with a sheet of paper beside it on which ``code`` is written,
    seen at an angle, with uneven light and sensor noise."""
    rng = np.random.default_rng(seed)
    # the paper: off-white, a little texture, the code in dark ink
    font = ImageFont.truetype(FONT, 110)
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(
        (0, 0), code, font=font
    )
    width, height = right - left + 80, bottom - top + 100  # a margin of paper all round
    paper = Image.new("RGB", (width, height), (236, 232, 220))
    ImageDraw.Draw(paper).text((40 - left, 50 - top), code, font=font, fill=(30, 30, 45))
    sheet = np.asarray(paper).astype(np.float32)
    sheet += rng.normal(0, 4, sheet.shape)
    # photographed at an angle: the sheet's corners land on a trapezoid in the scene
    scene = photo(1280, 960, seed=seed).astype(np.float32)
    src = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    dst = np.float32([[600, 560], [1180, 520], [1210, 760], [620, 820]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(sheet, matrix, (1280, 960))
    mask = cv2.warpPerspective(np.ones((height, width), np.float32), matrix, (1280, 960))
    mask = mask[..., None]
    scene = scene * (1 - mask) + warped * mask
    # uneven light across the frame and noise
    y, x = np.mgrid[0:960, 0:1280].astype(np.float32)
    scene *= (0.85 + 0.15 * x / 1280)[..., None]
    scene += rng.normal(0, 6, scene.shape)
    return np.clip(scene, 0, 255).astype(np.uint8)


def context(code: str, issued: dt.datetime | None = None) -> CheckContext:
    return CheckContext(
        submitted_by="buyer", attached_to="claim", challenge_code=code, challenge_issued_at=issued
    )


def test_codes_use_only_the_unambiguous_alphabet():
    codes = {new_code() for _ in range(200)}
    assert len(codes) > 190
    assert all(len(c) == 6 and set(c) <= set(ALPHABET) for c in codes)
    assert not set("0O1IL2Z5S8B6G") & set(ALPHABET)


def test_find_code_allows_one_misread_character():
    assert find_code("note: K7HD3P ok", "K7HD3P") == ("K7HD3P", 0)
    assert find_code("K7H03P", "K7HD3P") == ("K7H03P", 0)  # a 0 may be a D
    assert find_code("DOFOHT", "D9F9HT") == ("DOFOHT", 0)  # an O may be a 9 (measured)
    assert find_code("TATMXX", "7A7MXX") == ("TATMXX", 0)  # 7 and T (measured)
    assert find_code("K7HO3P", "K7HA3P")[1] == 1  # but not an A
    assert find_code("K7HX3P", "K7HD3P")[1] == 1
    assert find_code("nothing here", "K7HD3P") is None


@pytest.mark.ocr
def test_tesseract_reads_the_code_photographed_at_an_angle():
    code = "K7HD3P"
    image = decode(jpeg_bytes(challenge_photo(code), quality=88))

    findings = ChallengeCodeCheck().run(image, context(code))

    read = [f for f in findings if f.code == "challenge_code_read"]
    assert read, [f.code for f in findings]
    assert read[0].params["code"] == code
    assert read[0].params["read"] == code


@pytest.mark.ocr
def test_a_photo_without_the_code_is_reported():
    image = decode(jpeg_bytes(photo(800, 600, seed=9)))
    findings = ChallengeCodeCheck().run(image, context("K7HD3P"))
    assert [f.code for f in findings] == ["challenge_code_not_found"]


@pytest.mark.ocr
def test_a_photo_taken_before_the_code_was_issued_is_reported():
    code = "WX4R9M"
    exif = camera_exif(taken="2026:03:01 10:00:00", offset="+08:00")
    image = decode(jpeg_bytes(challenge_photo(code, seed=5), exif=exif))
    issued = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    codes = [f.code for f in ChallengeCodeCheck().run(image, context(code, issued))]
    assert "challenge_photo_before_code" in codes


def test_the_check_runs_only_when_a_code_was_asked_for():
    image = decode(jpeg_bytes(photo()))
    assert not ChallengeCodeCheck().applies_to(image, CheckContext(submitted_by="buyer"))
    assert ChallengeCodeCheck().applies_to(image, context("K7HD3P"))
    merchant = CheckContext(submitted_by="merchant", challenge_code="K7HD3P")
    assert not ChallengeCodeCheck().applies_to(image, merchant)


@pytest.mark.ocr
@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_tesseract_reads_fresh_codes(seed):
    rng = np.random.default_rng(seed)
    code = "".join(rng.choice(list(ALPHABET), 6))
    image = decode(jpeg_bytes(challenge_photo(code, seed=seed)))
    findings = ChallengeCodeCheck().run(image, context(code))
    assert [f.code for f in findings] == ["challenge_code_read"], code
    assert findings[0].details["distance"] <= 1
