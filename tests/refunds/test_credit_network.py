"""The buyer-credit network across platforms (refunds.credit_network): a member's reviewer
sees the fraud tier the network crosses and the other members' counts under their
pseudonyms, never their claims or the buyer's personal data there; a platform outside
the network neither contributes nor sees."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from tests.platforms import claim_in_review, platform_world

pytestmark = pytest.mark.django_db
KEY = "network-key-for-tests-only"


@pytest.fixture(autouse=True)
def _network_key(settings):
    settings.CREDIT_NETWORK_KEY = KEY
    settings.CREDIT_NETWORK_KEY_VERSION = 1


@pytest.fixture
def worlds(django_user_model):
    from refunds.services import buyer_upsert

    alpha = platform_world(
        "alpha", django_user_model=django_user_model, joins_network=True, pseudonym="Blue market"
    )
    beta = platform_world("beta", django_user_model=django_user_model, joins_network=True)
    gamma = platform_world("gamma", django_user_model=django_user_model)
    # The same person on beta, the phone written another way; another name.
    beta.buyer = buyer_upsert(
        platform_id="buyer-9",
        display_name="Secret Beta Name",
        phone="+86 139-0000-0009",
        tenant=beta.platform,
    )
    return alpha, beta, gamma


def _forged(world, number, amount):
    """A claim of ``amount`` CNY that the platform's reviewer found forged."""
    from refunds import services

    claim = claim_in_review(world, number, amount=amount, total=amount)
    services.claim_assign(claim=claim, reviewer=world.reviewer)
    return services.claim_decide(
        claim=claim,
        reviewer=world.reviewer,
        outcome="refund_denied",
        rationale="The photo is the listing photo with a painted crack.",
        confirmed_forgery=True,
    )


@pytest.fixture
def crossed_across_network(worlds):
    """Neither platform alone reaches 3,000 CNY; together they do."""
    from refunds.credit_network import credit_network_refresh

    alpha, beta, gamma = worlds
    beta_claims = [_forged(beta, 1, Decimal("1500.00")), _forged(beta, 2, Decimal("1000.00"))]
    _forged(gamma, 1, Decimal("9000.00"))  # not a member: never counted
    _forged(alpha, 1, Decimal("600.00"))
    current = claim_in_review(alpha, 2)
    assert credit_network_refresh() == 2  # alpha's buyer, beta's buyer; gamma's never
    return current, beta_claims


def _review_page(world, claim) -> str:
    browser = Client()
    browser.force_login(world.reviewer)
    response = browser.get(
        reverse("review_claim", kwargs={"claim_id": claim.pk}), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    return response.content.decode()


def test_reviewer_sees_the_tier_crossed_across_platforms(worlds, crossed_across_network):
    from refunds.credit_network import network_credit_for_buyer
    from refunds.selectors import buyer_credit

    alpha, beta, _ = worlds
    current, _ = crossed_across_network
    assert buyer_credit(buyer=current.buyer_id).tier == ""  # alone: below the tier
    network = network_credit_for_buyer(buyer=current.buyer)
    assert network.tier == "relatively_large"
    assert network.forged_amount == Decimal("3100.00")
    [member] = network.members
    assert (member.label, member.claims, member.confirmed_forgeries) == (
        f"Platform {beta.platform.pk}",
        2,
        2,
    )
    assert member.forged_amount == Decimal("2500.00")
    page = _review_page(alpha, current)
    assert 'id="credit-network"' in page
    assert f"Platform {beta.platform.pk}" in page
    assert "¥3100.00" in page


def test_no_other_platforms_data_reaches_the_page_or_the_api(worlds, crossed_across_network):
    from rest_framework.test import APIClient

    alpha, beta, _ = worlds
    current, beta_claims = crossed_across_network
    page = _review_page(alpha, current)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {alpha.token}")
    answer = api.get(f"/api/v1/claims/{current.pk}/").content.decode()
    for body in (page, answer):
        assert "Secret Beta Name" not in body
        assert "+86 139" not in body
        assert beta.shop.name not in body
        assert "beta 路" not in body  # beta's shipping address
        for claim in beta_claims:
            assert reverse("review_claim", kwargs={"claim_id": claim.pk}) not in body
            assert f"#{claim.pk}" not in body
    assert "Blue market" not in page  # a member never sees itself listed


def test_the_contribution_holds_a_keyed_hash_and_figures_only(worlds, crossed_across_network):
    from refunds.credit_network import subject_hash
    from refunds.models import NetworkCreditContribution

    alpha, beta, _ = worlds
    row = NetworkCreditContribution.objects.get(tenant=beta.platform)
    # no column but the hash holds the phone or a piece of it (timestamps and ids are
    # digits too, so the test looks for the subscriber number, not for "139")
    values = " ".join(str(v) for k, v in row.__dict__.items() if k != "subject_hash")
    assert "13900000009" not in values and "00000009" not in values
    assert row.subject_hash == subject_hash("13900000009")
    assert row.subject_hash != hashlib.sha256(b"13900000009").hexdigest()
    assert row.subject_hash != hashlib.sha256(b"phone:13900000009").hexdigest()
    assert (row.claims, row.orders, row.confirmed_forgeries) == (2, 2, 2)
    assert row.refund_only_rate == Decimal("1.00")


def test_a_platform_outside_the_network_neither_contributes_nor_sees(
    worlds, crossed_across_network
):
    from refunds.models import NetworkCreditContribution

    _, _, gamma = worlds
    assert not NetworkCreditContribution.objects.filter(tenant=gamma.platform).exists()
    gamma_claim = claim_in_review(gamma, 2)
    assert 'id="credit-network"' not in _review_page(gamma, gamma_claim)


def test_a_platform_that_leaves_is_removed_and_sees_nothing(worlds, crossed_across_network):
    from refunds.credit_network import credit_network_refresh, network_credit_for_buyer
    from refunds.models import NetworkCreditContribution

    alpha, beta, _ = worlds
    current, _ = crossed_across_network
    beta.platform.joins_credit_network = False
    beta.platform.save(update_fields=["joins_credit_network"])
    # Even before the refresh, a member that left is no longer read.
    assert network_credit_for_buyer(buyer=current.buyer).members == []
    credit_network_refresh()
    assert not NetworkCreditContribution.objects.filter(tenant=beta.platform).exists()
    beta_claim = claim_in_review(beta, 3)
    assert 'id="credit-network"' not in _review_page(beta, beta_claim)
    assert network_credit_for_buyer(buyer=current.buyer).tier == ""


def test_refresh_is_bounded_and_picks_up_changes_and_key_rotation(worlds, settings):
    from refunds.credit_network import credit_network_refresh
    from refunds.models import NetworkCreditContribution

    alpha, beta, _ = worlds
    claim_in_review(alpha, 1)
    claim_in_review(beta, 1)
    assert credit_network_refresh(limit=1) == 1
    assert credit_network_refresh(limit=1) == 1
    assert credit_network_refresh(limit=5) == 0  # nothing changed since
    _forged(beta, 2, Decimal("100.00"))
    assert credit_network_refresh(limit=5) == 1
    assert NetworkCreditContribution.objects.get(tenant=beta.platform).claims == 2
    old = set(NetworkCreditContribution.objects.values_list("subject_hash", flat=True))
    settings.CREDIT_NETWORK_KEY, settings.CREDIT_NETWORK_KEY_VERSION = "rotated-key", 2
    assert credit_network_refresh(limit=5) == 2
    rows = NetworkCreditContribution.objects.all()
    assert {r.key_version for r in rows} == {2}
    assert not old & {r.subject_hash for r in rows}


def test_without_a_key_the_network_is_off(worlds, crossed_across_network, settings):
    from refunds.credit_network import credit_network_refresh, network_credit_for_buyer
    from refunds.models import NetworkCreditContribution

    current, _ = crossed_across_network
    settings.CREDIT_NETWORK_KEY = ""
    assert network_credit_for_buyer(buyer=current.buyer) is None
    credit_network_refresh()
    assert not NetworkCreditContribution.objects.exists()
