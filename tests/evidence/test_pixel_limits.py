"""Pictures over the pixel budget are refused as ``too_many_pixels`` with their size, from
the header alone, whatever Pillow's own decompression-bomb limits (89 MP warns, 178 MP
raises) would have said: at upload time (``evidence_add``) and when decoding."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.utils import translation
from PIL import Image

from evidence import imaging
from evidence.imaging import MAX_PIXELS, ImageRejected, decode
from evidence.services import EvidenceRejected, _validate_image_header
from tests.evidence.images import photo, png_bytes

# Just over the budget (below Pillow's warning), past the warning (89 MP) and past its
# error (178 MP), and far past it.
OVERSIZED = [
    (int(MAX_PIXELS**0.5) + 10, int(MAX_PIXELS**0.5) + 10),
    (10_000, 10_000),
    (14_000, 14_000),
    (20_000, 20_000),
    (65_000, 65_000),
]


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real 16 x 16 JPEG whose frame header (SOF0) is rewritten to claim another size."""
    out = io.BytesIO()
    Image.fromarray(photo(16, 16)).save(out, "JPEG", quality=80)
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


@pytest.mark.parametrize(("width", "height"), OVERSIZED)
@pytest.mark.parametrize("make", [png_declaring, jpeg_declaring])
def test_upload_over_the_pixel_budget_is_too_many_pixels(make, width, height):
    with pytest.raises(EvidenceRejected) as rejected:
        _validate_image_header(make(width, height))

    assert rejected.value.code == "too_many_pixels"
    assert f"{width} × {height}" in rejected.value.message


@pytest.mark.parametrize(("width", "height"), OVERSIZED)
@pytest.mark.parametrize("make", [png_declaring, jpeg_declaring])
def test_decode_over_the_pixel_budget_is_too_many_pixels(make, width, height):
    with pytest.raises(ImageRejected) as rejected:
        decode(make(width, height))

    assert rejected.value.code == "too_many_pixels"
    assert rejected.value.params["width"] == width
    assert rejected.value.params["height"] == height


def test_the_refusal_is_translated():
    with translation.override("zh-hans"), pytest.raises(EvidenceRejected) as rejected:
        _validate_image_header(png_declaring(20_000, 20_000))

    assert "20000 × 20000" in rejected.value.message
    assert "像素" in rejected.value.message


def test_a_picture_within_the_budget_still_opens():
    data = png_bytes(photo(120, 80))

    assert _validate_image_header(data) == ("PNG", 120, 80)
    decoded = decode(data)
    assert (decoded.width, decoded.height) == (120, 80)


def test_the_size_check_leaves_pillows_limit_alone():
    before = Image.MAX_IMAGE_PIXELS

    with pytest.raises(EvidenceRejected):
        _validate_image_header(png_declaring(20_000, 20_000))
    with pytest.raises(ImageRejected):
        decode(png_declaring(20_000, 20_000))

    assert before == Image.MAX_IMAGE_PIXELS
    assert imaging.MAX_PIXELS < Image.MAX_IMAGE_PIXELS


def test_damaged_header_is_still_undecodable():
    data = png_declaring(100, 100)
    damaged = data[:16] + b"\x00" * 8  # the IHDR cut off mid-way

    with pytest.raises(EvidenceRejected) as rejected:
        _validate_image_header(damaged)

    assert rejected.value.code == "undecodable"
