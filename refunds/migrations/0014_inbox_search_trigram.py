"""The inbox's search by product title and buyer pseudonym (a part of the text, any case:
Django's ``icontains``, ``UPPER(col) LIKE UPPER('%text%')``) reads trigram indexes on
PostgreSQL instead of every order item of the shop. PostgreSQL only (SQLite has no
pg_trgm); the extension needs a role allowed to create it (docs/deployment.md)."""

from django.db import migrations

INDEXES = (
    ("order_item_title_search", "refunds_orderitem", "title"),
    ("buyer_display_name_search", "refunds_buyer", "display_name"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("refunds", "0013_inbox_indexes")]

    operations = [migrations.RunPython(create, drop)]
