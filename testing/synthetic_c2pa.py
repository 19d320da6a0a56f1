"""Sign images with C2PA manifests that declare how they were made.

Used by tests, the demo loader and the benchmark to produce AI-labelled files the way a
generator would (a ``c2pa.created`` action carrying an IPTC ``digitalSourceType``). The
signing certificate is the C2PA library's *test* certificate (shared test data), so the
files verify cryptographically but read as "signer untrusted" - exactly like genuine
generator output checked without trust anchors. Signing never touches the network: no
timestamp authority, no OCSP.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"

# ../shared/testdata/c2pa relative to the project root.
DEFAULT_CREDENTIALS_DIR = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "c2pa"

_OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
}


def load_test_credentials(directory: Path | None = None) -> tuple[bytes, bytes]:
    """The ES256 test certificate chain and private key (PEM) from the shared test data."""
    directory = directory or DEFAULT_CREDENTIALS_DIR
    cert = directory / "es256_certs.pem"
    key = directory / "es256_private.key"
    if not cert.exists() or not key.exists():
        raise FileNotFoundError(f"C2PA test credentials not found in {directory}")
    return cert.read_bytes(), key.read_bytes()


def manifest_definition(
    *,
    title: str,
    digital_source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    software_agent: str = "Claimlens synthetic generator",
) -> dict[str, Any]:
    """A minimal manifest: one ``c2pa.created`` action with the given source type."""
    return {
        "claim_generator_info": [{"name": "claimlens-synthetic", "version": "1"}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "softwareAgent": {"name": software_agent},
                            "digitalSourceType": digital_source_type,
                        }
                    ]
                },
            }
        ],
    }


def sign_image(
    data: bytes,
    *,
    mime: str = "image/jpeg",
    digital_source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    title: str = "generated.jpg",
    software_agent: str = "Claimlens synthetic generator",
    credentials: tuple[bytes, bytes] | None = None,
) -> bytes:
    """``data`` with an embedded, signed C2PA manifest declaring ``digital_source_type``."""
    import c2pa

    cert, key = credentials or load_test_credentials()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", cert, key, None))
    context = c2pa.Context(settings=c2pa.Settings.from_dict(_OFFLINE_SETTINGS))
    definition = manifest_definition(
        title=title, digital_source_type=digital_source_type, software_agent=software_agent
    )
    builder = c2pa.Builder(json.dumps(definition), context=context)
    source, dest = io.BytesIO(data), io.BytesIO()
    try:
        builder.sign(signer, mime, source, dest)
    finally:
        builder.close()
        signer.close()
    return dest.getvalue()
