"""The reviewers' statistics page and its CSV (reporting.views): access, languages, the
date range and shop filter, the platform, the export, the query count."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from refunds.models import Decision
from reporting.services import rollups_rebuild

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def test_reviewer_sees_the_statistics_in_english(
    client, alice, charlie, shop_a, make_claim, contest_and_decide
):
    contest_and_decide(make_claim(shop_a), alice, charlie)
    rollups_rebuild()
    client.force_login(charlie)

    response = client.get(reverse("review_stats"), **EN)

    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Statistics</h1>" in page
    assert response.context["stats"].decisions == 1
    assert '<div class="count" data-figure="decisions">1</div>' in page
    assert '<div class="count" data-figure="forgery-share">100%</div>' in page
    assert '<div class="count" data-figure="money-protected">¥99.00</div>' in page
    assert "charlie" in page
    assert "Mean time from taking to deciding" in page
    assert '<title id="chart-outcomes-title">Claims decided per day, by outcome</title>' in page
    assert "refreshed every 5 minutes" in page


def test_reviewer_sees_the_statistics_in_simplified_chinese(
    client, alice, charlie, shop_a, make_claim, zh_catalogue, contest_and_decide
):
    contest_and_decide(make_claim(shop_a), alice, charlie)
    rollups_rebuild()
    client.force_login(charlie)

    page = client.get(reverse("review_stats"), **ZH).content.decode()

    assert '<html lang="zh-hans">' in page
    assert "<h1>统计</h1>" in page
    assert "每日裁决申请数（按结果）" in page
    assert "挽回金额" in page
    assert "下载 CSV" in page
    assert "Money protected" not in page


def test_merchant_cannot_open_the_statistics_nor_their_csv(client, alice):
    client.force_login(alice)

    assert client.get(reverse("review_stats"), **EN).status_code == 404
    assert client.get(reverse("review_stats_csv"), **EN).status_code == 404


def test_anonymous_is_sent_to_login_from_the_statistics(client):
    response = client.get(reverse("review_stats"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_custom_date_range_selects_the_decisions(
    client, alice, charlie, shop_a, make_claim, contest_and_decide
):
    claim = contest_and_decide(make_claim(shop_a), alice, charlie)
    decided = timezone.now() - dt.timedelta(days=20)
    Decision.objects.filter(claim=claim).update(created_at=decided)
    rollups_rebuild()
    client.force_login(charlie)
    day = timezone.localdate(decided)

    week = client.get(reverse("review_stats"), {"days": "7"}, **EN)
    that_day = client.get(reverse("review_stats"), {"start": day, "end": day}, **EN)
    after = client.get(
        reverse("review_stats"), {"start": day + dt.timedelta(days=1), "end": timezone.localdate()}
    )

    assert week.context["stats"].decisions == 0
    assert "No reviewer decided a claim in this period." in week.content.decode()
    assert 'href="?days=7" class="active"' in week.content.decode()
    assert that_day.context["stats"].decisions == 1
    assert that_day.context["stats"].period_days == 1
    assert after.context["stats"].decisions == 0


@pytest.mark.parametrize(
    "params", [{"days": "365"}, {"days": "abc"}, {"start": "2026-02-30"}, {"start": "x"}, {}]
)
def test_a_bad_period_falls_back_to_30_days(client, charlie, params):
    client.force_login(charlie)

    response = client.get(reverse("review_stats"), params, **EN)

    assert response.status_code == 200
    stats = response.context["stats"]
    assert (stats.period_days, stats.end) == (30, timezone.localdate())


def test_a_range_ending_before_it_starts_is_refused_with_a_message(client, charlie):
    client.force_login(charlie)

    response = client.get(
        reverse("review_stats"), {"start": "2026-05-10", "end": "2026-05-01"}, **EN
    )

    assert "The first day comes after the last." in response.content.decode()
    assert response.context["stats"].period_days == 30


def test_the_shop_filter_narrows_the_figures(
    client, alice, bob, charlie, shop_a, shop_b, make_claim, contest_and_decide
):
    contest_and_decide(make_claim(shop_a), alice, charlie)
    contest_and_decide(
        make_claim(shop_b), bob, charlie, outcome="refund_approved", confirmed_forgery=False
    )
    rollups_rebuild()
    client.force_login(charlie)

    every = client.get(reverse("review_stats"), **EN).context["stats"]
    only_b = client.get(reverse("review_stats"), {"merchant": shop_b.pk}, **EN)

    assert (every.claims, every.decisions) == (2, 2)
    stats = only_b.context["stats"]
    assert (stats.claims, stats.decisions, stats.decisions_by_outcome["refund_approved"]) == (
        1,
        1,
        1,
    )
    assert "Shop B 数码" in only_b.content.decode()


def test_a_reviewer_of_another_platform_sees_none_of_its_figures(
    client, django_user_model, alice, shop_a, charlie, make_claim, contest_and_decide
):
    from tests.platforms import platform_world

    contest_and_decide(make_claim(shop_a), alice, charlie)
    other = platform_world("pb", django_user_model=django_user_model)
    rollups_rebuild()
    client.force_login(other.reviewer)

    page = client.get(reverse("review_stats"), **EN)
    foreign_shop = client.get(reverse("review_stats"), {"merchant": shop_a.pk}, **EN)
    export = client.get(reverse("review_stats_csv"), {"merchant": shop_a.pk}, **EN)

    assert (page.context["stats"].claims, page.context["stats"].decisions) == (0, 0)
    assert "Shop A 家居" not in page.content.decode()
    assert foreign_shop.context["shop"] is None  # not a choice: the platform's figures
    assert foreign_shop.context["stats"].decisions == 0
    assert "charlie" not in export.content.decode("utf-8-sig")


def _csv(response):
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_csv_has_the_pages_figures_with_stable_keys(
    client, alice, charlie, shop_a, make_claim, contest_and_decide
):
    contest_and_decide(make_claim(shop_a), alice, charlie)
    make_claim(shop_a)
    rollups_rebuild()
    client.force_login(charlie)
    today = timezone.localdate().isoformat()

    response = client.get(
        reverse("review_stats_csv"), {"start": today, "end": today, "merchant": shop_a.pk}, **ZH
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"claimlens-statistics-{today}-{today}.csv" in response["Content-Disposition"]
    rows = _csv(response)
    assert rows[0] == ["section", "date", "name", "metric", "value"]
    assert ["filter", "", "shop", "", "Shop A 家居"] in rows
    assert ["day", today, "", "claims_submitted", "2"] in rows
    assert ["day", today, "refund_denied", "decided", "1"] in rows
    assert ["day", today, "", "money_protected_cny", "99.00"] in rows
    assert ["reviewer", "", "charlie", "decisions", "1"] in rows
    assert ["total", "", "", "confirmed_forgeries", "1"] in rows
    assert ["total", "", "refund_denied", "reviewer_decisions", "1"] in rows


def test_the_page_links_its_csv_with_the_same_filters(client, charlie, shop_a):
    client.force_login(charlie)

    page = client.get(
        reverse("review_stats"),
        {"start": "2026-05-01", "end": "2026-05-31", "merchant": shop_a.pk},
        **EN,
    ).content.decode()

    query = f"start=2026-05-01&amp;end=2026-05-31&amp;merchant={shop_a.pk}"
    link = f"{reverse('review_stats_csv')}?{query}"
    assert link in page
    assert ">Download CSV</a>" in page


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
    rollups_rebuild()
    client.force_login(charlie)

    # session, user; the policy's groups, shops and platform; the shop choices; the
    # rollups: decisions per day, per queue, claims, signals, reviewers; the state row
    with django_assert_num_queries(12):
        response = client.get(reverse("review_stats"), **EN)
    assert response.status_code == 200
    assert response.context["stats"].decisions == claims


def test_reviewer_navigation_links_to_the_statistics(client, charlie):
    client.force_login(charlie)

    page = client.get(reverse("review_queues"), **EN).content.decode()

    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert f'href="{reverse("review_stats")}"' in nav
    assert ">Statistics</a>" in nav
