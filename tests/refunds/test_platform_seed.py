"""A platform added after the migrations starts with the same review queues and routing
rules as the platforms the migration seeded (``refunds.seed``, docs/tenancy.md): before
it, a new platform had only the "standard" and "forensic" queues made on first use, so
its appeals, legal cases, high-value and repeat claimants all waited in "standard"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from merchants.models import DEFAULT_PLATFORM_SLUG, Platform
from merchants.services import platform_create
from refunds import seed
from refunds.models import ReviewQueue, RoutingRule
from tests.platforms import claim_in_review, platform_world

SEED_SLUGS = {slug for slug, *_rest in seed.QUEUES}
SEED_RULES = {name for _position, name, *_rest in seed.RULES}

pytestmark = pytest.mark.django_db


def _queues(platform) -> dict[str, ReviewQueue]:
    return {q.slug: q for q in ReviewQueue.objects.filter(tenant=platform)}


def test_a_new_platform_gets_the_seed_queues_and_rules_of_its_own():
    default = Platform.objects.get(slug=DEFAULT_PLATFORM_SLUG)
    default_rows = (
        ReviewQueue.objects.filter(tenant=default).count(),
        RoutingRule.objects.filter(queue__tenant=default).count(),
    )

    platform = platform_create(slug="market-n", name="Market N")

    queues = _queues(platform)
    assert set(queues) == SEED_SLUGS
    assert (queues["forensic"].priority, queues["forensic"].sla_hours) == (20, 12)
    rules = RoutingRule.objects.filter(queue__tenant=platform).select_related("queue")
    assert {r.name for r in rules} == SEED_RULES
    by_name = {r.name: r for r in rules}
    assert by_name["Amount at or above 3,000 CNY"].queue == queues["high-value"]
    assert by_name["Amount at or above 3,000 CNY"].min_amount == Decimal("3000")
    # deciding without a human stays off until the platform switches it on
    auto = by_name["Small claim, clean photos, good buyer, silent shop: refund"]
    assert (auto.is_active, auto.auto_outcome) == (False, "refund_approved")
    # nothing was added to another platform
    assert default_rows == (
        ReviewQueue.objects.filter(tenant=default).count(),
        RoutingRule.objects.filter(queue__tenant=default).count(),
    )


def test_the_living_seed_matches_what_the_migration_gave_the_default_platform():
    default = Platform.objects.get(slug=DEFAULT_PLATFORM_SLUG)
    migrated = _queues(default)
    assert SEED_SLUGS <= set(migrated)
    for slug, name, _description, priority, sla in seed.QUEUES:
        assert (migrated[slug].name, migrated[slug].priority, migrated[slug].sla_hours) == (
            name,
            priority,
            sla,
        )
    assert SEED_RULES <= set(
        RoutingRule.objects.filter(queue__tenant=default).values_list("name", flat=True)
    )


def test_seeding_again_adds_nothing_and_keeps_an_administrators_edits():
    platform = platform_create(slug="market-n", name="Market N")
    ReviewQueue.objects.filter(tenant=platform, slug="standard").update(sla_hours=6)
    RoutingRule.objects.filter(queue__tenant=platform, name="High risk score").update(
        min_risk_score=55
    )

    seed.platform_seed(platform=platform)

    assert ReviewQueue.objects.filter(tenant=platform).count() == len(SEED_SLUGS)
    assert RoutingRule.objects.filter(queue__tenant=platform).count() == len(SEED_RULES)
    assert _queues(platform)["standard"].sla_hours == 6
    assert (
        RoutingRule.objects.get(queue__tenant=platform, name="High risk score").min_risk_score == 55
    )


def test_a_new_platforms_high_value_claim_waits_in_its_own_high_value_queue(django_user_model):
    world = platform_world("market-h", django_user_model=django_user_model)

    big = claim_in_review(world, 1, amount=Decimal("3500.00"), total=Decimal("3600.00"))
    small = claim_in_review(world, 2)

    assert (big.queue.tenant_id, big.queue.slug) == (world.platform.pk, "high-value")
    assert (small.queue.tenant_id, small.queue.slug) == (world.platform.pk, "standard")


def test_a_platform_added_in_the_admin_is_seeded_and_keeps_its_slug(admin_client):
    response = admin_client.post(
        reverse("admin:merchants_platform_add"),
        {"name": "Market A", "slug": "market-a", "network_pseudonym": ""},
    )
    assert response.status_code == 302, response.content
    platform = Platform.objects.get(slug="market-a")
    assert set(_queues(platform)) == SEED_SLUGS

    response = admin_client.post(
        reverse("admin:merchants_platform_change", args=[platform.pk]),
        {
            "name": "Market A renamed",
            "slug": "elsewhere",
            "joins_credit_network": "on",
            "network_pseudonym": "Member A",
        },
    )
    assert response.status_code == 302, response.content
    platform.refresh_from_db()
    assert (platform.name, platform.slug, platform.joins_credit_network) == (
        "Market A renamed",
        "market-a",
        True,
    )
    assert platform.network_pseudonym == "Member A"
    assert ReviewQueue.objects.filter(tenant=platform).count() == len(SEED_SLUGS)


# --- a queue keeps its platform and slug; it escalates within its platform ----------------


def test_a_queues_platform_and_slug_are_fixed_and_it_escalates_only_within_its_platform(
    admin_client,
):
    from django.core.exceptions import ValidationError

    from refunds.services import review_queue_save

    ours = platform_create(slug="market-n", name="Market N")
    theirs = platform_create(slug="market-m", name="Market M")
    standard = ReviewQueue.objects.get(tenant=ours, slug="standard")
    foreign = ReviewQueue.objects.get(tenant=theirs, slug="forensic")

    url = reverse("admin:refunds_reviewqueue_change", args=[standard.pk])
    base = {"name": "Standard", "priority": "100", "sla_hours": "48", "lease_minutes": "60"}
    refused = admin_client.post(
        url, {**base, "sla_escalate_to": foreign.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert refused.status_code == 200
    assert "Choose another queue of the same platform." in refused.content.decode()

    own_forensic = ReviewQueue.objects.get(tenant=ours, slug="forensic")
    saved = admin_client.post(
        url, {**base, "sla_escalate_to": own_forensic.pk, "slug": "x", "tenant": theirs.pk}
    )
    assert saved.status_code == 302, saved.content
    standard.refresh_from_db()
    assert (standard.tenant, standard.slug, standard.sla_escalate_to) == (
        ours,
        "standard",
        own_forensic,
    )

    # the service refuses what the form no longer offers
    standard.tenant, standard.slug = theirs, "elsewhere"
    with pytest.raises(ValidationError) as refusal:
        review_queue_save(queue=standard)
    assert {"tenant", "slug"} <= set(refusal.value.message_dict)
    assert ReviewQueue.objects.get(pk=standard.pk).tenant == ours
