"""Roles in a shop: an agent answers claims; only an owner manages the members and the
products. The rules are refunds.policy's, enforced by merchants.services on the user
performing the action (``by``); ``by=None`` is the platform (API, admin, commands)."""

from __future__ import annotations

import pytest

from merchants.models import Membership, Product
from merchants.services import membership_add, membership_remove, product_create
from refunds import policy
from refunds.exceptions import NotAllowed


@pytest.fixture(autouse=True)
def _in_english():
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def agnes(django_user_model, shop_a, alice):
    """An agent of shop A, added by its owner."""
    user = django_user_model.objects.create_user("agnes", password="pw-agnes-123")
    membership_add(merchant=shop_a, user=user, role="agent", by=alice)
    return user


@pytest.fixture
def newcomer(django_user_model, db):
    return django_user_model.objects.create_user("nina", password="pw-nina-123")


def _members(shop) -> set[tuple[str, str]]:
    return set(shop.memberships.values_list("user__username", "role"))


# --- the policy ---------------------------------------------------------------------------


def test_only_an_owner_may_manage_members_and_products(alice, agnes, bob, charlie, shop_a):
    assert policy.can_manage_members(alice, shop_a)
    assert policy.can_manage_products(alice, shop_a)
    for user in (agnes, bob, charlie):
        members, products = (
            policy.can_manage_members(user, shop_a),
            policy.can_manage_products(user, shop_a),
        )
        assert not members and not products
        assert members.reason == "Only an owner of the shop can manage its members."
        assert products.reason == "Only an owner of the shop can manage its products."


def test_a_superuser_is_no_owner_of_a_shop(django_user_model, shop_a):
    root = django_user_model.objects.create_superuser("root", password="pw-root-123")

    assert not policy.can_manage_members(root, shop_a)


def test_the_owner_of_an_inactive_shop_manages_nothing(alice, shop_a):
    shop_a.is_active = False
    shop_a.save()

    assert not policy.can_manage_members(alice, shop_a)
    assert not policy.can_manage_products(alice, shop_a)


def test_an_agent_still_answers_claims(agnes, shop_a, make_claim):
    from refunds import services

    claim = make_claim(shop_a)
    assert policy.can_respond(agnes, claim)

    services.claim_merchant_respond(
        claim=claim, user=agnes, response="contest", statement="裂痕是画上去的 painted cracks"
    )

    claim.refresh_from_db()
    assert claim.merchant_response == "contest"


# --- the services refuse an agent ---------------------------------------------------------


def test_an_agent_cannot_add_a_member(agnes, newcomer, shop_a):
    before = _members(shop_a)

    with pytest.raises(NotAllowed, match="Only an owner"):
        membership_add(merchant=shop_a, user=newcomer, role="agent", by=agnes)

    assert _members(shop_a) == before


def test_an_agent_cannot_make_themselves_an_owner(agnes, shop_a):
    with pytest.raises(NotAllowed):
        membership_add(merchant=shop_a, user=agnes, role="owner", by=agnes)

    assert Membership.objects.get(merchant=shop_a, user=agnes).role == "agent"


def test_an_agent_cannot_remove_a_member(agnes, alice, shop_a):
    before = _members(shop_a)

    with pytest.raises(NotAllowed):
        membership_remove(merchant=shop_a, user=alice, by=agnes)

    assert _members(shop_a) == before


def test_an_agent_cannot_create_a_product(agnes, shop_a):
    with pytest.raises(NotAllowed, match="Only an owner"):
        product_create(merchant=shop_a, platform_id="p-1", title="Mug", by=agnes)

    assert not Product.objects.exists()


def test_another_shops_owner_cannot_manage_this_shop(bob, newcomer, shop_a):
    with pytest.raises(NotAllowed):
        membership_add(merchant=shop_a, user=newcomer, by=bob)
    with pytest.raises(NotAllowed):
        product_create(merchant=shop_a, platform_id="p-1", title="Mug", by=bob)

    assert not shop_a.memberships.filter(user=newcomer).exists()
    assert not Product.objects.exists()


# --- an owner may ------------------------------------------------------------------------------


def test_an_owner_adds_changes_and_removes_members(alice, newcomer, shop_a):
    membership_add(merchant=shop_a, user=newcomer, role="agent", by=alice)
    assert ("nina", "agent") in _members(shop_a)

    membership_add(merchant=shop_a, user=newcomer, role="owner", by=alice)
    assert ("nina", "owner") in _members(shop_a)

    membership_remove(merchant=shop_a, user=newcomer, by=alice)
    assert _members(shop_a) == {("alice", "owner")}


def test_an_owner_creates_products(alice, shop_a):
    product = product_create(merchant=shop_a, platform_id="p-1", title="Mug", by=alice)

    assert product.merchant == shop_a


def test_the_platform_acts_without_a_user(shop_a, newcomer):
    """Existing callers (API, admin, commands, the demo loader) pass no ``by``."""
    membership_add(merchant=shop_a, user=newcomer, role="owner")
    product_create(merchant=shop_a, platform_id="p-1", title="Mug")

    assert _members(shop_a) == {("nina", "owner")}
    assert Product.objects.filter(merchant=shop_a).count() == 1


def test_an_unknown_role_is_refused(alice, newcomer, shop_a):
    from refunds.exceptions import ClaimValidationError

    with pytest.raises(ClaimValidationError):
        membership_add(merchant=shop_a, user=newcomer, role="boss", by=alice)


# --- a shop keeps an owner ---------------------------------------------------------------------


def test_the_last_owner_can_be_neither_demoted_nor_removed(alice, shop_a):
    with pytest.raises(NotAllowed, match="at least one owner"):
        membership_add(merchant=shop_a, user=alice, role="agent", by=alice)
    with pytest.raises(NotAllowed, match="at least one owner"):
        membership_remove(merchant=shop_a, user=alice, by=alice)
    with pytest.raises(NotAllowed, match="at least one owner"):
        membership_remove(merchant=shop_a, user=alice)  # not by the platform either

    assert _members(shop_a) == {("alice", "owner")}


def test_with_a_second_owner_an_owner_may_step_down(alice, newcomer, shop_a):
    membership_add(merchant=shop_a, user=newcomer, role="owner", by=alice)

    membership_add(merchant=shop_a, user=alice, role="agent", by=alice)

    assert _members(shop_a) == {("alice", "agent"), ("nina", "owner")}


# --- the admin writes through the same services -------------------------------------------


def _membership_url(name: str, *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:merchants_membership_{name}", args=args)


def test_the_admin_refuses_to_demote_a_shops_last_owner(admin_client, shop_a, alice):
    owner = Membership.objects.get(merchant=shop_a, user=alice)

    response = admin_client.post(
        _membership_url("change", owner.pk), {"role": "agent"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200  # the form again, with the rule's reason
    assert "A shop keeps at least one owner." in response.content.decode()
    assert _members(shop_a) == {("alice", "owner")}


def test_the_admin_refuses_to_delete_a_shops_last_owner(admin_client, shop_a, alice, agnes):
    owner = Membership.objects.get(merchant=shop_a, user=alice)
    changelist = admin_client.get(_membership_url("changelist"))
    assert "delete_selected" not in changelist.content.decode()

    refused = admin_client.post(
        _membership_url("delete", owner.pk),
        {"post": "yes"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert "A shop keeps at least one owner." in refused.content.decode()
    assert _members(shop_a) == {("alice", "owner"), ("agnes", "agent")}
    agent = Membership.objects.get(merchant=shop_a, user=agnes)
    assert (
        admin_client.post(_membership_url("delete", agent.pk), {"post": "yes"}).status_code == 302
    )
    assert _members(shop_a) == {("alice", "owner")}


def test_the_admin_adds_and_promotes_members_through_the_service(
    admin_client, shop_a, alice, newcomer
):
    response = admin_client.post(
        _membership_url("add"), {"user": newcomer.pk, "merchant": shop_a.pk, "role": "owner"}
    )
    assert response.status_code == 302, response.content
    # two owners: now alice may step down to agent
    owner = Membership.objects.get(merchant=shop_a, user=alice)
    response = admin_client.post(_membership_url("change", owner.pk), {"role": "agent"})
    assert response.status_code == 302, response.content
    assert _members(shop_a) == {("alice", "agent"), ("nina", "owner")}


def test_the_shops_admin_page_shows_its_members_without_editing_them(admin_client, shop_a, alice):
    from django.urls import reverse

    page = admin_client.get(reverse("admin:merchants_merchant_change", args=[shop_a.pk]))

    assert page.status_code == 200
    (inline,) = page.context["inline_admin_formsets"]
    assert inline.formset.total_form_count() == 1
    assert "alice" in page.content.decode()
    assert not inline.has_add_permission and not inline.has_delete_permission
