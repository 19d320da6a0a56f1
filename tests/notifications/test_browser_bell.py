"""A real headless Chromium: the header's bell shows alice's unread count, and the list
opens from it; opening a notification marks it read and leads to its claim."""

from __future__ import annotations

import os

import pytest

from tests.web.test_browser import (  # noqa: F401 (fixtures)
    _reference_data,
    _watch_csp,
    browser,
    server,
)

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # as tests/web/test_browser.py says why

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_bell_shows_unread_count_and_opens_the_list(server, browser, alice, shop_a, make_claim):  # noqa: F811
    first, second = make_claim(shop_a), make_claim(shop_a)
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    violations = _watch_csp(page)

    # given: alice logs in; two claims against her shop arrived
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-123")
    page.click("button[type=submit].big")
    page.wait_for_url(f"{server.url}/claims/")

    # then: the bell (loaded by htmx) says 2
    count = page.get_by_test_id("bell-count")
    count.wait_for()
    assert count.inner_text() == "2"

    # when: she opens the list from the bell
    page.get_by_test_id("bell").click()
    page.wait_for_url(f"{server.url}/notifications/")
    items = page.get_by_test_id("notification-list").locator("li")
    assert items.count() == 2
    assert f"#{second.pk}" in items.nth(0).inner_text()

    # when: she opens the newest; it leads to the claim and the bell says 1
    items.nth(0).locator("button").click()
    page.wait_for_url(f"{server.url}/claims/{second.pk}/")
    page.get_by_test_id("bell-count").wait_for()
    assert page.get_by_test_id("bell-count").inner_text() == "1"
    assert f"#{first.pk}" not in page.url
    assert violations == []
    context.close()
