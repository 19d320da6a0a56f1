"""Per-shop status counters (refunds.lifecycle keeps them), filled from the claims there are."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO refunds_claimstatuscount (tenant_id, merchant_id, status, count) "
            "SELECT tenant_id, merchant_id, status, count(*) FROM refunds_refundclaim "
            "GROUP BY tenant_id, merchant_id, status"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('merchants', '0003_tenancy_platform'),
        ('refunds', '0017_stats_decision_by_time'),
    ]

    operations = [
        migrations.CreateModel(
            name='ClaimStatusCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('received', 'Received'), ('checking', 'Checking evidence'), ('awaiting_merchant', 'Awaiting merchant'), ('awaiting_buyer', 'Awaiting buyer evidence'), ('in_review', 'In review'), ('decided', 'Decided'), ('appealed', 'Appealed'), ('closed', 'Closed'), ('withdrawn', 'Withdrawn')], max_length=20, verbose_name='status')),
                ('count', models.BigIntegerField(default=0, verbose_name='claims')),
                ('merchant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='merchants.merchant')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='merchants.platform', verbose_name='platform')),
            ],
            options={
                'verbose_name': 'claim count by status',
                'verbose_name_plural': 'claim counts by status',
                'indexes': [models.Index(fields=['merchant', 'status'], name='status_count_per_shop'), models.Index(fields=['tenant', 'status'], name='status_count_per_platform')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
