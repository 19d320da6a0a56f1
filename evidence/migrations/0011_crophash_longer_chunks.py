"""The crop hashes' own multi-index keys: three chunks of 21, 21 and 22 bits
(``evidence.hashing.CROP_CHUNK_BITS``) instead of the whole pictures' four 16-bit ones.

At 43 crop rows a claim photo the 16-bit chunks made a lookup read rows / 1,000 index
entries (docs/scaling.md, "The perceptual-hash index beyond 10M rows"). The existing rows'
chunks are computed from their stored hash in the database, in batches of ids (this
migration is not atomic: each batch commits on its own), after the old chunk indexes are
dropped (a lookup meanwhile scans the crop table: run it between deploys, as measured in
docs/scaling.md) and before the old columns go. Reversible: going back recomputes the
16-bit chunks the same way."""

from django.db import migrations, models
from django.db.models import F

BATCH = 50_000
# (shift, mask) of each chunk, most significant first: frozen here, as the rows are.
NEW_CHUNKS = ((43, (1 << 21) - 1), (22, (1 << 21) - 1), (0, (1 << 22) - 1))
OLD_CHUNKS = ((48, 0xFFFF), (32, 0xFFFF), (16, 0xFFFF), (0, 0xFFFF))


def _fill(apps, prefix: str, chunks) -> None:
    CropHash = apps.get_model("evidence", "CropHash")
    ids = CropHash.objects.order_by("pk").values_list("pk", flat=True)
    last = ids.last()
    start = ids.first()
    if start is None:
        return
    # An arithmetic right shift of the signed hash, then the mask: the same bits on
    # PostgreSQL and SQLite as evidence.hashing.crop_hash_chunks of the unsigned value.
    values = {
        f"{prefix}{i}": F("phash").bitrightshift(shift).bitand(mask)
        for i, (shift, mask) in enumerate(chunks)
    }
    while start <= last:
        CropHash.objects.filter(pk__gte=start, pk__lt=start + BATCH).update(**values)
        start += BATCH


def fill_chunks(apps, schema_editor):
    _fill(apps, "chunk_", NEW_CHUNKS)


def fill_old_chunks(apps, schema_editor):
    _fill(apps, "phash_", OLD_CHUNKS)


def vacuum(apps, schema_editor):
    # Every row was rewritten: until the table is vacuumed its visibility map is clear and
    # the new covering indexes' scans would read the heap again (PostgreSQL only).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("VACUUM ANALYZE evidence_crophash")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("evidence", "0010_crop_boxes"),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name="crophash",
                name=f"chunk_{i}",
                field=models.PositiveIntegerField(null=True),
            )
            for i in range(3)
        ),
        *(
            migrations.AlterField(
                model_name="crophash",
                name=f"phash_{i}",
                field=models.PositiveIntegerField(null=True),
            )
            for i in range(4)
        ),
        # The old chunk indexes go before the rows are rewritten, which then updates the
        # primary key and the uniqueness index only.
        *(
            migrations.RemoveIndex(model_name="crophash", name=f"crophash_mih_{i}")
            for i in range(4)
        ),
        migrations.RunPython(fill_chunks, fill_old_chunks),
        *(
            migrations.AlterField(
                model_name="crophash",
                name=f"chunk_{i}",
                field=models.PositiveIntegerField(),
            )
            for i in range(3)
        ),
        *(migrations.RemoveField(model_name="crophash", name=f"phash_{i}") for i in range(4)),
        *(
            migrations.AddIndex(
                model_name="crophash",
                index=models.Index(
                    fields=[f"chunk_{i}"],
                    include=("phash", "evidence", "percent"),
                    name=f"crophash_chunk_{i}",
                ),
            )
            for i in range(3)
        ),
        migrations.RunPython(vacuum, migrations.RunPython.noop),
    ]
