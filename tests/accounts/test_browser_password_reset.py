"""A real headless Chromium walks the password reset, in Chinese and in English: from the
login page's link to the e-mail (read from Django's locmem outbox: the live server runs
in this process), the link, the new password, and a login with it."""

from __future__ import annotations

import os
import re

import pytest
from django.core import mail

from accounts.services import profile_set_language
from tests.web.test_browser import _watch_csp, browser, server  # noqa: F401 (fixtures)

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # as tests/web/test_browser.py says why

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WALKS = {
    # browser locale, the user's stored language, what each page says
    "zh-hans": {
        "locale": "zh-CN",
        "stored": "",  # no choice stored: the e-mail follows the page
        "forgot": "忘记密码？",
        "sent": "请查收邮件",
        "subject": "设置新的 Claimlens 密码",
        "choose": "设置新密码",
        "changed": "您的密码已修改",
        "inbox": "针对您店铺的仅退款申请",
    },
    "en": {
        "locale": "en-US",
        "stored": "en",
        "forgot": "Forgot your password?",
        "sent": "Check your e-mail",
        "subject": "Choose a new Claimlens password",
        "choose": "Choose a new password",
        "changed": "Your password is changed",
        "inbox": "Refund-only claims against your shop",
    },
}
NEW_PASSWORD = "walked-through-in-chromium-31"


@pytest.mark.parametrize("language", list(WALKS))
def test_password_reset_in_the_browser(transactional_db, server, browser, alice, language):  # noqa: F811
    walk = WALKS[language]
    alice.email = "alice@example.com"
    alice.save()
    if walk["stored"]:
        profile_set_language(user=alice, language=walk["stored"])
    context = browser.new_context(locale=walk["locale"], viewport={"width": 1200, "height": 900})
    page = context.new_page()
    violations = _watch_csp(page)

    # given: alice forgot her password; she follows the login page's link
    page.goto(f"{server.url}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == language
    page.get_by_role("link", name=walk["forgot"]).click()
    page.wait_for_url(f"{server.url}/accounts/password_reset/")

    # when: she asks for a link
    page.fill("#id_email", "alice@example.com")
    page.click("button[type=submit].big")
    page.wait_for_url(f"{server.url}/accounts/password_reset/done/")

    # then: the page says to look in her mailbox, where the e-mail is, in her language
    assert page.locator("h1").inner_text() == walk["sent"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"] and message.subject == walk["subject"]
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)
    assert link.startswith(server.url)

    # when: she opens the link and chooses a new password
    page.goto(link)
    page.wait_for_url(re.compile(r".*/accounts/reset/[^/]+/set-password/$"))
    assert page.locator("h1").inner_text() == walk["choose"]
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("button[type=submit].big")
    page.wait_for_url(f"{server.url}/accounts/reset/done/")
    assert page.locator("h1").inner_text() == walk["changed"]

    # then: she logs in with it and lands on her inbox, in her language
    page.click("a.button.big")
    page.wait_for_url(f"{server.url}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", NEW_PASSWORD)
    page.click("button[type=submit].big")
    page.wait_for_url(f"{server.url}/claims/")
    assert page.locator("h1").inner_text() == walk["inbox"]
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert violations == []
    context.close()
