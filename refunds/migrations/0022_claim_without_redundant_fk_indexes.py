"""The claim table without the single-column indexes Django made for ``merchant`` and
``buyer``: composite indexes leading with the same column serve every lookup by it
(``claim_inbox`` and the inbox's keyset indexes for ``merchant_id``, ``claim_buyer_history``
for ``buyer_id``), the PROTECT checks of a shop's or a buyer's deletion (Django's and the
database's foreign-key check) included (docs/performance.md, session 10). Each was one more
index entry for every claim inserted and every non-HOT update.

Only the indexes are dropped: Django's ``AlterField`` to ``db_index=False`` would drop and
re-add the foreign keys, which re-validates every claim under a lock that stops the claim
table's writes (as in 0020). Reversible: the indexes are made again under their names.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {
    "refunds_refundclaim_merchant_id_0bb100bc": "merchant_id",
    "refunds_refundclaim_buyer_id_e4071db7": "buyer_id",
}


def drop_indexes(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_indexes(apps, schema_editor):
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "refunds_refundclaim" ("{column}")'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0004_review_staff_one_platform"),
        ("refunds", "0021_claim_hot_takes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="refundclaim",
                    name="buyer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claims",
                        to="refunds.buyer",
                    ),
                ),
                migrations.AlterField(
                    model_name="refundclaim",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claims",
                        to="merchants.merchant",
                    ),
                ),
            ],
        ),
    ]
