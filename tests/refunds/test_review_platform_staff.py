"""A reviewer belongs to exactly one platform (docs/tenancy.md, "Reviewers"): one
``PlatformStaff`` row per user (a one-to-one key), written for every reviewer and staff
member who relied on the default platform by ``merchants/0004_review_staff_one_platform``;
moving a reviewer to another platform is refused while they hold a claim of the old one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from merchants.models import PlatformStaff, default_platform_pk
from merchants.services import platform_create, platform_staff_assign
from refunds import policy, services
from refunds.exceptions import ClaimValidationError, NotAllowed
from tests.platforms import claim_in_review, platform_world

BEFORE = [("merchants", "0003_tenancy_platform")]


@pytest.fixture
def market(django_user_model, db):
    return platform_world("market-b", django_user_model=django_user_model)


@pytest.mark.django_db
def test_a_user_has_at_most_one_platform_row(market):
    other = platform_create(slug="market-c", name="Market C")
    with pytest.raises(IntegrityError), transaction.atomic():
        PlatformStaff.objects.create(user=market.reviewer, platform=other)
    assert PlatformStaff.objects.filter(user=market.reviewer).count() == 1


@pytest.mark.django_db
def test_moving_a_reviewer_is_refused_while_they_hold_a_claim_of_their_platform(market):
    claim = claim_in_review(market, 1)
    services.claim_assign(claim=claim, reviewer=market.reviewer)
    other = platform_create(slug="market-c", name="Market C")

    with pytest.raises(ClaimValidationError, match="holds claims"):
        platform_staff_assign(user=market.reviewer, platform=other)
    assert PlatformStaff.objects.get(user=market.reviewer).platform == market.platform

    # Assigning the platform they already work for changes nothing.
    same = platform_staff_assign(user=market.reviewer, platform=market.platform)
    assert same.platform == market.platform

    services.claim_release(claim=claim, reviewer=market.reviewer)
    moved = platform_staff_assign(user=market.reviewer, platform=other)
    assert moved.platform == other
    assert policy.reviewer_platform_id(market.reviewer) == other.pk


@pytest.mark.django_db
def test_a_claim_held_across_a_move_made_around_the_service_is_not_decided_and_expires(market):
    """A row changed by hand (or before this rule) while its reviewer held a claim: the
    reviewer works for the new platform only, so the old claim is neither decided nor
    kept; the lease sweep gives it back to its queue."""
    claim = claim_in_review(market, 1)
    services.claim_assign(claim=claim, reviewer=market.reviewer)
    other = platform_create(slug="market-c", name="Market C")
    PlatformStaff.objects.filter(user=market.reviewer).update(platform=other)
    market.reviewer.__dict__.pop("_claimlens_roles", None)

    with pytest.raises(NotAllowed, match="another platform"):
        services.claim_decide(
            claim=claim,
            reviewer=market.reviewer,
            outcome="refund_approved",
            rationale="The photo is genuine.",
        )

    services.leases_expire(now=timezone.now() + dt.timedelta(hours=2))
    claim.refresh_from_db()
    assert claim.held_by_id is None and claim.status == "in_review"


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_reviewer_and_staff_member_without_a_platform_the_default(
    django_user_model,
):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    users = old.get_model("auth", "User")
    groups = old.get_model("auth", "Group")
    platforms = old.get_model("merchants", "Platform")
    staff_rows = old.get_model("merchants", "PlatformStaff")

    # given: reviewers and staff as before this migration
    default = platforms.objects.get_or_create(slug="default", defaults={"name": "Default"})[0]
    market = platforms.objects.create(slug="market-b", name="Market B")
    reviewers = groups.objects.get_or_create(name="reviewers")[0]
    seniors = groups.objects.get_or_create(name="senior reviewers")[0]
    junior = users.objects.create(username="junior")
    junior.groups.add(reviewers)
    senior = users.objects.create(username="senior")
    senior.groups.add(seniors)
    users.objects.create(username="clerk", is_staff=True)
    theirs = users.objects.create(username="theirs")
    theirs.groups.add(reviewers)
    staff_rows.objects.create(user=theirs, platform=market)
    operator = users.objects.create(username="operator", is_staff=True, is_superuser=True)
    buyer_side = users.objects.create(username="shopkeeper")

    # when
    MigrationExecutor(connection).migrate(latest)

    # then: everybody who worked for the default platform has its row; the rest are kept
    rows = dict(PlatformStaff.objects.values_list("user__username", "platform_id"))
    assert rows == {
        "junior": default.pk,
        "senior": default.pk,
        "clerk": default.pk,
        "theirs": market.pk,
    }
    # the operator still sees every platform, a shop's member is no reviewer
    assert operator.username not in rows and buyer_side.username not in rows
    assert default_platform_pk() == default.pk


# --- The admin writes through the same services -------------------------------------------


@pytest.fixture
def holding(market):
    """The market's reviewer holds one of its claims."""
    claim = claim_in_review(market, 1)
    services.claim_assign(claim=claim, reviewer=market.reviewer)
    return claim


@pytest.mark.django_db
def test_the_admin_refuses_to_move_a_reviewer_who_holds_a_claim(admin_client, market, holding):
    from django.urls import reverse

    other = platform_create(slug="market-c", name="Market C")
    staff = PlatformStaff.objects.get(user=market.reviewer)
    url = reverse("admin:merchants_platformstaff_change", args=[staff.pk])

    response = admin_client.post(url, {"platform": other.pk}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200  # the form again, with the service's reason
    assert "decide or release them" in response.content.decode()
    assert PlatformStaff.objects.get(user=market.reviewer).platform == market.platform

    services.claim_release(claim=holding, reviewer=market.reviewer)
    response = admin_client.post(url, {"platform": other.pk, "user": "999"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert (staff.user, staff.platform) == (market.reviewer, other)  # the user is read-only


@pytest.mark.django_db
def test_the_admin_refuses_to_delete_the_row_of_a_reviewer_who_holds_a_claim(
    admin_client, market, holding
):
    from django.urls import reverse

    staff = PlatformStaff.objects.get(user=market.reviewer)
    url = reverse("admin:merchants_platformstaff_delete", args=[staff.pk])
    changelist = admin_client.get(reverse("admin:merchants_platformstaff_changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()  # no bulk delete around it

    refused = admin_client.post(url, {"post": "yes"}, follow=True, HTTP_ACCEPT_LANGUAGE="en")

    assert "decide or release them" in refused.content.decode()
    assert PlatformStaff.objects.filter(pk=staff.pk).exists()

    services.claim_release(claim=holding, reviewer=market.reviewer)
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not PlatformStaff.objects.filter(user=market.reviewer).exists()
    reviewer = type(market.reviewer).objects.get(pk=market.reviewer.pk)  # roles read anew
    assert policy.reviewer_platform_id(reviewer) == default_platform_pk()


@pytest.mark.django_db
def test_the_admin_adds_a_reviewer_to_a_platform_through_the_service(
    admin_client, market, django_user_model
):
    from django.urls import reverse

    newcomer = django_user_model.objects.create_user("newcomer")

    response = admin_client.post(
        reverse("admin:merchants_platformstaff_add"),
        {"user": newcomer.pk, "platform": market.platform.pk},
    )

    assert response.status_code == 302, response.content
    assert PlatformStaff.objects.get(user=newcomer).platform == market.platform
