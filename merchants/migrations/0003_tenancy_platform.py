"""Several platforms in one deployment (docs/tenancy.md): the ``Platform`` model, the
reviewers' platform, and every existing shop and API client moved into the default
platform. The platform ids of shops become unique per platform instead of globally."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import merchants.models


def into_default_platform(apps, schema_editor):
    Platform = apps.get_model("merchants", "Platform")
    default, _ = Platform.objects.get_or_create(
        slug=merchants.models.DEFAULT_PLATFORM_SLUG, defaults={"name": "Default platform"}
    )
    for name in ("Merchant", "PlatformClient"):
        apps.get_model("merchants", name).objects.filter(tenant__isnull=True).update(
            tenant=default
        )


def _tenant(related_name, *, null):
    return models.ForeignKey(
        null=null,
        default=None if null else merchants.models.default_platform_pk,
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to="merchants.platform",
        verbose_name="platform",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0002_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Platform",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("slug", models.SlugField(unique=True, verbose_name="slug")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "joins_credit_network",
                    models.BooleanField(
                        default=False,
                        help_text="Contributes its buyers' keyed identifier hashes and credit "
                        "figures to the network and sees other members' figures; never names, "
                        "phones or claims.",
                        verbose_name="joins the buyer-credit network",
                    ),
                ),
                (
                    "network_pseudonym",
                    models.CharField(
                        blank=True,
                        help_text="Empty: other members see “Platform <number>”.",
                        max_length=100,
                        verbose_name="name shown to other platforms",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
            ],
            options={
                "verbose_name": "platform",
                "verbose_name_plural": "platforms",
                "ordering": ["pk"],
            },
        ),
        migrations.CreateModel(
            name="PlatformStaff",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="staff",
                        to="merchants.platform",
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="platform_staff",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "platform staff member",
                "verbose_name_plural": "platform staff",
            },
        ),
        migrations.AddField("merchant", "tenant", _tenant("merchants", null=True)),
        migrations.AddField("platformclient", "tenant", _tenant("clients", null=True)),
        migrations.RunPython(into_default_platform, migrations.RunPython.noop),
        migrations.AlterField("merchant", "tenant", _tenant("merchants", null=False)),
        migrations.AlterField("platformclient", "tenant", _tenant("clients", null=False)),
        migrations.AlterField(
            model_name="merchant",
            name="platform_id",
            field=models.CharField(max_length=64, verbose_name="platform id"),
        ),
        migrations.AddConstraint(
            model_name="merchant",
            constraint=models.UniqueConstraint(
                fields=("tenant", "platform_id"), name="merchant_unique_platform_id"
            ),
        ),
    ]
