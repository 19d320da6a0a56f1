"""Buyers, review queues and claims belong to a platform (docs/tenancy.md); each order
keeps the buyer's contact data it was placed with. Existing rows go to the default
platform (claims to their shop's); existing orders get their buyer's current name and
phone, the best snapshot there is. Buyer ids and queue slugs become unique per platform."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

import merchants.models


def into_default_platform(apps, schema_editor):
    Platform = apps.get_model("merchants", "Platform")
    Merchant = apps.get_model("merchants", "Merchant")
    Buyer = apps.get_model("refunds", "Buyer")
    Order = apps.get_model("refunds", "Order")
    default, _ = Platform.objects.get_or_create(
        slug=merchants.models.DEFAULT_PLATFORM_SLUG, defaults={"name": "Default platform"}
    )
    Buyer.objects.filter(tenant__isnull=True).update(tenant=default)
    apps.get_model("refunds", "ReviewQueue").objects.filter(tenant__isnull=True).update(
        tenant=default
    )
    apps.get_model("refunds", "RefundClaim").objects.filter(tenant__isnull=True).update(
        tenant=Subquery(Merchant.objects.filter(pk=OuterRef("merchant_id")).values("tenant")[:1])
    )
    buyer = Buyer.objects.filter(pk=OuterRef("buyer_id"))
    Order.objects.filter(buyer_name="").update(
        buyer_name=Subquery(buyer.values("display_name")[:1]),
        buyer_phone=Subquery(buyer.values("phone")[:1]),
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
        ("merchants", "0003_tenancy_platform"),
        ("refunds", "0004_leases_and_take_next"),
    ]

    operations = [
        migrations.AddField("buyer", "tenant", _tenant("buyers", null=True)),
        migrations.AddField("reviewqueue", "tenant", _tenant("queues", null=True)),
        migrations.AddField("refundclaim", "tenant", _tenant("+", null=True)),
        migrations.AddField(
            model_name="order",
            name="buyer_name",
            field=models.CharField(
                blank=True, max_length=100, verbose_name="buyer's name on the order"
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="buyer_phone",
            field=models.CharField(
                blank=True, max_length=32, verbose_name="buyer's phone on the order"
            ),
        ),
        migrations.RunPython(into_default_platform, migrations.RunPython.noop),
        migrations.AlterField("buyer", "tenant", _tenant("buyers", null=False)),
        migrations.AlterField("reviewqueue", "tenant", _tenant("queues", null=False)),
        migrations.AlterField("refundclaim", "tenant", _tenant("+", null=False)),
        migrations.AlterField(
            model_name="buyer",
            name="platform_id",
            field=models.CharField(max_length=64, verbose_name="platform id"),
        ),
        migrations.AlterField(
            model_name="reviewqueue",
            name="slug",
            field=models.SlugField(verbose_name="slug"),
        ),
        migrations.AddConstraint(
            model_name="buyer",
            constraint=models.UniqueConstraint(
                fields=("tenant", "platform_id"), name="buyer_unique_platform_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewqueue",
            constraint=models.UniqueConstraint(fields=("tenant", "slug"), name="queue_unique_slug"),
        ),
    ]
