"""Real headless Chromium on the products page: the owner drops several photos on the
upload zone, sees one progress bar per file, and the page keeps all or none of them."""

from __future__ import annotations

import base64
import os

import pytest

from tests.web.test_browser import _log_in, _watch_csp

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOT = "/tmp/products_page.png"

DROP = """
([zone, files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  for (const kind of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(kind, init));
  }
}
"""
WATCH_PROGRESS = """
() => new MutationObserver(changes => changes.forEach(change => {
  const item = change.target.closest("[data-upload-file]");
  if (item) window.__progress(item.dataset.uploadFile, change.target.value);
})).observe(document.querySelector("main"),
             { attributes: true, subtree: true, attributeFilter: ["value"] })
"""


@pytest.fixture(autouse=True)
def _reference_data(transactional_db):
    from tests.conftest import reseed_reference_data

    reseed_reference_data()  # the live server's flush removed the migrations' seeds


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
    settings.MEDIA_URL = "/__media-not-served-in-production__/"
    return request.getfixturevalue("live_server")


def _drop(page, product, files, *, zone_selector=None):
    selector = zone_selector or f"#product-{product.pk} [data-dropzone]"
    zone = page.locator(selector).element_handle()
    payload = [[name, "image/jpeg", base64.b64encode(data).decode()] for name, data in files]
    page.evaluate(DROP, [zone, payload])


def test_owner_drops_photos_and_sees_a_progress_bar_per_file(
    transactional_db, server, browser, alice, listing_product, photo_bytes
):
    page = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
    csp_violations = _watch_csp(page)
    progress: list[tuple[str, int]] = []
    page.expose_function("__progress", lambda name, value: progress.append((name, value)))
    _log_in(page, server.url, "alice", "pw-alice-123")
    page.wait_for_url(f"{server.url}/claims/")
    page.goto(f"{server.url}/products/")
    assert "Up to 10 files at once" in page.locator(f"#product-{listing_product.pk}").inner_text()

    # when: she drops a photo and a file that is no photo, and sends them
    _drop(page, listing_product, [("front.jpg", photo_bytes(1)), ("notes.jpg", b"plain text")])
    assert page.locator("[data-upload-file]").count() == 2
    assert page.locator("[data-upload-file] progress").count() == 2
    page.evaluate(WATCH_PROGRESS)
    page.click(f"#product-{listing_product.pk} [data-upload-form] button[type=submit]")

    # then: the refused file is named with its reason, and nothing of the batch is kept
    alert = page.locator("[data-upload-errors]")
    alert.wait_for()
    assert (
        "notes.jpg: This file is not a JPEG, PNG, WebP, HEIC or AVIF image." in alert.inner_text()
    )
    assert listing_product.photos.count() == 1
    assert ("front.jpg", 100) in progress

    # when: she drops two photos (the good one again) and sends them
    _drop(page, listing_product, [("front.jpg", photo_bytes(1)), ("back.jpg", photo_bytes(2))])
    progress.clear()
    page.evaluate(WATCH_PROGRESS)
    page.click(f"#product-{listing_product.pk} [data-upload-form] button[type=submit]")
    page.wait_for_selector("[data-photo='back.jpg']")

    # then: both are attached and shown, each bar went to 100 %
    assert {name for name, value in progress if value == 100} == {"front.jpg", "back.jpg"}
    assert set(listing_product.photos.values_list("original_name", flat=True)) == {
        "listing.jpg",
        "front.jpg",
        "back.jpg",
    }
    assert page.locator("[data-photo='front.jpg']").count() == 1
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert not csp_violations, csp_violations


def test_contest_with_two_files_of_which_one_is_refused_loses_nothing(
    transactional_db, server, browser, alice, forged_claim, photo_bytes
):
    from refunds.models import ClaimStatus

    page = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
    csp_violations = _watch_csp(page)
    _log_in(page, server.url, "alice", "pw-alice-123")
    page.wait_for_url(f"{server.url}/claims/")
    page.goto(f"{server.url}/claims/{forged_claim.pk}/")
    zone = "form.answer-form [data-dropzone]"

    # when: she contests with a packing photo and a file that is no photo
    page.check("input[name=response][value=contest]")
    page.fill("#id_statement", "裂痕是画上去的。The cracks are painted on our photo.")
    _drop(page, None, [("box.jpg", photo_bytes(5)), ("chat.jpg", b"<html>")], zone_selector=zone)
    page.click("form.answer-form button[type=submit]")

    # then: the refused file is named, nothing is kept, the answer is not sent
    page.wait_for_selector("text=chat.jpg: This file is not a JPEG")
    assert "Nothing of this submission was kept" in page.content()
    forged_claim.refresh_from_db()
    assert forged_claim.status == ClaimStatus.AWAITING_MERCHANT
    assert not forged_claim.evidence_files.filter(submitted_by="merchant").exists()

    # when: she sends the good one again with her answer (the form kept her words)
    page.check("input[name=response][value=contest]")
    assert "painted" in page.input_value("#id_statement")
    _drop(page, None, [("box.jpg", photo_bytes(5))], zone_selector=zone)
    page.click("form.answer-form button[type=submit]")

    # then: the answer and the file went together
    page.wait_for_selector("text=Your answer was sent to a platform reviewer.")
    forged_claim.refresh_from_db()
    assert forged_claim.merchant_response == "contest"
    assert list(
        forged_claim.evidence_files.filter(submitted_by="merchant").values_list(
            "original_name", flat=True
        )
    ) == ["box.jpg"]
    assert not csp_violations, csp_violations
