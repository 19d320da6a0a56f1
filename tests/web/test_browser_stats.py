# ruff: noqa: F811 - the browser fixtures are imported from test_browser
"""The statistics page in a real headless Chromium: a custom date range and shop, the
figures it shows, the CSV it downloads, in English and in Chinese, under the strict CSP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os

import pytest
from django.utils import timezone

from refunds.models import Decision
from reporting.services import rollups_rebuild
from tests.conftest import reseed_reference_data
from tests.web.test_browser import _log_in, _watch_csp, browser, server  # noqa: F401

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _reference_data(transactional_db):
    """The flush removed the seeded queues, rules, templates and weights: put them back."""
    reseed_reference_data()


@pytest.fixture
def decided_days(alice, charlie, shop_a, shop_b, bob, make_claim, contest_and_decide):
    """Shop A: a forgery denied 10 days ago and an approval 3 days ago; shop B: a denial
    10 days ago. Returns the day 10 days back."""
    now = timezone.now()
    ten_days_ago = now - dt.timedelta(days=10)
    for claim, merchant_user, when, outcome, forgery in (
        (make_claim(shop_a), alice, ten_days_ago, "refund_denied", True),
        (make_claim(shop_a), alice, now - dt.timedelta(days=3), "refund_approved", False),
        (make_claim(shop_b), bob, ten_days_ago, "refund_denied", False),
    ):
        contest_and_decide(
            claim, merchant_user, charlie, outcome=outcome, confirmed_forgery=forgery
        )
        Decision.objects.filter(claim=claim).update(created_at=when)
    rollups_rebuild()
    return timezone.localdate(ten_days_ago)


def test_a_custom_date_range_and_its_csv_download(
    server, browser, charlie, shop_a, decided_days, tmp_path
):
    page = browser.new_page(locale="en-GB", accept_downloads=True)
    violations = _watch_csp(page)
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.goto(f"{server.url}/review/stats/")
    assert page.locator("h1").inner_text() == "Statistics"
    assert page.locator('[data-figure="decisions"]').inner_text() == "3"

    # when: the ten days' day alone, shop A only
    day = decided_days.isoformat()
    page.fill("#id_start", day)
    page.fill("#id_end", day)
    page.select_option("#id_merchant", str(shop_a.pk))
    page.click("form.stats-filters button[type=submit]")
    page.wait_for_url(f"**/review/stats/?start={day}&end={day}&merchant={shop_a.pk}")

    # then: one decision, a denial on a forgery, and its money
    assert page.locator('[data-figure="decisions"]').inner_text() == "1"
    assert page.locator('[data-figure="forgery-share"]').inner_text() == "100%"
    assert page.locator('[data-figure="money-protected"]').inner_text() == "¥99.00"
    assert page.locator("svg[data-chart=outcomes] rect").count() == 1
    assert page.locator("svg[data-chart=outcomes] > title").text_content() == (
        "Claims decided per day, by outcome"
    )

    with page.expect_download() as download_info:
        page.click("[data-testid=csv]")
    download = download_info.value
    assert download.suggested_filename == f"claimlens-statistics-{day}-{day}.csv"
    path = tmp_path / "stats.csv"
    download.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for the Chinese names
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert ["filter", "", "shop", "", "Shop A 家居"] in rows
    assert ["day", day, "refund_denied", "decided", "1"] in rows
    assert ["total", "", "", "money_protected_cny", "99.00"] in rows
    assert violations == []


def test_the_page_in_chinese(server, browser, charlie, decided_days, zh_catalogue):
    page = browser.new_page(locale="zh-CN")
    violations = _watch_csp(page)
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.goto(f"{server.url}/review/stats/?days=90")

    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("h1").inner_text() == "统计"
    assert page.locator("label[for=id_start]").inner_text() == "起始日"
    assert page.locator("[data-testid=csv]").inner_text() == "下载 CSV"
    assert "挽回金额" in page.locator("main").inner_text()
    assert page.locator('a[aria-current="page"]').inner_text() == "最近 90 天"
    assert violations == []
