"""Leases and a take-next that stays instant.

* ``ReviewQueue.lease_minutes`` (60), ``Assignment.last_activity_at`` / ``expires_at``
  and the sweeper's index ``assignment_lease_due``;
* ``RefundClaim.held_by``, the reviewer of the claim's open assignment, so the claims
  waiting for a reviewer are one partial index (``claim_take_next``, which replaces
  ``claim_queue_open``).

The open assignments present when this runs are backfilled: each claim gets its holder,
each open lease a full lease from now (not from when it was taken, which would hand every
claim held for more than an hour back at the first sweep) and its taking time as its
last activity. Then an open assignment must have an expiry (a constraint).
"""

import datetime as dt

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone

LEASE_MINUTES = 60  # every queue's lease_minutes when this runs (the field's default)


def backfill_holds(apps, schema_editor):
    Assignment = apps.get_model("refunds", "Assignment")
    RefundClaim = apps.get_model("refunds", "RefundClaim")
    open_assignments = Assignment.objects.filter(released_at__isnull=True)
    open_assignments.update(
        last_activity_at=F("assigned_at"),
        expires_at=timezone.now() + dt.timedelta(minutes=LEASE_MINUTES),
    )
    of_claim = open_assignments.filter(claim=OuterRef("pk"))
    RefundClaim.objects.filter(Exists(of_claim)).update(
        held_by=Subquery(of_claim.values("reviewer_id")[:1])
    )
    if schema_editor.connection.vendor == "postgresql":
        # Check the new foreign keys now: a table with pending (deferred) trigger events
        # cannot be altered by the operations that follow in this transaction.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ('merchants', '0002_initial'),
        ('refunds', '0003_auditevent_append_only'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='refundclaim',
            name='claim_queue_open',
        ),
        migrations.AddField(
            model_name='assignment',
            name='expires_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='lease expires at'),
        ),
        migrations.AddField(
            model_name='assignment',
            name='last_activity_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='last activity'),
        ),
        migrations.AddField(
            model_name='refundclaim',
            name='held_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='held by'),
        ),
        migrations.AddField(
            model_name='reviewqueue',
            name='lease_minutes',
            field=models.PositiveIntegerField(default=60, help_text='A claim taken from this queue goes back to it after this long without activity by the reviewer holding it.', validators=[django.core.validators.MinValueValidator(1)], verbose_name='lease (minutes)'),
        ),
        migrations.AddIndex(
            model_name='assignment',
            index=models.Index(condition=models.Q(('released_at__isnull', True)), fields=['expires_at'], name='assignment_lease_due'),
        ),
        migrations.AddIndex(
            model_name='refundclaim',
            index=models.Index(condition=models.Q(('held_by__isnull', True), ('status__in', ['in_review', 'appealed'])), fields=['queue', 'review_deadline', 'id'], name='claim_take_next'),
        ),
        migrations.AddIndex(
            model_name='refundclaim',
            index=models.Index(condition=models.Q(('held_by__isnull', False)), fields=['held_by', 'review_deadline'], name='claim_held_by'),
        ),
        migrations.RunPython(backfill_holds, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='assignment',
            constraint=models.CheckConstraint(condition=models.Q(('released_at__isnull', False), ('expires_at__isnull', False), _connector='OR'), name='assignment_open_has_expiry'),
        ),
    ]
