from django.db import migrations

QUEUES = [
    ("appeals", "Appeals", "Decided claims appealed by a party; a second reviewer decides.", 10, 24),
    ("likely-forgery", "Likely forgery", "Strong signs the evidence was edited, generated or copied.", 20, 12),
    ("high-value", "High value", "Claims of 3,000 CNY or more (criminal-law threshold).", 30, 24),
    ("standard", "Standard", "Everything else.", 100, 48),
]
RULES = [
    (10, "Copy of the merchant's listing photo", "likely-forgery", {"finding_code": "reference_copy"}),
    (20, "High risk score", "likely-forgery", {"min_risk_score": 70}),
    (30, "Amount at or above 3,000 CNY", "high-value", {"min_amount": "3000"}),
]


def seed(apps, schema_editor):
    ReviewQueue = apps.get_model("refunds", "ReviewQueue")
    RoutingRule = apps.get_model("refunds", "RoutingRule")
    Group = apps.get_model("auth", "Group")
    queues = {}
    for slug, name, description, priority, sla in QUEUES:
        queues[slug], _ = ReviewQueue.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "description": description, "priority": priority,
                      "sla_hours": sla},
        )
    for position, name, slug, conditions in RULES:
        RoutingRule.objects.get_or_create(
            name=name, defaults={"position": position, "queue": queues[slug], **conditions}
        )
    for group in ("reviewers", "senior reviewers"):
        Group.objects.get_or_create(name=group)


class Migration(migrations.Migration):
    dependencies = [("refunds", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
