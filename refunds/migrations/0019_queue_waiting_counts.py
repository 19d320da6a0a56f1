"""Per-queue counters of the claims waiting for a reviewer (refunds.queue_counts), filled
from the claims waiting now."""

import datetime as dt

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Trunc


def backfill(apps, schema_editor):
    claims = apps.get_model("refunds", "RefundClaim")
    counts = apps.get_model("refunds", "QueueWaitingCount")
    rows = (
        claims.objects.filter(status__in=["in_review", "appealed"], held_by__isnull=True)
        .order_by()
        .values("tenant_id", "queue_id", "status")
        .annotate(hour=Trunc("review_deadline", "hour", tzinfo=dt.UTC), n=Count("*"))
    )
    counts.objects.bulk_create(
        (
            counts(
                tenant_id=row["tenant_id"],
                queue_id=row["queue_id"],
                status=row["status"],
                deadline_hour=row["hour"],
                count=row["n"],
            )
            for row in rows
        ),
        batch_size=5000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('merchants', '0004_review_staff_one_platform'),
        ('refunds', '0018_scale_status_counts'),
    ]

    operations = [
        migrations.CreateModel(
            name='QueueWaitingCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('received', 'Received'), ('checking', 'Checking evidence'), ('awaiting_merchant', 'Awaiting merchant'), ('awaiting_buyer', 'Awaiting buyer evidence'), ('in_review', 'In review'), ('decided', 'Decided'), ('appealed', 'Appealed'), ('closed', 'Closed'), ('withdrawn', 'Withdrawn')], max_length=20, verbose_name='status')),
                ('deadline_hour', models.DateTimeField(null=True, verbose_name='review deadline (hour)')),
                ('count', models.BigIntegerField(default=0, verbose_name='claims')),
                ('queue', models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='refunds.reviewqueue')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='merchants.platform', verbose_name='platform')),
            ],
            options={
                'verbose_name': 'waiting claims by queue',
                'verbose_name_plural': 'waiting claims by queue',
                'indexes': [models.Index(fields=['queue', 'status'], name='waiting_count_per_queue'), models.Index(fields=['tenant', 'queue'], name='waiting_count_per_platform')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        # The queue page's counts come from the counters now; this index only misled
        # "take next"'s plan (a sort of a whole queue's waiting claims).
        migrations.RemoveIndex(model_name='refundclaim', name='claim_queue_waiting'),
        migrations.AddIndex(
            model_name='refundclaim',
            index=models.Index(condition=models.Q(('held_by__isnull', True), ('status__in', ['in_review', 'appealed']), models.Q(('status', 'appealed'), _negated=True)), fields=['queue', 'review_deadline', 'id'], name='claim_take_next_in_review'),
        ),

    ]
