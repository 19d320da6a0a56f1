"""A take's and a release's write of ``held_by`` as a HOT update on PostgreSQL.

PostgreSQL writes an UPDATE's new row version on the same heap page without touching any
index (a heap-only tuple) only when no column an index uses, as a key or in a partial
index's predicate, changes, and the page has room. ``held_by`` was in three indexes: the
predicates of ``claim_take_next`` and ``claim_take_next_in_review`` (``held_by IS NULL``)
and ``claim_held_by`` (its key and predicate). So every take and every release inserted a
new entry into each of the claim table's indexes (~600 MB at 1M claims): the slow
statement of a take when the host reclaims page cache (docs/performance.md, session 10).

- The two take-next indexes keep their keys and ``status IN (in_review, appealed)``; "nobody
  holds it" becomes a filter on the rows their ranges yield (few claims are held at once).
- ``claim_held_by`` goes: "my claims" reads the open assignments by reviewer
  (``assignment_open_by_reviewer``), which the services keep in step with ``held_by``.
- The table keeps 10 % of each page free for new row versions (``fillfactor = 90``). It
  applies to pages written from now on: an existing table gains it only when rewritten
  (docs/deployment.md). SQLite has no fillfactor; there this step does nothing.

The indexes are rebuilt in this migration's transaction (``CREATE INDEX``, which blocks the
claim table's writes while it runs: seconds on a large table, each build reading the whole
table for the ~6 % of claims in review or appealed; docs/deployment.md).
"""

from django.db import migrations, models

FILLFACTOR = 90


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE refunds_refundclaim SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE refunds_refundclaim RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0020_audit_without_random_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="refundclaim", name="claim_take_next"),
        migrations.RemoveIndex(model_name="refundclaim", name="claim_take_next_in_review"),
        migrations.RemoveIndex(model_name="refundclaim", name="claim_held_by"),
        migrations.AddIndex(
            model_name="refundclaim",
            index=models.Index(
                condition=models.Q(("status__in", ["in_review", "appealed"])),
                fields=["queue", "review_deadline", "id"],
                name="claim_take_next",
            ),
        ),
        migrations.AddIndex(
            model_name="refundclaim",
            index=models.Index(
                condition=models.Q(("status__in", ["in_review", "appealed"]))
                & ~models.Q(status="appealed"),
                fields=["queue", "review_deadline", "id"],
                name="claim_take_next_in_review",
            ),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
