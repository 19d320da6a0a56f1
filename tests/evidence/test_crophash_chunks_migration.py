"""Migration evidence 0011: the crop hashes' chunks become the 21/21/22-bit ones of
``hashing.crop_hash_chunks``, computed in the database for the rows already stored."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from evidence.hashing import crop_hash_chunks, hash_chunks, to_signed64

BEFORE = [("evidence", "0010_crop_boxes")]
AFTER = [("evidence", "0011_crophash_longer_chunks")]
# Negative and positive bigints, bits at both ends of every chunk.
HASHES = [
    to_signed64(0xF0E1_D2C3_B4A5_9687),
    to_signed64(0x8000_0000_0000_0001),
    to_signed64(0x0000_0400_0020_0000),
    -1,
    0,
    0x7FFF_FFFF_FFFF_FFFF,
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_crop_hashes_get_their_chunks_in_batches_and_back(monkeypatch, make_claim, shop_a):
    module = __import__("evidence.migrations.0011_crophash_longer_chunks", fromlist=["BATCH"])
    monkeypatch.setattr(module, "BATCH", 2)  # 6 rows: three batches
    claim = make_claim(shop_a)
    try:
        # given: rows as 0010 left them (the four 16-bit chunks)
        old = migrate(BEFORE)
        evidence = old.get_model("evidence", "EvidenceFile").objects.create(
            uuid=uuid.uuid4(),
            attached_to="claim",
            claim_id=claim.pk,
            submitted_by="buyer",
            original="x",
            sha256=uuid.uuid4().hex * 2,
            content_type="image/jpeg",
            size=1,
        )
        OldCropHash = old.get_model("evidence", "CropHash")
        for n, value in enumerate(HASHES):
            OldCropHash.objects.create(
                evidence_id=evidence.pk,
                percent=n,
                top=n,
                phash=value,
                **{f"phash_{i}": c for i, c in enumerate(hash_chunks(value))},
            )

        # when
        new = migrate(AFTER)

        # then: every row's chunks are those the lookup probes
        rows = new.get_model("evidence", "CropHash").objects.order_by("top")
        stored = [(r.phash, (r.chunk_0, r.chunk_1, r.chunk_2)) for r in rows]
        assert stored == [(value, crop_hash_chunks(value)) for value in HASHES]

        # and back: the 16-bit chunks again
        old = migrate(BEFORE)
        rows = old.get_model("evidence", "CropHash").objects.order_by("top")
        stored = [(r.phash, (r.phash_0, r.phash_1, r.phash_2, r.phash_3)) for r in rows]
        assert stored == [(value, hash_chunks(value)) for value in HASHES]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
