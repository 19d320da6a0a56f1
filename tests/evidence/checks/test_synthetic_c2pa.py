import json

import pytest

from evidence.checks.c2pa_manifest import manifest_actions, read_manifest_store
from evidence.imaging import decode
from testing.synthetic_c2pa import (
    TRAINED_ALGORITHMIC_MEDIA,
    load_test_credentials,
    manifest_definition,
    sign_image,
)
from tests.evidence.images import jpeg_bytes, photo, png_bytes


def test_manifest_definition_declares_the_source_type():
    definition = manifest_definition(title="x.jpg")

    (action,) = definition["assertions"][0]["data"]["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    json.dumps(definition)


def test_signed_jpeg_still_decodes_and_carries_the_created_action():
    original = jpeg_bytes(photo(320, 240))

    signed = sign_image(original, title="made.jpg")

    image = decode(signed)
    assert (image.width, image.height) == (320, 240)
    store = read_manifest_store(signed, "image/jpeg")
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["title"] == "made.jpg"
    (created,) = [a for a in manifest_actions(manifest) if a["action"] == "c2pa.created"]
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    codes = {s["code"] for s in store.get("validation_status", [])}
    assert codes <= {"signingCredential.untrusted"}  # valid, just not on a trust list


def test_signed_png_is_readable():
    signed = sign_image(png_bytes(photo(200, 150)), mime="image/png", title="made.png")

    assert read_manifest_store(signed, "image/png")["manifests"]


def test_missing_credentials_say_where_they_were_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_test_credentials(tmp_path)
