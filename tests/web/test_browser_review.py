# ruff: noqa: F811 - the browser fixtures are imported from test_browser
"""The reviewer's console in a real headless Chromium: take next and decide with the
keyboard, and a bulk decision with one refusal, with the strict CSP watched."""

from __future__ import annotations

import os

import pytest

from refunds import services
from tests.conftest import reseed_reference_data
from tests.web.test_browser import _log_in, _watch_csp, browser, server  # noqa: F401

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _reference_data(transactional_db):
    """The flush removed the seeded queues, rules, templates and weights: put them back."""
    reseed_reference_data()


def _contested(make_claim, shop, alice, n=1):
    claims = []
    for _ in range(n):
        claim = make_claim(shop)
        services.claim_merchant_respond(
            claim=claim, user=alice, response="contest", statement="裂痕是画上去的 painted"
        )
        claims.append(claim)
    return claims


def test_take_next_and_decide_with_the_keyboard(
    server, browser, alice, charlie, shop_a, make_claim
):
    from refunds.models import Decision

    (claim,) = _contested(make_claim, shop_a, alice)
    page = browser.new_page(locale="en-GB")
    violations = _watch_csp(page)
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.goto(f"{server.url}/review/")

    page.keyboard.press("?")
    assert page.is_visible("[data-shortcut-help]")
    page.keyboard.press("Escape")
    page.keyboard.press("n")  # take next
    page.wait_for_url(f"**/review/claims/{claim.pk}/")
    page.keyboard.press("2")  # the second outcome: refund denied
    assert page.is_checked('input[name="outcome"][value="refund_denied"]')
    page.fill("#id_rationale", "The crack was painted on the listing photo.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/review/")

    decision = Decision.objects.get(claim=claim)
    assert (decision.outcome, decision.reviewer) == ("refund_denied", charlie)
    assert violations == []


def test_release_with_the_keyboard(server, browser, alice, charlie, shop_a, make_claim):
    (claim,) = _contested(make_claim, shop_a, alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    page = browser.new_page(locale="en-GB")
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.goto(f"{server.url}/review/claims/{claim.pk}/")
    page.keyboard.press("r")
    page.wait_for_url("**/review/")
    claim.refresh_from_db()
    assert claim.held_by is None


def test_bulk_decision_with_one_refusal(
    server, browser, alice, charlie, erin, shop_a, make_claim, buyer
):
    claims = _contested(make_claim, shop_a, alice, n=3)
    page = browser.new_page(locale="en-GB")
    violations = _watch_csp(page)
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.goto(f"{server.url}/review/bulk/?buyer={buyer.platform_id}")
    assert page.locator("[data-bulk-claim]").count() == 3
    services.claim_assign(claim=claims[1], reviewer=erin)  # somebody takes one meanwhile

    page.check('input[name="outcome"][value="refund_denied"]')
    page.fill("#id_rationale", "The same photo for three orders.")
    page.click("[data-bulk-submit]")
    page.wait_for_selector("[data-bulk-results]")

    assert page.locator('[data-result="done"]').count() == 2
    refused = page.locator('[data-result="refused"]')
    assert refused.count() == 1
    assert f"#{claims[1].pk}" in refused.inner_text()
    assert violations == []
