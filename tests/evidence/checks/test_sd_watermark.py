import io

import numpy as np
import pytest
from PIL import Image

from evidence.checks.base import CheckContext, Severity
from evidence.checks.sd_watermark import SdWatermarkCheck, decode_bits, detect, lossless_enough
from evidence.imaging import decode
from testing.synthetic_watermark import (
    SD_V1_MESSAGE,
    SDXL_MESSAGE,
    embed,
    embed_sd_v1,
    embed_sdxl,
    message_bits,
)
from tests.evidence.images import C2PA, QUIET_CAMERA_FILES, jpeg_bytes, photo, png_bytes, webp_bytes

CHECK = SdWatermarkCheck()


def bgr_photo(width=640, height=512, seed=0):
    return np.ascontiguousarray(photo(width, height, seed)[:, :, ::-1])


def as_rgb(bgr):
    return np.ascontiguousarray(bgr[:, :, ::-1])


def run(data: bytes):
    return CHECK.run(decode(data), CheckContext())


def test_message_bits_match_the_published_messages():
    assert len(message_bits(SD_V1_MESSAGE)) == 136
    bits = message_bits(SDXL_MESSAGE)
    assert len(bits) == 48
    assert "".join(map(str, bits)) == "101100111110110010010000011110111011000110011110"


@pytest.mark.parametrize(("embedder", "bits"), [(embed_sd_v1, 136), (embed_sdxl, 48)])
def test_embedded_mark_reads_back_exactly(embedder, bits):
    marked = embedder(bgr_photo())
    message = SD_V1_MESSAGE if bits == 136 else SDXL_MESSAGE

    assert (decode_bits(marked, bits) == message_bits(message)).all()


def test_embedding_is_invisible_enough():
    import cv2

    original = bgr_photo()
    assert cv2.PSNR(original, embed_sdxl(original)) > 33


@pytest.mark.parametrize("embedder", [embed_sd_v1, embed_sdxl])
def test_marked_png_is_critical(embedder):
    data = png_bytes(as_rgb(embedder(bgr_photo(seed=2))))

    (finding,) = run(data)

    assert finding.code == "sd_watermark_detected"
    assert finding.severity == Severity.CRITICAL
    assert finding.details["bit_errors"] <= 2


def test_marked_lossless_webp_is_detected():
    data = webp_bytes(as_rgb(embed_sdxl(bgr_photo(seed=3))), lossless=True)

    assert [f.code for f in run(data)] == ["sd_watermark_detected"]


def test_marked_near_lossless_jpeg_is_detected():
    data = jpeg_bytes(as_rgb(embed_sd_v1(bgr_photo(seed=4))), quality=100, subsampling=0)

    assert [f.code for f in run(data)] == ["sd_watermark_detected"]


def test_mark_embedded_in_rgb_order_as_diffusers_does_is_found():
    rgb = photo(640, 512, seed=6)
    marked_rgb = embed_sdxl(rgb)  # diffusers hands RGB to a BGR-expecting encoder

    found = detect(np.ascontiguousarray(marked_rgb[:, :, ::-1]))

    assert found is not None
    assert found[3] == "rgb"


def test_clean_photo_is_quiet():
    assert run(png_bytes(photo(640, 512, seed=7))) == []
    assert detect(bgr_photo(seed=8)) is None


def test_jpeg_q75_resave_is_quiet_and_not_even_decoded():
    data = jpeg_bytes(as_rgb(embed_sdxl(bgr_photo(seed=9))), quality=75)
    image = decode(data)

    assert not lossless_enough(image)
    assert CHECK.run(image, CheckContext()) == []


def test_jpeg_q75_resave_destroys_the_mark():
    data = jpeg_bytes(as_rgb(embed_sd_v1(bgr_photo(seed=10))), quality=75)
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1]

    assert detect(np.ascontiguousarray(pixels)) is None


def test_resized_mark_is_gone():
    import cv2

    marked = embed_sdxl(bgr_photo(800, 640, seed=11))
    resized = cv2.resize(marked, (700, 560), interpolation=cv2.INTER_AREA)

    assert detect(resized) is None


def test_another_message_is_not_mistaken_for_stable_diffusion():
    marked = embed(bgr_photo(seed=12), message_bits(b"SomethingElse123!"))

    assert detect(marked) is None


def test_small_images_are_skipped():
    assert run(png_bytes(photo(200, 200))) == []


@pytest.mark.parametrize(
    "path",
    QUIET_CAMERA_FILES + [C2PA / "sample1.png", C2PA / "sample1.webp", C2PA / "C.jpg"],
    ids=lambda p: p.name,
)
def test_real_photos_are_quiet(path):
    assert CHECK.run(decode(path.read_bytes()), CheckContext()) == []
