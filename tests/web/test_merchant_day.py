"""A merchant's day in a real headless Chromium, in zh-hans and in English, with a
screenshot of every page at desktop (1366×900) and phone (390×844) size saved under
``var/screenshots/<test>/<language>/`` (see docs/merchant-portal.md).

The walk is built from small steps on :class:`MerchantDay` (log in, open a claim,
compare, flag, answer, confirm, appeal); the other parts of the day (switch shop,
search the inbox, upload a product photo and a packing video, the notification bell,
the password reset) are added as further steps and tests in this module.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from refunds.models import AuditEvent, ClaimStatus

# The shared fixtures of the browser tests: the live server, Chromium, the reference
# data a transactional test's flush removes, and the CSP watcher.
from tests.web.test_browser import _reference_data, _watch_csp, browser, server  # noqa: F401

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the
# test body are still synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
LANGUAGES = {
    # browser locale, the page's <html lang>, words the page must say in that language
    "zh-hans": ("zh-CN", "zh-hans", {"confirm": "确认", "appealed": "复议中"}),
    "en": ("en-US", "en", {"confirm": "Confirm", "appealed": "Appealed"}),
}


@dataclass
class MerchantDay:
    """One merchant in one browser context, in one language; every step waits for its
    page and may take the page's screenshots."""

    page: object
    base_url: str
    language: str
    folder: Path
    shots: list[Path] = field(default_factory=list)

    # --- plumbing ---------------------------------------------------------------------

    def goto(self, path: str) -> None:
        response = self.page.goto(f"{self.base_url}{path}")
        assert response.status == 200, path

    def wait_for_images(self) -> None:
        self.page.wait_for_function(
            "() => [...document.images].filter(i => i.loading !== 'lazy')"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )

    def shoot(self, name: str) -> None:
        """The page as it is, full length, at desktop and at phone size."""
        self.wait_for_images()
        # From the top: a sticky header would otherwise be drawn across the middle.
        self.page.evaluate("window.scrollTo(0, 0)")
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(size)
            path = self.folder / f"{len(self.shots) // 2 + 1:02d}-{name}-{size_name}.png"
            self.page.screenshot(path=str(path), full_page=True)
            self.shots.append(path)
        self.page.set_viewport_size(DESKTOP)

    def submit(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.click(selector)

    # --- steps ----------------------------------------------------------------------------

    def log_in(self, username: str, password: str) -> None:
        self.goto("/accounts/login/")
        assert self.page.locator("html").get_attribute("lang") == LANGUAGES[self.language][1]
        self.shoot("login")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.submit("button[type=submit].big")
        self.page.wait_for_url(f"{self.base_url}/claims/")
        self.shoot("inbox")

    def open_claim(self, claim) -> None:
        self.page.click(f"a[href='/claims/{claim.pk}/']")
        self.page.wait_for_url(f"{self.base_url}/claims/{claim.pk}/")
        self.page.wait_for_selector("[data-photo-panel]")
        self.shoot("claim")

    def compare_photos(self) -> None:
        """Slide and toggle between the buyer's photo and the shop's, aligned."""
        control = self.page.locator("[data-compare].is-slider").first
        slider = control.locator("input.compare-slider")
        yours = control.locator("img.compare-yours")
        slider.focus()
        self.page.keyboard.press("Home")
        assert control.get_attribute("data-position") == "0"
        assert yours.evaluate("img => img.style.clipPath") == "inset(0px 100% 0px 0px)"
        self.page.keyboard.press("End")
        assert control.get_attribute("data-position") == "100"
        control.locator("label.compare-label").first.click()  # "the buyer's photo"
        assert control.get_attribute("data-position") == "0"
        control.locator("label.compare-label").nth(1).click()  # "your photo, aligned"
        assert control.get_attribute("data-position") == "100"
        self.page.keyboard.press("Tab")  # from the radio button to the slider
        for _ in range(5):
            self.page.keyboard.press("ArrowLeft")
        assert int(control.get_attribute("data-position")) < 100
        control.scroll_into_view_if_needed()
        self.shoot("compare")

    def flag_ai_suspect(self, note: str) -> None:
        self.page.fill("#id_ai_note", note)
        self.submit("button[data-flag-ai]")
        assert self.page.locator("[data-ai-suspect]").is_visible()
        assert note in self.page.locator("[data-ai-suspect]").inner_text()
        self.shoot("flagged")

    def accept_with_confirmation(self, amount: str) -> None:
        self.page.check("input[name=response][value=accept]")
        self.submit("form.answer-form button[type=submit]")
        step = self.page.locator("[data-confirm-step]")
        assert f"¥{amount}" in step.inner_text()
        assert LANGUAGES[self.language][2]["confirm"] in step.inner_text()
        self.shoot("confirm-accept")
        self.submit("button[data-confirm]")
        assert self.page.locator(".messages .success").is_visible()
        self.shoot("accepted")

    def appeal(self, reason: str) -> None:
        self.page.fill("#id_appeal_reason", reason)
        self.submit("form[action$='/appeal/'] button[type=submit]")
        pill = self.page.locator(".page-head .pill").first.inner_text()
        assert pill == LANGUAGES[self.language][2]["appealed"]
        self.shoot("appealed")


@pytest.fixture
def merchant_day(request, browser, server):  # noqa: F811
    """``merchant_day(language)``: a fresh browser context and its :class:`MerchantDay`;
    every context is closed at the end, with no CSP violation reported."""
    opened = []

    def _start(language: str) -> MerchantDay:
        locale = LANGUAGES[language][0]
        context = browser.new_context(locale=locale, viewport=DESKTOP, device_scale_factor=1)
        page = context.new_page()
        violations = _watch_csp(page)
        test_name = re.sub(r"\W+", "_", request.node.originalname)
        folder = SCREENSHOTS / test_name / language
        folder.mkdir(parents=True, exist_ok=True)
        opened.append((context, violations))
        return MerchantDay(page=page, base_url=server.url, language=language, folder=folder)

    yield _start
    for context, violations in opened:
        context.close()
        assert violations == []


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_merchant_compares_flags_accepts_and_appeals(
    language, merchant_day, alice, forged_claim, zh_catalogue
):
    # given: alice's shop has a claim whose photo is its listing photo with a crack
    day = merchant_day(language)

    # when: she walks through it
    day.log_in("alice", "pw-alice-123")
    day.open_claim(forged_claim)
    day.compare_photos()
    day.flag_ai_suspect("阴影方向不一致 the shadows disagree")
    day.accept_with_confirmation("199.00")
    day.appeal("点错了，照片是伪造的 I accepted by mistake")

    # then: the claim went through each step, and every page was photographed twice
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.APPEALED
    assert forged_claim.ai_suspected_at is not None
    # the flag sent it to the forensic queue; the appeal now waits for a senior reviewer
    flagged = AuditEvent.objects.get(claim=forged_claim, action="ai_suspect_flagged")
    assert flagged.data["queue"] == "forensic"
    assert forged_claim.queue.slug == "appeals"
    assert len(day.shots) == 2 * 8
    assert all(path.stat().st_size > 10_000 for path in day.shots)


def test_the_compare_control_is_a_toggle_without_javascript(
    browser,  # noqa: F811
    server,  # noqa: F811
    alice,
    forged_claim,
):
    context = browser.new_context(locale="en-US", viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-123")
    page.click("button[type=submit].big")
    page.wait_for_url(f"{server.url}/claims/")
    page.goto(f"{server.url}/claims/{forged_claim.pk}/")
    control = page.locator("[data-compare]").first
    yours = control.locator("img.compare-yours")

    def opacity() -> str:
        return yours.evaluate("img => getComputedStyle(img).opacity")

    assert control.locator("input.compare-slider").count() == 0
    assert opacity() == "0"
    control.locator("label.compare-label").nth(1).click()
    assert opacity() == "1"
    control.locator("label.compare-label").first.click()
    assert opacity() == "0"
    context.close()
