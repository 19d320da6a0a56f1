"""The audit log without the indexes no query uses: the unique index on ``hash`` (with its
``LIKE`` twin on PostgreSQL) and the single-column index on ``claim_id`` that
``audit_by_claim (claim_id, seq)`` already serves.

Every append wrote a random SHA-256 value into the two hash indexes: at 6.3M events (the 1M
claim benchmark) they were 749 MB each and took 5M block reads each, 200 times the other
indexes', and the audit INSERT's p95 155 ms (docs/performance.md). Nothing looks an event up
by its hash; a fork of a chain is refused by ``audit_chain_position``.

Only the indexes are dropped: Django's ``AlterField`` would drop and re-add the claim's
foreign key, which re-validates every event under a lock that stops every audited write.
SQLite keeps its inline ``UNIQUE`` (dropping it would copy the whole table, and its
append-only triggers with it); the model no longer asks for it.
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRES = [
    'DROP INDEX IF EXISTS "refunds_auditevent_claim_id_b829bdd2"',
    'ALTER TABLE "refunds_auditevent" DROP CONSTRAINT IF EXISTS "refunds_auditevent_hash_key"',
    'DROP INDEX IF EXISTS "refunds_auditevent_hash_41e8ebe8_like"',
]
SQLITE = ['DROP INDEX IF EXISTS "refunds_auditevent_claim_id_b829bdd2"']


def drop_indexes(apps, schema_editor):
    statements = POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0019_queue_waiting_counts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, migrations.RunPython.noop)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="claim",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_events",
                        to="refunds.refundclaim",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="hash",
                    field=models.CharField(max_length=64),
                ),
            ],
        ),
    ]
