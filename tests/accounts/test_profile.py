"""The profile page: the user's shops and role in each (an owner manages the shop, an
agent answers claims), their platform role, their language; nobody else's shops."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.services import profile_set_language
from tests.accounts.conftest import EN, ZH


def _profile(client, user, **headers):
    client.force_login(user)
    response = client.get(reverse("profile"), **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_owner_sees_the_shop_and_that_they_manage_it(client, alice, shop_a):
    html = _profile(client, alice, **EN)

    assert 'data-shop="shop-a"' in html
    assert "Shop A 家居" in html
    assert "Owner" in html
    assert "manage the shop's members and products" in html
    assert "No platform role" in html


def test_agent_sees_the_shop_and_that_they_answer_claims_only(client, agnes, shop_a):
    html = _profile(client, agnes, **EN)

    assert "Shop A 家居" in html
    assert "Agent" in html
    assert "Answer claims" in html
    assert "members and products" not in html


def test_profile_shows_only_the_users_own_shops(client, bob, shop_a, shop_b, alice):
    html = _profile(client, bob, **EN)

    assert "Shop B 数码" in html
    assert "Shop A 家居" not in html and 'data-shop="shop-a"' not in html


def test_an_inactive_shop_is_not_listed(client, alice, shop_a):
    shop_a.is_active = False
    shop_a.save()

    html = _profile(client, alice, **EN)

    assert "Shop A 家居" not in html
    assert "You do not act for any shop." in html


@pytest.mark.parametrize(
    ("persona", "role", "text"),
    [
        ("charlie", "reviewer", "Reviewer: reviews and decides claims"),
        ("dora", "senior", "Senior reviewer: reviews claims and decides appeals"),
    ],
)
def test_reviewers_see_their_platform_role(client, request, persona, role, text):
    html = _profile(client, request.getfixturevalue(persona), **EN)

    assert f'data-role="{role}"' in html
    assert text in html
    assert "You do not act for any shop." in html
    # reviewers keep their navigation on this page
    assert reverse("review_queues") in html


def test_profile_in_chinese(client, alice, agnes):
    html = _profile(client, alice, **ZH)

    assert '<html lang="zh-hans">' in html
    assert "我的账户" in html and "我的店铺" in html
    assert "店主" in html
    assert "答复申请；管理店铺成员和商品" in html
    assert "您尚未选择语言：页面跟随浏览器的语言。" in html


def test_profile_names_the_stored_language(client, alice):
    profile_set_language(user=alice, language="en")

    html = _profile(client, alice, **ZH)

    assert "您的页面和邮件使用<strong>English</strong>。" in html


def test_every_page_links_to_the_profile(client, alice):
    client.force_login(alice)

    html = client.get(reverse("merchant_inbox"), **EN).content.decode()

    assert f'href="{reverse("profile")}"' in html


def test_profile_needs_a_login(client, db):
    response = client.get(reverse("profile"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_profile_query_count_does_not_grow_with_shops(
    client, django_user_model, django_assert_num_queries, alice
):
    from merchants.models import Merchant
    from merchants.services import membership_add

    for number in range(5):
        shop = Merchant.objects.create(platform_id=f"more-{number}", name=f"More {number}")
        membership_add(merchant=shop, user=alice, role="owner" if number % 2 else "agent")
    client.force_login(alice)

    # session, user, memberships, groups + shops (roles, once), the stored language
    with django_assert_num_queries(6):
        response = client.get(reverse("profile"), **EN)

    assert response.content.decode().count("data-shop=") == 6


def test_profile_page_is_strict(client, alice):
    from tests.web.test_security_headers import assert_html_page, assert_private

    client.force_login(alice)
    response = client.get(reverse("profile"), **EN)

    assert_html_page(response)
    assert_private(response)
