"""The review queues and routing rules a platform starts with.

``merchants.services.platform_create`` calls ``platform_seed`` for every new platform, so
that a platform added in the admin (or by a command) routes its claims exactly as the
platforms that existed when migration ``refunds/0008`` seeded them: appeals, legal,
forensic, high-value, repeat-claimant and standard queues, and the rules that fill them.
The migration keeps its own frozen copy of this list (a migration must not import code
that later sessions change); this module is the living one.

Seeding is idempotent: a queue or rule that exists (by slug, by name) is kept as it is,
so a platform administrator's edits are never overwritten.
"""

from __future__ import annotations

from django.db import transaction

QUEUES = [
    # slug, name, description, priority, SLA hours
    (
        "appeals",
        "Appeals",
        "Decided claims appealed by a party; a senior reviewer decides.",
        10,
        24,
    ),
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


def platform_seed(*, platform) -> None:
    """Give ``platform`` the seed queues and routing rules it lacks (nothing else is
    touched: an existing queue of a seed slug or rule of a seed name stays as it is)."""
    from refunds.models import ReviewQueue, RoutingRule

    with transaction.atomic():
        queues = {}
        for slug, name, description, priority, sla in QUEUES:
            queues[slug], _created = ReviewQueue.objects.get_or_create(
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
