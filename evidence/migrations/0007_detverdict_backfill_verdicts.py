"""Compute the verdict of every claim file already checked, from the findings it has."""

from django.db import migrations


def backfill(apps, schema_editor):
    from evidence.pipeline import record_verdict

    EvidenceFile = apps.get_model("evidence", "EvidenceFile")
    models = {
        "run_model": apps.get_model("evidence", "CheckRun"),
        "finding_model": apps.get_model("evidence", "Finding"),
        "verdict_model": apps.get_model("evidence", "EvidenceVerdict"),
    }
    settled = EvidenceFile.objects.filter(
        attached_to="claim", status__in=["checked", "rejected", "failed"]
    )
    for pk, status, message in settled.values_list("pk", "status", "rejection_message").iterator(
        chunk_size=500
    ):
        failed = (message or "checks failed") if status == "failed" else ""
        record_verdict(pk, failed_message=failed, **models)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0006_detverdict_evidence_verdict")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
