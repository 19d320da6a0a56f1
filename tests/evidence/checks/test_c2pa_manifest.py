import json
import socket

import pytest

from evidence.checks.base import CheckContext, Severity
from evidence.checks.c2pa_manifest import C2paManifestCheck, read_manifest_store
from evidence.imaging import decode
from testing.synthetic_c2pa import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DIGITAL_CAPTURE,
    sign_image,
)
from tests.evidence.images import C2PA, QUIET_CAMERA_FILES, jpeg_bytes, photo, png_bytes

CHECK = C2paManifestCheck()


def run_file(name: str):
    return CHECK.run(decode((C2PA / name).read_bytes()), CheckContext())


def run(data: bytes):
    return CHECK.run(decode(data), CheckContext())


def codes(findings):
    return {f.code for f in findings}


def by_code(findings, code):
    return next(f for f in findings if f.code == code)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket from Python fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def assert_serialisable(findings):
    for finding in findings:
        json.dumps(finding.details)
        assert finding.message % finding.params


@pytest.mark.parametrize(
    "name", ["A.jpg", "P1000827.jpg", "sample1.heic", "sample1.avif", "sample1.webp", "sample1.png"]
)
def test_files_without_a_manifest_are_quiet(name):
    assert run_file(name) == []


def test_c_jpg_created_by_an_algorithm_with_a_valid_but_untrusted_signature():
    findings = run_file("C.jpg")

    assert codes(findings) == {"c2pa_manifest_present", "c2pa_synthetic", "c2pa_signer_untrusted"}
    synthetic = by_code(findings, "c2pa_synthetic")
    assert synthetic.severity == Severity.HIGH
    assert synthetic.params["term"] == "algorithmicMedia"
    assert by_code(findings, "c2pa_signer_untrusted").severity == Severity.INFO
    assert_serialisable(findings)


def test_ca_jpg_records_a_colour_adjustment_edit():
    findings = run_file("CA.jpg")

    edited = by_code(findings, "c2pa_edited")
    assert edited.severity == Severity.MEDIUM
    assert edited.details["edits"] == ["color_adjustments"]
    assert edited.params == {"edits": "color_adjustments"}
    assert not codes(findings) & {
        "c2pa_binding_mismatch",
        "c2pa_signature_invalid",
        "c2pa_ai_generated",
    }


def test_xca_jpg_content_changed_after_signing():
    findings = run_file("XCA.jpg")

    binding = by_code(findings, "c2pa_binding_mismatch")
    assert binding.severity == Severity.HIGH
    assert binding.details["codes"] == ["assertion.dataHash.mismatch"]
    assert "c2pa_signature_invalid" not in codes(findings)


def test_e_sig_ca_jpg_broken_claim_signature():
    findings = run_file("E-sig-CA.jpg")

    signature = by_code(findings, "c2pa_signature_invalid")
    assert signature.details == {"codes": ["claimSignature.mismatch"], "manifests": ["active"]}
    assert "this file" in signature.message
    assert "c2pa_binding_mismatch" not in codes(findings)


def test_cie_sig_ca_jpg_walks_the_ingredient_manifest():
    findings = run_file("CIE-sig-CA.jpg")

    assert by_code(findings, "c2pa_manifest_present").details["manifests"] == 2
    assert by_code(findings, "c2pa_edited").details["edits"] == [
        "color_adjustments",
        "placed",
        "resized",
    ]
    assert by_code(findings, "c2pa_synthetic").params["term"] == "algorithmicMedia"
    signature = by_code(findings, "c2pa_signature_invalid")
    assert signature.details["manifests"] == ["ingredient"]
    assert "earlier version" in signature.message


def test_cloud_jpg_remote_manifest_is_not_fetched(no_network):
    findings = run_file("cloud.jpg")  # no_network: any connection attempt fails the test

    remote = by_code(findings, "c2pa_remote_unverified")
    assert remote.severity == Severity.LOW
    assert remote.params["host"] == "cai-manifests.adobe.com"
    assert remote.details["remote_url"].startswith("https://cai-manifests.adobe.com/")


def test_reader_settings_forbid_remote_fetching():
    from evidence.checks.c2pa_manifest import READER_SETTINGS

    assert READER_SETTINGS["verify"]["remote_manifest_fetch"] is False
    assert READER_SETTINGS["verify"]["ocsp_fetch"] is False


def test_self_signed_trained_algorithmic_media_manifest_is_critical(no_network):
    signed = sign_image(jpeg_bytes(photo(640, 480)))

    findings = run(signed)

    ai = by_code(findings, "c2pa_ai_generated")
    assert ai.severity == Severity.CRITICAL
    assert ai.params == {
        "agent": "Claimlens synthetic generator",
        "term": "trainedAlgorithmicMedia",
    }
    assert by_code(findings, "c2pa_signer_untrusted").severity == Severity.INFO
    assert not codes(findings) & {"c2pa_binding_mismatch", "c2pa_signature_invalid"}
    assert_serialisable(findings)


def test_ai_created_action_in_an_ingredient_manifest_is_found():
    # An AI file opened and re-signed by an editor: the active manifest only says
    # c2pa.opened; the c2pa.created/trainedAlgorithmicMedia sits in the ingredient's.
    import io

    import c2pa

    from testing.synthetic_c2pa import load_test_credentials

    generated = sign_image(jpeg_bytes(photo(640, 480, seed=5)), title="gen.jpg")
    cert, key = load_test_credentials()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", cert, key, None))
    manifest = {
        "claim_generator_info": [{"name": "some-editor", "version": "2"}],
        "title": "edited.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}
                    ]
                },
            }
        ],
    }
    builder = c2pa.Builder(json.dumps(manifest))
    builder.add_ingredient(
        json.dumps({"title": "gen.jpg", "relationship": "parentOf", "label": "parent"}),
        "image/jpeg",
        io.BytesIO(generated),
    )
    out = io.BytesIO()
    builder.sign(signer, "image/jpeg", io.BytesIO(generated), out)

    findings = run(out.getvalue())

    assert by_code(findings, "c2pa_manifest_present").details["manifests"] == 2
    ai = by_code(findings, "c2pa_ai_generated")
    assert ai.details["manifest"] == "ingredient"


def test_camera_capture_manifest_is_not_an_ai_signal():
    findings = run(sign_image(jpeg_bytes(photo(640, 480)), digital_source_type=DIGITAL_CAPTURE))

    assert by_code(findings, "c2pa_camera_capture").severity == Severity.INFO
    assert all(f.severity in (Severity.INFO, Severity.LOW) for f in findings)


def test_ai_composite_in_png_is_high():
    signed = sign_image(
        png_bytes(photo(400, 300)),
        mime="image/png",
        digital_source_type=COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    )

    assert by_code(run(signed), "c2pa_ai_composite").severity == Severity.HIGH


def test_pixels_changed_after_signing_breaks_the_binding():
    signed = bytearray(sign_image(jpeg_bytes(photo(640, 480))))
    # flip bits near the end of the compressed picture data (before EOI)
    for offset in range(len(signed) - 400, len(signed) - 300, 7):
        if signed[offset] not in (0x00, 0xFF) and signed[offset - 1] != 0xFF:
            signed[offset] ^= 0x01

    findings = run(bytes(signed))

    assert "c2pa_binding_mismatch" in codes(findings)


def test_damaged_manifest_is_reported_unreadable_not_crashing():
    signed = bytearray(sign_image(jpeg_bytes(photo(640, 480))))
    at = signed.find(b"jumb")
    signed[at + 40 : at + 400] = bytes(360)

    findings = run(bytes(signed))

    assert codes(findings) & {"c2pa_unreadable", "c2pa_signature_invalid", "c2pa_binding_mismatch"}
    assert_serialisable(findings)


def test_read_manifest_store_returns_none_without_manifest():
    assert read_manifest_store(jpeg_bytes(photo(64, 64)), "image/jpeg") is None


@pytest.mark.parametrize("path", QUIET_CAMERA_FILES, ids=lambda p: p.name)
def test_real_camera_photos_have_no_manifest_findings(path):
    assert CHECK.run(decode(path.read_bytes()), CheckContext()) == []


def test_the_jpeg_pre_filter_reads_only_the_metadata_segments():
    from evidence.checks.c2pa_manifest import might_carry_c2pa

    plain = jpeg_bytes(photo(320, 240))
    signed = (C2PA / "CA.jpg").read_bytes()
    # The word in the compressed picture's place (after the scan starts) is no manifest.
    after_the_scan = plain + b"c2pa jumb provenance"

    assert might_carry_c2pa(signed, "JPEG")
    assert not might_carry_c2pa(plain, "JPEG")
    assert not might_carry_c2pa(after_the_scan, "JPEG")
    assert might_carry_c2pa(after_the_scan, "PNG")  # other containers: every byte is read
    assert run(after_the_scan) == []
