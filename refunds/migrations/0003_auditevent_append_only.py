"""Audit events: the evidence file a custody event is about, and the database triggers
that make the table append-only (refunds.append_only: PostgreSQL and SQLite)."""

from django.conf import settings
from django.db import migrations, models


def install_triggers(apps, schema_editor):
    from refunds import append_only

    append_only.install(schema_editor.connection)


def remove_triggers(apps, schema_editor):
    from refunds import append_only

    append_only.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('refunds', '0002_seed_queues_and_groups'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='evidence_id',
            field=models.PositiveBigIntegerField(blank=True, null=True, verbose_name='evidence file'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('evidence_id__isnull', False)), fields=['evidence_id', 'seq'], name='audit_custody_by_file'),
        ),
        # After the schema changes above: on SQLite a table rebuild drops triggers.
        migrations.RunPython(install_triggers, remove_triggers),
    ]
