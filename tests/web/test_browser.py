"""A real headless Chromium against the live server: the merchant understands and
contests a forged claim, a reviewer takes it and decides."""

from __future__ import annotations

import os
import zipfile

import pytest

from testing import synthetic

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the
# test body are still synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

SCREENSHOT = "/tmp/claim_page.png"
SCREENSHOT_EN = "/tmp/claim_page_en.png"


@pytest.fixture(autouse=True)
def _reference_data(transactional_db):
    """Transactional tests flush the database, and with it the rows the migrations seed
    (queues, routing rules, reviewer groups, scoring weights): put them back.
    (serialized_rollback clashes with content types re-created by earlier flushes.)"""
    from tests.conftest import reseed_reference_data

    reseed_reference_data()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def server(request, settings):
    """pytest-django's live server. Its media handler parses MEDIA_URL when the server
    starts, and ours is None (uploads are never served by URL), which it cannot parse:
    give it a prefix nothing links to, for the test run only."""
    settings.MEDIA_URL = "/__media-not-served-in-production__/"
    return request.getfixturevalue("live_server")


def _watch_csp(page) -> list[str]:
    """Every Content-Security-Policy violation the page reports, from the console and from
    the document's ``securitypolicyviolation`` events (init scripts are not subject to
    the page's policy)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.expose_function("__cspViolation", lambda text: violations.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => window.__cspViolation("
        "location.pathname + ': ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    return violations


def _log_in(page, base_url, username, password):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit].big")


def test_merchant_contests_a_forged_claim_and_reviewer_decides(
    transactional_db, server, browser, alice, charlie, forged_claim, zh_catalogue
):
    from refunds.models import ClaimStatus

    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1360, "height": 900}, device_scale_factor=1
    )
    page = context.new_page()
    csp_violations = _watch_csp(page)

    # given: alice logs in and lands on her inbox, in Chinese
    _log_in(page, server.url, "alice", "pw-alice-123")
    page.wait_for_url(f"{server.url}/claims/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("h1").inner_text() == "针对您店铺的仅退款申请"
    assert "小时" in page.locator(".countdown").first.inner_text()

    # when: she opens the claim
    page.click(f"a[href='/claims/{forged_claim.pk}/'].title")
    page.wait_for_url(f"{server.url}/claims/{forged_claim.pk}/")

    # then: the verdict, the findings and the artifacts are on the page, images loaded
    assert page.locator(".verdict-high").is_visible()
    critical = page.locator(".finding-critical").first
    assert "Nordic mug" in critical.inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img[data-artifact], .compare img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    overlay_width = page.eval_on_selector("img[data-artifact='overlay']", "img => img.naturalWidth")
    assert overlay_width > 0
    page.screenshot(path=SCREENSHOT, full_page=True)
    english = context.browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
    english.add_cookies(context.cookies())
    english_page = english.new_page()
    english_page.goto(page.url)
    english_page.wait_for_function(
        "() => [...document.querySelectorAll('.compare img')].every(img => img.naturalWidth > 0)"
    )
    assert "The buyer's photo is very likely edited" in english_page.content()
    english_page.screenshot(path=SCREENSHOT_EN, full_page=True)
    english.close()

    # when: she downloads the evidence pack (a POST form with the page's CSRF token)
    with page.expect_download() as download_info:
        page.click("button[data-evidence-pack]")
    download = download_info.value

    # then: the browser saves the ZIP, report included
    assert download.suggested_filename == f"claimlens-claim-{forged_claim.pk}-evidence-pack.zip"
    with zipfile.ZipFile(download.path()) as archive:
        assert {"report.pdf", "manifest.json"} <= set(archive.namelist())

    # when: she contests with a statement and a packing photo
    page.check("input[name=response][value=contest]")
    page.fill("#id_statement", "这是我们的商品主图，裂痕是后期画上去的。发货时完好。")
    packing = synthetic.encode_jpeg(synthetic.render_other_shot(101, 3).image)
    page.set_input_files(
        "input[name=files]",
        files=[{"name": "packing.jpg", "mimeType": "image/jpeg", "buffer": packing}],
    )
    page.click("form.answer-form button[type=submit]")
    page.wait_for_url(f"{server.url}/claims/{forged_claim.pk}/")

    # then: the claim is with a reviewer
    assert page.locator(".messages .success").inner_text() == "您的答复已提交给平台审核员。"
    assert page.locator(".page-head .pill").first.inner_text() == "审核中"
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.IN_REVIEW
    assert forged_claim.evidence_files.filter(submitted_by="merchant").count() == 1

    # when: charlie takes the next claim and denies it as forged
    page.click(".user button")
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.wait_for_url(f"{server.url}/review/")
    page.click("form[action='/review/next/'] button.big")
    page.wait_for_url(f"{server.url}/review/claims/{forged_claim.pk}/")
    assert "买家信用" in page.content()
    page.check('input[name="outcome"][value="refund_denied"]')
    page.fill("#id_rationale", "买家图片为商家主图的编辑副本，裂痕为后期添加。")
    page.check("#id_confirmed_forgery")
    page.click("#decide button[type=submit]")
    page.wait_for_url(f"{server.url}/review/")

    # then: the decision is recorded
    assert page.locator(".messages .success").inner_text() == "裁决已记录。"
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.DECIDED
    assert forged_claim.outcome == "refund_denied"
    assert forged_claim.confirmed_forgery
    assert csp_violations == []
    context.close()


def test_main_pages_report_no_csp_violation(
    transactional_db, server, browser, alice, charlie, forged_claim, django_user_model
):
    django_user_model.objects.create_superuser("root", password="pw-root-123")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    violations = _watch_csp(page)

    def visit(path, ready="main, #content"):
        response = page.goto(f"{server.url}{path}")
        assert response.status == 200, path
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")

    # the login page, and merchant alice's pages (the claim page with its findings)
    visit("/accounts/login/")
    _log_in(page, server.url, "alice", "pw-alice-123")
    page.wait_for_url(f"{server.url}/claims/")
    visit("/claims/")
    visit(f"/claims/{forged_claim.pk}/", ready="img[data-artifact='overlay']")
    page.click(".user button")

    # reviewer charlie's pages
    _log_in(page, server.url, "charlie", "pw-charlie-123")
    page.wait_for_url(f"{server.url}/review/")
    for path in (
        "/review/",
        "/review/mine/",
        "/review/stats/",
        f"/review/claims/{forged_claim.pk}/",
    ):
        visit(path)
    page.click(".user button")

    # the admin, whose own scripts and styles must work under the same policy
    visit("/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/")
    for path in (
        "/admin/",
        "/admin/refunds/refundclaim/",
        f"/admin/refunds/refundclaim/{forged_claim.pk}/change/",
        "/admin/axes/accessattempt/",
    ):
        visit(path)

    # the API's Swagger UI: rendered by its script file, styled by its stylesheet files
    visit("/api/docs/", ready=".swagger-ui .info .title")

    assert violations == []
    context.close()
