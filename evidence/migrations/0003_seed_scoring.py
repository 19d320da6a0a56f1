from django.db import migrations


def seed(apps, schema_editor):
    from evidence.scoring import ensure_defaults

    ensure_defaults(apps.get_model("evidence", "ScoringWeight"),
                    apps.get_model("evidence", "ScoringThreshold"))


class Migration(migrations.Migration):
    dependencies = [("evidence", "0002_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
