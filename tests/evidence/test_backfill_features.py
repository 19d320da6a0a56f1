"""``manage.py backfill_features``: files checked before every file kept its features."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from evidence import imaging
from evidence.checks.reference_match import compute_features, features_from_bytes
from evidence.models import EvidenceFile
from testing import synthetic


@pytest.fixture
def legacy_files(shop_a, make_order, django_capture_on_commit_callbacks):
    """Two checked claim files stored without features, as before they were kept."""
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit

    with django_capture_on_commit_callbacks(execute=True):
        claim = claim_submit(
            order=make_order(shop_a),
            amount=Decimal("20.00"),
            reason="damaged",
            actor=Actor.platform("test"),
        )
        files = [
            evidence_add(
                upload=synthetic.encode_jpeg(synthetic.render_product_photo(seed).image),
                submitted_by="buyer",
                claim=claim,
            )
            for seed in (41, 42)
        ]
    EvidenceFile.objects.filter(pk__in=[f.pk for f in files]).update(features=None)
    return files


def run() -> str:
    out = StringIO()
    call_command("backfill_features", stdout=out)
    return out.getvalue()


def test_features_are_stored_once_and_match_a_fresh_computation(legacy_files):
    first = run()
    again = run()

    assert "features stored for 2 file(s)" in first
    assert "features stored for 0 file(s)" in again
    for evidence in legacy_files:
        evidence.refresh_from_db()
        stored = features_from_bytes(bytes(evidence.features))
        fresh = compute_features(imaging.decode(evidence.original.open("rb").read()))
        assert stored.phash == fresh.phash
        assert np.array_equal(stored.descriptors, fresh.descriptors)


def test_a_file_that_no_longer_decodes_is_counted_and_left_alone(legacy_files):
    broken, intact = legacy_files
    broken.original.save("broken.jpg", ContentFile(b"\xff\xd8 not a jpeg any more"), save=False)
    EvidenceFile.objects.filter(pk=broken.pk).update(original=broken.original.name)

    output = run()

    assert "features stored for 1 file(s);" in output
    assert "; 1 file(s) could not be decoded" in output
    broken.refresh_from_db()
    intact.refresh_from_db()
    assert broken.features is None
    assert intact.features is not None


def test_claim_photos_checked_before_the_crop_hashes_get_them(legacy_files):
    from evidence.hashing import crop_hashes
    from evidence.models import CropHash

    CropHash.objects.all().delete()

    first = run()
    again = run()

    assert "crop hashes stored for 2 claim photo(s)" in first
    assert "crop hashes stored for 0 claim photo(s)" in again
    for evidence in legacy_files:
        image = imaging.decode(evidence.original.open("rb").read())
        assert sorted(evidence.crop_hashes.values_list("percent", "phash")) == sorted(
            crop_hashes(image)
        )
