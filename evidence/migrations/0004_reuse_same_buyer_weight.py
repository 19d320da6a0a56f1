"""ReuseCheck v2: ``reuse_same_buyer`` weighs 50 (was 30), so that a buyer re-using a
damage photo across orders reaches "suspicious" (40) on its own.

Only a weight still at the old default changes: an administrator's edit is kept.
"""

from django.db import migrations

CODE = "reuse_same_buyer"
OLD_DEFAULT = 30
NEW_DEFAULT = 50


def seed_and_raise(apps, schema_editor):
    from evidence.scoring import ensure_defaults

    weight_model = apps.get_model("evidence", "ScoringWeight")
    ensure_defaults(weight_model, apps.get_model("evidence", "ScoringThreshold"))
    weight_model.objects.filter(code=CODE, weight=OLD_DEFAULT).update(weight=NEW_DEFAULT)


def lower_back(apps, schema_editor):
    weight_model = apps.get_model("evidence", "ScoringWeight")
    weight_model.objects.filter(code=CODE, weight=NEW_DEFAULT).update(weight=OLD_DEFAULT)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0003_seed_scoring")]
    operations = [migrations.RunPython(seed_and_raise, lower_back)]
