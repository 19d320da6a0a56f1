"""Crop hashes of any box, not only centred ones (evidence.hashing.CROP_BOXES).

The rows written so far are centred crops: ``percent`` off every side, so each of the
four new sides takes that value. Their photos then lack the other boxes' hashes until
``manage.py backfill_features`` stores them."""

from django.db import migrations, models
from django.db.models import F


def centred_boxes(apps, schema_editor):
    CropHash = apps.get_model("evidence", "CropHash")
    CropHash.objects.update(
        top=F("percent"), bottom=F("percent"), left=F("percent"), right=F("percent")
    )


def keep_centred_boxes(apps, schema_editor):
    # Back to one row per percent: only the centred crops fit the old constraint.
    CropHash = apps.get_model("evidence", "CropHash")
    off_centre = ~(
        models.Q(top=F("percent"), bottom=F("percent"), left=F("percent"), right=F("percent"))
    )
    CropHash.objects.filter(off_centre).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0009_crop_hashes"),
    ]

    operations = [
        migrations.AddField(
            model_name="crophash", name="top", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="crophash", name="bottom", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="crophash", name="left", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="crophash", name="right", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.RunPython(centred_boxes, keep_centred_boxes),
        migrations.RemoveConstraint(model_name="crophash", name="crophash_one_per_rung"),
        migrations.AddConstraint(
            model_name="crophash",
            constraint=models.UniqueConstraint(
                fields=("evidence", "top", "bottom", "left", "right"), name="crophash_one_per_box"
            ),
        ),
    ]
