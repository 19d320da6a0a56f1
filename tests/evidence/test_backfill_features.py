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
        stored = evidence.crop_hashes.values_list("top", "bottom", "left", "right", "phash")
        assert sorted(stored) == sorted((*box, value) for box, value in crop_hashes(image))


def test_rows_from_before_the_crop_boxes_become_centred_boxes(legacy_files):
    # given: what 0009 stored (one centred crop per percent), whatever 0010's new
    # columns first hold (their default, 0, but for the uniqueness of the rows)
    import importlib

    from django.apps import apps

    from evidence.models import CropHash

    migration = importlib.import_module("evidence.migrations.0010_crop_boxes")
    evidence = legacy_files[0]
    CropHash.objects.all().delete()
    for n, percent in enumerate((5, 10, 15)):
        CropHash.objects.create(
            evidence=evidence,
            percent=percent,
            right=n,
            phash=percent,
            chunk_0=0,
            chunk_1=0,
            chunk_2=percent,
        )

    # when
    migration.centred_boxes(apps, None)

    # then
    boxes = evidence.crop_hashes.values_list("percent", "top", "bottom", "left", "right")
    assert sorted(boxes) == [(5, 5, 5, 5, 5), (10, 10, 10, 10, 10), (15, 15, 15, 15, 15)]


def test_claim_photos_with_only_centred_crop_hashes_get_every_box(legacy_files):
    from django.db.models import F

    from evidence.hashing import CROP_BOXES, crop_hashes
    from evidence.models import CropHash

    # given: both files as migration 0010 leaves them (features aside): centred crops only
    CropHash.objects.exclude(top=F("bottom"), bottom=F("left"), left=F("right")).delete()
    assert [f.crop_hashes.count() for f in legacy_files] == [3, 3]

    first = run()
    again = run()

    assert "crop hashes stored for 2 claim photo(s)" in first
    assert "crop hashes stored for 0 claim photo(s)" in again
    for evidence in legacy_files:
        image = imaging.decode(evidence.original.open("rb").read())
        stored = evidence.crop_hashes.values_list("top", "bottom", "left", "right", "phash")
        assert len(stored) == len(CROP_BOXES)
        assert sorted(stored) == sorted((*box, value) for box, value in crop_hashes(image))
