"""The review queues and routing rules a platform starts with (idempotent: what exists is
kept, an administrator's edits are never overwritten). The "likely forgery" queue of
0002 becomes "forensic"."""

from django.db import migrations

QUEUES = [
    # slug, name, description, priority, SLA hours
    ("appeals", "Appeals", "Decided claims appealed by a party; a senior reviewer decides.", 10, 24),
    (
        "legal",
        "Legal",
        "Buyers past a Criminal Law art. 266 fraud tier (3,000 / 30,000 / 500,000 CNY sought "
        "with evidence a reviewer confirmed as forged).",
        15,
        24,
    ),
    ("forensic", "Forensic", "Strong signs the evidence was edited, generated or copied.", 20, 12),
    ("high-value", "High value", "Claims of 3,000 CNY or more (criminal-law threshold).", 30, 24),
    ("repeat-claimant", "Repeat claimant", "Buyers with many recent refund-only claims.", 40, 24),
    ("standard", "Standard", "Everything else.", 100, 48),
]
RULES = [
    # position, name, queue slug, conditions, active
    (5, "Buyer past a fraud tier", "legal", {"fraud_tier": "relatively_large"}, True),
    (
        10,
        "Copy of the merchant's listing photo",
        "forensic",
        {"finding_codes": ["reference_copy"]},
        True,
    ),
    (20, "High risk score", "forensic", {"min_risk_score": 70}, True),
    (30, "Amount at or above 3,000 CNY", "high-value", {"min_amount": "3000"}, True),
    (
        40,
        "Repeat claimant: 3 or more claims in 90 days",
        "repeat-claimant",
        {"min_buyer_claims_90d": 3},
        True,
    ),
    (
        50,
        "Small claim, clean photos, good buyer, silent shop: refund",
        "standard",
        {
            "max_amount": "50",
            "max_risk_score": 39,
            "photo_verdicts": ["clean"],
            "photo_verdicts_all": True,
            "max_confirmed_forgeries": 0,
            "fraud_tier": "none",
            "merchant_answer": "silent",
            "auto_outcome": "refund_approved",
        },
        False,  # deciding without a human is the platform's choice: switched on by hand
    ),
]


def seed(apps, schema_editor):
    """Every platform gets the seed queues and rules (each platform's ids and slugs are
    its own: refunds/0005_tenancy_platform)."""
    Platform = apps.get_model("merchants", "Platform")
    platforms = list(Platform.objects.all())
    if not platforms:  # a database flushed by a test: the default platform comes first
        platforms = [Platform.objects.create(slug="default", name="Default platform")]
    for platform in platforms:
        _seed_platform(apps, platform)


def _seed_platform(apps, platform):
    ReviewQueue = apps.get_model("refunds", "ReviewQueue")
    RoutingRule = apps.get_model("refunds", "RoutingRule")
    own = ReviewQueue.objects.filter(tenant=platform)
    if not own.filter(slug="forensic").exists():
        own.filter(slug="likely-forgery").update(slug="forensic", name="Forensic")
    queues = {}
    for slug, name, description, priority, sla in QUEUES:
        queues[slug], _ = ReviewQueue.objects.get_or_create(
            tenant=platform,
            slug=slug,
            defaults={
                "name": name,
                "description": description,
                "priority": priority,
                "sla_hours": sla,
            },
        )
    for position, name, slug, conditions, active in RULES:
        RoutingRule.objects.get_or_create(
            name=name,
            queue__tenant=platform,
            defaults={
                "position": position,
                "queue": queues[slug],
                "is_active": active,
                **conditions,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("refunds", "0007_review_routing_v2"), ("merchants", "0003_tenancy_platform")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
