"""Image generators shared by the evidence tests: photos drawn with numpy, saved by Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata"
CAMERA = TESTDATA / "camera"
C2PA = TESTDATA / "c2pa"
QUIET_CAMERA_FILES = (
    sorted(p for p in CAMERA.iterdir() if p.suffix.lower() in (".jpg", ".heic"))
    if CAMERA.exists()
    else []
)


def photo(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """An RGB uint8 'photo': smooth lighting, a few objects, mild sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            60 + 120 * x / max(width, 1),
            50 + 110 * y / max(height, 1),
            90 + 60 * np.sin((x + y) / 57.0),
        ],
        axis=-1,
    )
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.2) * min(width, height)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        base[mask] = rng.uniform(20, 235, 3)
    base += rng.normal(0, 3, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def jpeg_bytes(
    rgb: np.ndarray | None = None,
    *,
    quality: int = 90,
    exif: Image.Exif | None = None,
    xmp: bytes | None = None,
    **kwargs,
) -> bytes:
    image = Image.fromarray(photo() if rgb is None else rgb)
    out = io.BytesIO()
    if exif is not None:
        kwargs["exif"] = exif.tobytes()
    if xmp is not None:
        kwargs["xmp"] = xmp
    image.save(out, "JPEG", quality=quality, **kwargs)
    return out.getvalue()


def png_bytes(
    rgb: np.ndarray | None = None,
    *,
    text: dict[str, str] | None = None,
    itxt: dict[str, str] | None = None,
    xmp: bytes | None = None,
    exif: Image.Exif | None = None,
) -> bytes:
    image = Image.fromarray(photo() if rgb is None else rgb)
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
    out = io.BytesIO()
    kwargs = {"exif": exif.tobytes()} if exif is not None else {}
    image.save(out, "PNG", pnginfo=info, **kwargs)
    return out.getvalue()


def webp_bytes(rgb: np.ndarray | None = None, *, lossless: bool = False, **kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(photo() if rgb is None else rgb).save(
        out, "WEBP", lossless=lossless, quality=90, **kwargs
    )
    return out.getvalue()


def camera_exif(
    *,
    make: str | None = "Canon",
    model: str | None = "Canon EOS 40D",
    software: str | None = None,
    taken: str | None = None,
    offset: str | None = None,
    gps: bool = False,
    user_comment: bytes | None = None,
    description: str | None = None,
    pixel_size: tuple[int, int] | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if software:
        exif[0x0131] = software
    if description:
        exif[0x010E] = description
    sub = exif.get_ifd(0x8769)
    if taken:
        sub[0x9003] = taken
    if offset:
        sub[0x9011] = offset
    if user_comment is not None:
        sub[0x9286] = user_comment
    if pixel_size:
        sub[0xA002], sub[0xA003] = pixel_size
    if gps:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "N"
        gps_ifd[2] = (31.0, 13.0, 42.5)
        gps_ifd[3] = "E"
        gps_ifd[4] = (121.0, 28.0, 11.25)
    return exif


def xmp_packet(body: str, namespaces: dict[str, str]) -> bytes:
    """An XMP packet whose single rdf:Description holds ``body`` (attributes or elements)."""
    ns = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in namespaces.items())
    attributes, _, elements = body.partition("|")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {ns} {attributes}>{elements}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()
