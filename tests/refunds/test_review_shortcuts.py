"""The keyboard shortcuts' help (shown on ``?``) and the script agree: every key
``static/js/review.js`` acts on is listed on the queues and review pages, and every key
listed is one it acts on, in both languages. The keys themselves are driven in Chromium
by ``tests/web/test_browser_review.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from refunds import services

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "static" / "js" / "review.js").read_text(encoding="utf-8")


def _script_keys() -> set[str]:
    keys = set(re.findall(r'case "([^"]+)":', SCRIPT)) - {"Escape"}  # Escape only closes it
    if "/^[1-9]$/" in SCRIPT:
        keys |= {"1", "4"}  # the outcomes, listed as 1–4
    if 'event.key === "Enter" && (event.ctrlKey' in SCRIPT:
        keys |= {"Ctrl", "Enter"}
    return keys


def _help_keys(html: str) -> set[str]:
    help_box = re.search(r"<aside[^>]*data-shortcut-help.*?</aside>", html, flags=re.S)
    assert help_box, "no shortcut help on the page"
    assert "hidden" in help_box.group(0).split(">", 1)[0]  # shown only on "?"
    return set(re.findall(r"<kbd>([^<]+)</kbd>", help_box.group(0)))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Keyboard shortcuts"), ("zh-hans", "键盘快捷键")]
)
def test_the_help_lists_every_key_the_script_acts_on(
    client, alice, charlie, shop_a, make_claim, language, heading
):
    claim = make_claim(shop_a)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="The photo is our listing."
    )
    services.claim_assign(claim=claim, reviewer=charlie)
    client.force_login(charlie)
    wanted = _script_keys()
    assert {"n", "1", "4", "s", "r", "j", "?", "Ctrl", "Enter"} <= wanted

    for url in (reverse("review_queues"), reverse("review_claim", args=[claim.pk])):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert _help_keys(html) == wanted, url
        assert heading in html
        assert "js/review.js" in html
