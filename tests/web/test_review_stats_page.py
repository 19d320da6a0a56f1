"""The reviewers' statistics page: access, languages, the period, the query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from refunds.models import Decision

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def test_reviewer_sees_the_statistics_in_english(
    client, alice, charlie, shop_a, make_claim, contest_and_decide
):
    contest_and_decide(make_claim(shop_a), alice, charlie)
    client.force_login(charlie)

    response = client.get(reverse("review_stats"), **EN)

    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Statistics</h1>" in page
    assert response.context["stats"].decisions == 1
    assert '<div class="count" data-figure="decisions">1</div>' in page
    assert '<div class="count" data-figure="forgery-share">100%</div>' in page
    assert "charlie" in page
    assert "Median time from taking to deciding" in page


def test_reviewer_sees_the_statistics_in_simplified_chinese(
    client, alice, charlie, shop_a, make_claim, zh_catalogue, contest_and_decide
):
    contest_and_decide(make_claim(shop_a), alice, charlie)
    client.force_login(charlie)

    page = client.get(reverse("review_stats"), **ZH).content.decode()

    assert '<html lang="zh-hans">' in page
    assert "<h1>统计</h1>" in page
    assert "当前工作量" in page
    assert "最近 30 天的裁决与自动检测" in page
    assert "从领取到裁决的用时中位数" in page
    assert "Workload now" not in page


def test_merchant_cannot_open_the_statistics(client, alice):
    client.force_login(alice)

    response = client.get(reverse("review_stats"), **EN)

    assert response.status_code == 404


def test_anonymous_is_sent_to_login_from_the_statistics(client):
    response = client.get(reverse("review_stats"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_period_parameter_selects_the_decisions(
    client, alice, charlie, shop_a, make_claim, contest_and_decide
):
    claim = contest_and_decide(make_claim(shop_a), alice, charlie)
    # Decided 20 days ago: in the last 30 days, not in the last 7.
    Decision.objects.filter(claim=claim).update(created_at=timezone.now() - dt.timedelta(days=20))
    client.force_login(charlie)

    week = client.get(reverse("review_stats"), {"days": "7"}, **EN)
    month = client.get(reverse("review_stats"), {"days": "30"}, **EN)

    assert week.context["days"] == 7
    assert week.context["stats"].decisions == 0
    assert "No reviewer decided a claim in this period." in week.content.decode()
    assert month.context["stats"].decisions == 1
    assert 'href="?days=7" class="active"' in week.content.decode()


@pytest.mark.parametrize("value", ["365", "abc", ""])
def test_a_bad_period_falls_back_to_30_days(client, charlie, value):
    client.force_login(charlie)

    response = client.get(reverse("review_stats"), {"days": value}, **EN)

    assert response.status_code == 200
    assert response.context["days"] == 30
    since = response.context["stats"].since
    assert abs(timezone.now() - dt.timedelta(days=30) - since) < dt.timedelta(minutes=1)
    assert 'href="?days=30" class="active"' in response.content.decode()


@pytest.mark.parametrize("claims", [1, 5])
def test_statistics_query_count_does_not_grow_with_claims(
    client,
    alice,
    charlie,
    dora,
    shop_a,
    make_claim,
    django_assert_num_queries,
    claims,
    contest_and_decide,
):
    for index in range(claims):
        contest_and_decide(make_claim(shop_a), alice, charlie if index % 2 else dora)
    make_claim(shop_a)
    client.force_login(charlie)

    # session, user, reviewer group, two scoring thresholds, then the selector's six:
    # workload, decisions, per reviewer, durations, risk bands, finding codes
    with django_assert_num_queries(11):
        response = client.get(reverse("review_stats"), **EN)
    assert response.status_code == 200
    assert response.context["stats"].decisions == claims


def test_reviewer_navigation_links_to_the_statistics(client, charlie):
    client.force_login(charlie)

    page = client.get(reverse("review_queues"), **EN).content.decode()

    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert f'href="{reverse("review_stats")}"' in nav
    assert ">Statistics</a>" in nav
