import dataclasses
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from evidence.imaging import (
    MAX_PIXELS,
    DecodedImage,
    ImageRejected,
    decode,
    display_copy,
    sniff,
)
from tests.evidence.images import (
    C2PA,
    CAMERA,
    camera_exif,
    jpeg_bytes,
    photo,
    png_bytes,
    webp_bytes,
)


def small_sources():
    rgb = photo(96, 64, seed=1)
    out = {}
    for fmt, kwargs in (
        ("JPEG", {"quality": 85}),
        ("JPEG-progressive", {"quality": 85, "progressive": True}),
        ("PNG", {}),
        ("WEBP", {"quality": 80}),
    ):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, fmt.split("-")[0], **kwargs)
        out[fmt] = buffer.getvalue()
    return out


SOURCES = small_sources()


def decode_or_reject(data: bytes):
    """The property: a DecodedImage or ImageRejected, nothing else (a hang would stall
    the suite itself: there is no timed assertion here)."""
    try:
        result = decode(data)
    except ImageRejected as rejected:
        assert rejected.code
        assert rejected.message
        result = rejected
    else:
        assert isinstance(result, DecodedImage)
        assert result.working.ndim == 3 and result.working.shape[2] == 3
        assert result.working.dtype == np.uint8
        assert max(result.working.shape[:2]) <= 1024
    return result


fuzz = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(fmt=st.sampled_from(sorted(SOURCES)), fraction=st.floats(0.0, 1.0))
def test_truncated_images_decode_or_are_rejected(fmt, fraction):
    data = SOURCES[fmt]
    decode_or_reject(data[: int(len(data) * fraction)])


@fuzz
@given(
    fmt=st.sampled_from(sorted(SOURCES)),
    flips=st.lists(st.tuples(st.floats(0.0, 0.9999), st.integers(0, 7)), min_size=1, max_size=20),
)
def test_bit_flipped_images_decode_or_are_rejected(fmt, flips):
    data = bytearray(SOURCES[fmt])
    for position, bit in flips:
        data[int(position * len(data))] ^= 1 << bit
    decode_or_reject(bytes(data))


@fuzz
@given(
    header=st.sampled_from(sorted(SOURCES)),
    body=st.sampled_from(sorted(SOURCES)),
    cut=st.integers(2, 64),
)
def test_header_swapped_images_decode_or_are_rejected(header, body, cut):
    decode_or_reject(SOURCES[header][:cut] + SOURCES[body][cut:])


@fuzz
@given(st.binary(max_size=2048))
def test_random_bytes_are_rejected_or_decoded(data):
    decode_or_reject(data)


@fuzz
@given(junk=st.binary(min_size=1, max_size=512))
def test_garbage_after_a_valid_header_is_handled(junk):
    decode_or_reject(SOURCES["JPEG"][:600] + junk)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (SOURCES["JPEG"], "JPEG"),
        (SOURCES["PNG"], "PNG"),
        (SOURCES["WEBP"], "WEBP"),
        (b"GIF89a" + bytes(20), None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_sniff_reads_magic_bytes_not_names(data, expected):
    assert sniff(data) == expected


def test_sniff_heif_and_avif():
    assert sniff((C2PA / "sample1.heic").read_bytes()) == "HEIF"
    assert sniff((C2PA / "sample1.avif").read_bytes()) == "AVIF"
    assert sniff((CAMERA / "heic_IMG_5195.HEIC").read_bytes()) == "HEIF"


def test_unsupported_type_is_rejected_with_a_code():
    buffer = io.BytesIO()
    Image.fromarray(photo(32, 32)).save(buffer, "GIF")

    with pytest.raises(ImageRejected) as rejected:
        decode(buffer.getvalue())
    assert rejected.value.code == "unsupported_type"


def cheap_png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height``: a decompression bomb header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_declaring_20000_by_20000_is_refused_before_decoding():
    data = cheap_png_declaring(20000, 20000)
    assert len(data) < 200

    tracemalloc.start()
    try:
        with pytest.raises(ImageRejected) as rejected:
            decode(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # decoding would need 1.2 GB: it was refused from the header
    assert rejected.value.code == "too_many_pixels"


def test_image_just_over_the_pixel_budget_is_refused():
    side = int(MAX_PIXELS**0.5) + 10
    with pytest.raises(ImageRejected) as rejected:
        decode(cheap_png_declaring(side, side))
    assert rejected.value.code == "too_many_pixels"


def test_oversized_file_is_refused():
    with pytest.raises(ImageRejected) as rejected:
        decode(b"\xff\xd8\xff" + bytes(26 * 1024 * 1024))
    assert rejected.value.code == "file_too_large"


def test_truncated_png_is_a_clear_rejection():
    data = png_bytes(photo(400, 300))

    with pytest.raises(ImageRejected) as rejected:
        decode(data[: len(data) // 2])
    assert rejected.value.code == "truncated"


def test_truncated_jpeg_decodes_with_a_warning():
    data = jpeg_bytes(photo(400, 300))

    image = decode(data[: len(data) // 2])

    assert image.decode_warnings == ["jpeg_truncated"]
    assert (image.width, image.height) == (400, 300)


@pytest.mark.parametrize(
    "name", ["corrupted.jpg", "invalid_image01137.jpg", "invalid_image02206.jpg"]
)
def test_broken_camera_samples_never_crash_or_hang(name):
    result = decode_or_reject((CAMERA / name).read_bytes())
    assert isinstance(result, DecodedImage)


def test_exif_orientation_6_is_honoured():
    # A landscape buffer tagged "rotate 90° clockwise" is a portrait photo.
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:, :200] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6

    image = decode(jpeg_bytes(rgb, exif=exif))

    assert (image.width, image.height) == (300, 400)
    assert image.working.shape[:2] == (400, 300)
    top, bottom = image.working[10, 150], image.working[390, 150]
    assert top[2] > 200 and top[0] < 60  # BGR: red on top after rotating clockwise
    assert bottom[2] < 60


def test_real_orientation_samples_come_out_upright_sized():
    landscape = decode((CAMERA / "orientation_landscape_6.jpg").read_bytes())
    portrait = decode((CAMERA / "orientation_portrait_3.jpg").read_bytes())

    assert (landscape.width, landscape.height) == (600, 450)
    assert landscape.working.shape[:2] == (450, 600)
    assert (portrait.width, portrait.height) == (450, 600)


def test_damaged_exif_does_not_reject_the_photo():
    data = bytearray(jpeg_bytes(photo(200, 150), exif=camera_exif(taken="2025:01:01 00:00:00")))
    at = data.find(b"Exif\x00\x00")
    data[at + 10 : at + 30] = b"\xff" * 20  # scramble the IFD offset and entries

    image = decode_or_reject(bytes(data))

    assert isinstance(image, DecodedImage)
    assert image.exif is not None


def test_display_copy_has_no_exif_gps_or_xmp():
    exif = camera_exif(gps=True, taken="2025:01:01 10:00:00")
    exif[0x0112] = 6
    data = jpeg_bytes(photo(400, 300), exif=exif, xmp=b"<x:xmpmeta>secret</x:xmpmeta>")

    copy = display_copy(data)

    with Image.open(io.BytesIO(copy)) as shown:
        assert shown.format == "JPEG"
        assert shown.size == (300, 400)  # orientation applied
        assert len(shown.getexif()) == 0
        assert "xmp" not in shown.info and "exif" not in shown.info
    assert b"secret" not in copy
    assert b"Exif" not in copy


def test_display_copy_of_a_real_gps_photo_drops_the_position():
    copy = display_copy((CAMERA / "gps_DSCN0010.jpg").read_bytes())

    with Image.open(io.BytesIO(copy)) as shown:
        assert not shown.getexif().get_ifd(0x8825)
    assert b"GPS" not in copy and b"Exif" not in copy


def test_every_format_decodes():
    for data in (
        jpeg_bytes(photo(300, 200)),
        png_bytes(photo(300, 200)),
        webp_bytes(photo(300, 200)),
    ):
        image = decode(data)
        assert (image.width, image.height) == (300, 200)
    heic = decode((C2PA / "sample1.heic").read_bytes())
    assert heic.format == "HEIF" and heic.mime == "image/heic"


# --- one decode for the working copy and the display copy -----------------------------


def test_a_4_by_3_jpeg_is_decoded_once_at_the_reduced_scale_that_covers_the_display():
    # draft((1600, 1600)) would pick full scale for 3200x2400 (2400 // 1600 == 1).
    image = decode(jpeg_bytes(photo(3200, 2400)))

    assert image.display_source.shape[:2] == (1200, 1600)
    assert image.working.shape[:2] == (768, 1024)
    with Image.open(io.BytesIO(display_copy(image))) as shown:
        assert shown.size == (1600, 1200)


def test_display_copy_of_the_decoded_image_is_the_one_of_the_bytes():
    data = jpeg_bytes(photo(2400, 1800))

    assert display_copy(decode(data)) == display_copy(data)


def test_display_copy_of_the_decoded_image_is_upright():
    rgb = np.zeros((1500, 2000, 3), np.uint8)
    rgb[:, :1000] = (255, 0, 0)  # left half red; EXIF 6 turns it into the top half
    exif = Image.Exif()
    exif[0x0112] = 6

    copy = display_copy(decode(jpeg_bytes(rgb, exif=exif)))

    with Image.open(io.BytesIO(copy)) as shown:
        assert shown.size == (1200, 1600)
        top, bottom = shown.getpixel((600, 100)), shown.getpixel((600, 1500))
    assert top[0] > 200 and top[2] < 60
    assert bottom[0] < 60


def test_display_copy_of_a_hand_built_decoded_image_decodes_its_bytes():
    exif = Image.Exif()
    exif[0x0112] = 6
    image = decode(jpeg_bytes(photo(400, 300), exif=exif))
    bare = dataclasses.replace(image, display_source=None, orientation=1)

    with Image.open(io.BytesIO(display_copy(bare))) as shown:
        assert shown.size == (300, 400)


def test_display_copy_drops_a_jpeg_comment():
    data = jpeg_bytes(photo(400, 300), comment=b"home address: secret")

    copy = display_copy(decode(data))

    assert b"secret" in data
    assert b"secret" not in copy


def test_display_copy_is_never_enlarged():
    with Image.open(io.BytesIO(display_copy(decode(png_bytes(photo(300, 200)))))) as shown:
        assert shown.size == (300, 200)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png_bytes(photo(2400, 1600)), (1600, 1067)),
        (webp_bytes(photo(1000, 1800)), (889, 1600)),
        ((C2PA / "sample1.heic").read_bytes(), None),
        ((C2PA / "sample1.avif").read_bytes(), None),
        ((CAMERA / "heic_IMG_5195.HEIC").read_bytes(), None),
    ],
    ids=["png", "webp", "heic", "avif", "camera-heic"],
)
def test_display_copy_of_other_formats(data, size):
    image = decode(data)

    with Image.open(io.BytesIO(display_copy(image))) as shown:
        assert shown.format == "JPEG"
        assert max(shown.size) <= 1600
        if size is None:  # samples: the photo's own aspect, fitted to 1600
            expected = 1600 / max(image.width, image.height)
            assert abs(shown.width - image.width * min(1, expected)) <= 1
            assert abs(shown.height - image.height * min(1, expected)) <= 1
        else:
            assert shown.size == size
        assert len(shown.getexif()) == 0


def test_display_copy_of_an_animation_shows_its_first_frame():
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)

    with Image.open(io.BytesIO(display_copy(decode(out.getvalue())))) as shown:
        red, _green, blue = shown.getpixel((32, 24))
    assert red > 200 and blue < 60


def test_display_copy_of_a_truncated_jpeg_is_made_from_what_decoded():
    data = jpeg_bytes(photo(2000, 1500))
    image = decode(data[: len(data) // 2])

    with Image.open(io.BytesIO(display_copy(image))) as shown:
        assert shown.size == (1600, 1200)
    assert image.decode_warnings == ["jpeg_truncated"]


def test_display_copy_of_a_large_full_decode_averages_instead_of_aliasing():
    # A one-pixel checkerboard shrunk 2.5x: averaging gives flat grey, point sampling
    # would keep black and white pixels (or moire).
    checker = (np.indices((1800, 4000)).sum(axis=0) % 2 * 255).astype(np.uint8)
    data = png_bytes(np.repeat(checker[:, :, None], 3, axis=2))

    with Image.open(io.BytesIO(display_copy(decode(data)))) as shown:
        grey = np.asarray(shown.convert("L"), dtype=np.int16)
    assert grey.shape == (720, 1600)
    assert abs(int(np.median(grey)) - 127) <= 8
    assert np.percentile(np.abs(grey - 127), 99) <= 20


# --- the codec path: OpenCV for whole JPEGs, Pillow for the rest ------------------------


@pytest.mark.parametrize(
    "size", [(4000, 3000), (3000, 4000), (2400, 1800), (1000, 700), (333, 251)]
)
@pytest.mark.parametrize("progressive", [False, True])
def test_a_whole_jpeg_decodes_to_the_same_pixels_through_either_codec(size, progressive):
    from evidence.imaging import _decode_source

    data = jpeg_bytes(photo(*size, seed=5), quality=92, progressive=progressive)

    fast, *fast_rest = _decode_source(data, [], fast_jpeg=True)
    pillow, *pillow_rest = _decode_source(data, [], fast_jpeg=False)

    assert fast.shape == pillow.shape
    assert np.array_equal(fast, pillow)
    assert fast_rest == pillow_rest


def test_a_greyscale_jpeg_decodes_to_three_equal_channels():
    grey = photo(900, 600, seed=2)[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "JPEG", quality=90)

    image = decode(buffer.getvalue())

    assert image.working.shape == (600, 900, 3)
    assert np.array_equal(image.working[:, :, 0], image.working[:, :, 2])


def test_a_cmyk_jpeg_decodes_the_way_pillow_reads_it():
    rgb = photo(640, 480, seed=3)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()

    image = decode(data)

    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1]
    assert np.array_equal(image.working, expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_turns_arrays_as_exif_transpose_turns_pictures(orientation):
    from PIL import ImageOps

    from evidence.imaging import orient_array

    rgb = photo(64, 40, seed=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    pictured = ImageOps.exif_transpose(Image.open(io.BytesIO(png_bytes(rgb, exif=exif))))

    assert np.array_equal(orient_array(rgb, orientation), np.asarray(pictured.convert("RGB")))


def test_reduced_copies_are_sized_exactly_as_pillow_thumbnails():
    import random

    from evidence.imaging import _thumbnail_size

    rng = random.Random(7)
    sizes = [(rng.randint(1025, 9000), rng.randint(1, 9000)) for _ in range(400)]
    sizes += [(h, w) for w, h in sizes] + [(4000, 3000), (1025, 1), (1, 1025), (2049, 1537)]
    for width, height in sizes:
        probe = Image.new("1", (width, height))
        probe.thumbnail((1024, 1024))
        assert _thumbnail_size(width, height, 1024) == probe.size, (width, height)


def test_xmp_outside_pillows_reach_is_found_in_the_jpeg_header_only():
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    in_comment = jpeg_bytes(photo(200, 150), comment=xmp)
    after_the_picture = jpeg_bytes(photo(200, 150)) + xmp

    assert decode(in_comment).xmp == xmp
    assert decode(after_the_picture).xmp is None


def test_a_large_cmyk_jpeg_still_covers_the_display_size():
    # Pillow's draft already halves it; the block averaging must not halve it again.
    rgb = photo(4000, 3000, seed=4)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, "JPEG", quality=80)

    image = decode(buffer.getvalue())

    assert image.display_source.shape[:2] == (1500, 2000)
    with Image.open(io.BytesIO(display_copy(image))) as shown:
        assert shown.size == (1600, 1200)


MEMORY_PROBE = """
import sys
import cv2, django
django.setup()
from evidence.imaging import decode

def peak_kb():  # this process's own high-water mark (ru_maxrss survives exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

data = open(sys.argv[1], "rb").read()
before = peak_kb()
image = decode(data)
print(image.working.shape[:2], image.display_source.shape[:2], (peak_kb() - before) // 1024)
"""


def test_a_50_megapixel_png_is_decoded_without_copies_of_the_whole_picture(tmp_path):
    # Pillow's decode of 50 MP (4 bytes a pixel) is 200 MB; each full BGR copy would add
    # 150 MB. Measured in a fresh process: the peak resident size is what counts.
    import os
    import subprocess
    import sys

    y, x = np.mgrid[0:5000, 0:10000].astype(np.uint16)
    rgb = np.stack([(x // 40) % 256, (y // 20) % 256, ((x + y) // 60) % 256], -1)
    path = tmp_path / "panorama.png"
    Image.fromarray(rgb.astype(np.uint8)).save(path, compress_level=1)
    del x, y, rgb
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}

    out = (
        subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    assert out.startswith("(512, 1024) (834, 1667) ")  # averaged by 6: still >= 1600 wide
    growth_mb = int(out.rsplit(" ", 1)[1])
    assert 150 < growth_mb < 320, f"decoding grew the process by {growth_mb} MB"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_small_pictures_working_copy_is_its_own_writable_array(fmt):
    data = jpeg_bytes(photo(800, 600)) if fmt == "JPEG" else png_bytes(photo(800, 600))

    image = decode(data)
    before = display_copy(image)
    image.working[:] = 0  # whatever a check did to it

    assert image.working.flags.writeable
    assert display_copy(image) == before


# --- one header parse for a whole JPEG ---------------------------------------------------


@pytest.fixture
def opened_headers(monkeypatch) -> list[str]:
    """The formats ``imaging.open_header`` is called for, in order."""
    from evidence import imaging

    opened = []
    real = imaging.open_header

    def counting(data, fmt):
        opened.append(fmt)
        return real(data, fmt)

    monkeypatch.setattr(imaging, "open_header", counting)
    return opened


def test_a_whole_jpeg_is_parsed_by_pillow_once(opened_headers):
    """OpenCV decodes the pixels; the Pillow parser that sized the photo and read its
    orientation is the one the metadata readers get (headers and EXIF not parsed twice)."""
    exif = camera_exif()
    exif[0x0112] = 6  # rotated: the orientation was read from this parser's EXIF

    image = decode(jpeg_bytes(photo(640, 480, seed=3), exif=exif))

    assert opened_headers == ["JPEG"]
    assert image.exif.get(0x010F) == "Canon" and image.exif.get(0x0112) == 6
    assert (image.width, image.height) == (480, 640)
    assert image.pil.size == (640, 480) and image.pil.format == "JPEG"
    assert image.pil._im is None  # headers only: no pixels loaded by Pillow


def test_other_files_still_get_a_fresh_parser_for_their_metadata(opened_headers):
    image = decode(png_bytes(photo(64, 48, seed=1)))

    assert opened_headers == ["PNG", "PNG"]  # the first one was loaded and closed
    assert image.pil.size == (64, 48)
