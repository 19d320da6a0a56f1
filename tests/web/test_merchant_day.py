"""A merchant's whole day in a real headless Chromium, in zh-hans and in English, with a
screenshot of every page at desktop (1280×800) and phone (390×844) size saved under
``var/screenshots/merchant-day/<language>/`` (see docs/merchant-portal.md).

alice owns shop A and answers claims of shop C as an agent. She logs in, switches to
shop A, searches the inbox, opens a claim, compares its photo with her listing photo,
contests with two files of which one is refused (the good one stays chosen and goes
with the second try), adds a product photo and a packing video, is told of the
reviewer's decision by the bell and by e-mail (Django's locmem outbox: the live server
runs in this process, and Celery runs eagerly in tests), appeals it, and resets her
password from the e-mail's link. Every page is checked to be in her language.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.core import mail
from django.utils import timezone, translation

from refunds.models import ClaimStatus, Outcome

# The shared fixtures of the browser tests: the live server, Chromium, the reference
# data a transactional test's flush removes, and the CSP watcher.
from tests.web.test_browser import _reference_data, _watch_csp, browser, server  # noqa: F401
from tests.web.test_browser_products import DROP

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the
# test body are still synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots" / "merchant-day"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LANGUAGES = {
    # browser locale, the page's <html lang>, words the page must say in that language
    "zh-hans": ("zh-CN", "zh-hans", {"appealed": "复议中"}),
    "en": ("en-US", "en", {"appealed": "Appealed"}),
}
NEW_PASSWORD = "a-new-day-in-chromium-47"

# The contrast ratio of an element's text with the card it sits on (WCAG 2's formula).
CONTRAST = """
element => {
  const rgb = color => color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  let card = element;
  while (card && getComputedStyle(card).backgroundColor === "rgba(0, 0, 0, 0)") {
    card = card.parentElement;
  }
  const text = luminance(rgb(getComputedStyle(element).color));
  const back = luminance(rgb(getComputedStyle(card || document.body).backgroundColor));
  return (Math.max(text, back) + 0.05) / (Math.min(text, back) + 0.05);
}
"""


@dataclass
class MerchantDay:
    """One merchant in one browser context, in one language; every step waits for its
    page, checks the page's language and takes its screenshots."""

    page: object
    base_url: str
    language: str
    folder: Path
    shots: list[Path] = field(default_factory=list)
    pages_checked: int = 0

    # --- plumbing ---------------------------------------------------------------------

    def goto(self, path: str) -> None:
        response = self.page.goto(f"{self.base_url}{path}")
        assert response.status == 200, path

    def shoot(self, name: str) -> None:
        """The page's language checked; the page as it is, full length, at desktop and
        at phone size."""
        assert self.page.locator("html").get_attribute("lang") == LANGUAGES[self.language][1]
        self.pages_checked += 1
        self.page.wait_for_function(
            "() => [...document.images].filter(i => i.loading !== 'lazy')"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
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

    def drop(self, zone_selector: str, files: list[tuple[str, str, bytes]]) -> None:
        zone = self.page.locator(zone_selector).element_handle()
        payload = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
        self.page.evaluate(DROP, [zone, payload])

    # --- steps ----------------------------------------------------------------------------

    def log_in(self, username: str, password: str) -> None:
        self.goto("/accounts/login/")
        self.shoot("login")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.submit("button[type=submit].big")
        self.page.wait_for_url(f"{self.base_url}/claims/")
        self.shoot("inbox")

    def switch_shop(self, shop) -> None:
        self.page.select_option("[data-testid=shop-switcher]", str(shop.pk))
        self.submit("form.inbox-filters button[type=submit]")
        assert f"shop={shop.pk}" in self.page.url
        self.shoot("inbox-one-shop")

    def search(self, words: str) -> None:
        self.page.fill("form.inbox-filters input[name=q]", words)
        self.submit("form.inbox-filters button[type=submit]")
        self.shoot("inbox-search")

    def open_claim(self, claim) -> None:
        self.page.locator(f"a[href='/claims/{claim.pk}/']").first.click()
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

    def contest_with_one_refused_file(self, statement: str, good: bytes) -> None:
        """Two files, one no photo: it is named, nothing is kept, the answer waits; the
        good file is still chosen (and says so), and the second try sends it."""
        zone = "form.answer-form [data-dropzone]"
        self.page.check("input[name=response][value=contest]")
        self.page.fill("#id_statement", statement)
        self.drop(zone, [("box.jpg", "image/jpeg", good), ("chat.jpg", "image/jpeg", b"<html>")])
        self.page.click("form.answer-form button[type=submit]")
        self.page.wait_for_selector("form.answer-form .errorlist li:has-text('chat.jpg:')")
        self.shoot("contest-refused")
        kept = self.page.locator("form.answer-form [data-upload-file]")
        assert kept.count() == 1 and kept.get_attribute("data-upload-file") == "box.jpg"
        assert kept.locator(".small").inner_text().strip()  # "still chosen"
        assert self.page.eval_on_selector("#id_files", "input => input.files.length") == 1
        assert statement in self.page.input_value("#id_statement")
        # The second try: the answer is chosen again, the file is not picked again.
        self.page.check("input[name=response][value=contest]")
        with self.page.expect_navigation():
            self.page.click("form.answer-form button[type=submit]")
        assert self.page.locator(".messages .success").is_visible()
        self.shoot("contested")

    def add_product_photo(self, product, photo: bytes) -> None:
        self.goto("/products/")
        self.shoot("products")
        self.drop(f"#product-{product.pk} [data-dropzone]", [("front.jpg", "image/jpeg", photo)])
        self.page.click(f"#product-{product.pk} [data-upload-form] button[type=submit]")
        self.page.wait_for_selector("[data-photo='front.jpg']")
        self.shoot("product-photo-added")

    def add_packing_video(self, shipment, video: bytes) -> None:
        self.goto(f"/shipments/{shipment.pk}/")
        self.shoot("shipment")
        self.drop("form[data-upload-form] [data-dropzone]", [("packing.mp4", "video/mp4", video)])
        self.page.click("form[data-upload-form] button[type=submit]")
        self.page.wait_for_selector("[data-packing-file='packing.mp4']")
        self.shoot("packing-video-added")

    def bell(self) -> int:
        self.goto("/claims/")
        count = self.page.get_by_test_id("bell-count")
        count.wait_for()
        return int(count.inner_text())

    def open_newest_notification(self, claim) -> None:
        self.page.get_by_test_id("bell").click()
        self.page.wait_for_url(f"{self.base_url}/notifications/")
        newest = self.page.get_by_test_id("notification-list").locator("li").first
        assert f"#{claim.pk}" in newest.inner_text()
        assert newest.locator("button").evaluate(CONTRAST) >= 4.5  # readable (WCAG AA)
        self.shoot("notifications")
        newest.locator("button").click()
        self.page.wait_for_url(f"{self.base_url}/claims/{claim.pk}/")
        self.shoot("decided")

    def appeal(self, reason: str) -> None:
        self.page.fill("#id_appeal_reason", reason)
        self.submit("form[action$='/appeal/'] button[type=submit]")
        pill = self.page.locator(".page-head .pill").first.inner_text()
        assert pill == LANGUAGES[self.language][2]["appealed"]
        self.shoot("appealed")

    def reset_password(self, email: str, new_password: str) -> None:
        self.page.context.clear_cookies()
        self.goto("/accounts/login/")
        self.page.click("a[href='/accounts/password_reset/']")
        self.page.wait_for_url(f"{self.base_url}/accounts/password_reset/")
        self.shoot("password-reset")
        self.page.fill("#id_email", email)
        self.submit("button[type=submit].big")
        self.shoot("password-reset-sent")
        (message,) = [m for m in mail.outbox if "/accounts/reset/" in m.body]
        link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)
        assert link.startswith(self.base_url)
        self.page.goto(link)
        self.page.wait_for_url(re.compile(r".*/accounts/reset/[^/]+/set-password/$"))
        self.shoot("new-password")
        self.page.fill("#id_new_password1", new_password)
        self.page.fill("#id_new_password2", new_password)
        self.submit("button[type=submit].big")
        self.shoot("password-changed")
        self.page.click("a.button.big")
        self.page.wait_for_url(f"{self.base_url}/accounts/login/")
        self.page.fill("#id_username", "alice")
        self.page.fill("#id_password", new_password)
        self.submit("button[type=submit].big")
        self.page.wait_for_url(f"{self.base_url}/claims/")
        self.shoot("inbox-after-reset")


@pytest.fixture
def merchant_day(request, browser, server):  # noqa: F811
    """``merchant_day(language)``: a fresh browser context and its :class:`MerchantDay`;
    every context is closed at the end, with no CSP violation reported."""
    opened = []

    def _start(language: str) -> MerchantDay:
        context = browser.new_context(
            locale=LANGUAGES[language][0], viewport=DESKTOP, device_scale_factor=1
        )
        page = context.new_page()
        violations = _watch_csp(page)
        folder = SCREENSHOTS / language
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        opened.append((context, violations))
        return MerchantDay(page=page, base_url=server.url, language=language, folder=folder)

    yield _start
    for context, violations in opened:
        context.close()
        assert violations == []


@pytest.fixture
def shop_c_for_alice(alice):
    from merchants.models import Merchant
    from merchants.services import membership_add

    shop = Merchant.objects.create(platform_id="shop-c", name="Shop C 文具")
    membership_add(merchant=shop, user=alice, role="agent")
    return shop


@pytest.fixture
def packing_video() -> bytes:
    from testing import synthetic
    from tests.evidence.videos import make_video

    scene = synthetic.render_product_photo(202, size=(480, 360)).image
    return make_video([scene, np.full_like(scene, 120)])


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_merchants_whole_day(
    language,
    merchant_day,
    alice,
    charlie,
    shop_a,
    shop_c_for_alice,
    listing_product,
    forged_claim,
    make_claim,
    photo_bytes,
    packing_video,
    zh_catalogue,
):
    from accounts.services import profile_set_language
    from merchants.services import shipment_create
    from refunds import services

    # given: alice (her e-mail and language on her account) works for shops A and C;
    # each has claims, and the forged claim's order was shipped
    alice.email = "alice@example.com"
    alice.save()
    profile_set_language(user=alice, language=language)
    other_a, in_c = make_claim(shop_a), make_claim(shop_c_for_alice)
    shipment = shipment_create(
        order=forged_claim.order,
        carrier="SF",
        tracking_number="SF1001",
        shipped_at=timezone.now() - dt.timedelta(days=4),
    )
    day = merchant_day(language)

    # when: she logs in, she sees both shops' claims, then only shop A's
    day.log_in("alice", "pw-alice-123")
    assert day.page.locator(f"a[href='/claims/{in_c.pk}/']").count() > 0
    day.switch_shop(shop_a)
    assert day.page.locator(f"a[href='/claims/{in_c.pk}/']").count() == 0
    assert day.page.locator(f"a[href='/claims/{other_a.pk}/']").count() > 0

    # when: she searches for the forged claim's order number
    day.search(forged_claim.order.platform_id)
    assert day.page.locator(f"a[href='/claims/{other_a.pk}/']").count() == 0
    assert day.page.locator("table.list tbody tr").count() == 1

    # when: she opens it, compares, contests with a packing photo and a refused file
    day.open_claim(forged_claim)
    day.compare_photos()
    day.contest_with_one_refused_file(
        "裂痕是画上去的。The cracks are painted on our photo.", photo_bytes(5)
    )
    sent = forged_claim.evidence_files.filter(submitted_by="merchant")
    assert [f.original_name for f in sent] == ["box.jpg"]
    assert forged_claim.audit_events.filter(action="merchant_contest").exists()

    # when: she adds a listing photo and a packing video
    day.add_product_photo(listing_product, photo_bytes(7))
    day.add_packing_video(shipment, packing_video)
    assert listing_product.photos.filter(original_name="front.jpg").count() == 1
    assert shipment.packing_evidence.filter(original_name="packing.mp4").count() == 1

    # when: a reviewer approves the buyer's refund
    unread = day.bell()
    mail.outbox.clear()
    services.claim_take_next(reviewer=charlie)
    services.claim_decide(
        claim=forged_claim,
        reviewer=charlie,
        outcome=Outcome.REFUND_APPROVED,
        rationale="The buyer's photo shows a real crack.",
    )

    # then: the bell counts one more, its newest line is the decision; the mail came
    assert day.bell() == unread + 1
    with translation.override(language):
        outcome = str(Outcome.REFUND_APPROVED.label)
    (decision_mail,) = [m for m in mail.outbox if m.to == ["alice@example.com"]]
    assert f"#{forged_claim.pk}" in decision_mail.subject and outcome in decision_mail.subject
    day.open_newest_notification(forged_claim)

    # when: she appeals it, then resets her password from the e-mail's link
    day.appeal("照片上的裂痕是画的 the crack is painted on our listing photo")
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.APPEALED
    day.reset_password("alice@example.com", NEW_PASSWORD)
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)

    # then: every page was in her language and photographed at both sizes
    assert day.pages_checked == 20
    assert len(day.shots) == 2 * 20
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
