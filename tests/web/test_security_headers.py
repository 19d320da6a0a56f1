"""Every HTML page carries a strict Content-Security-Policy (no inline script or style,
no framing, no plugins, forms and <base> only to this site) and has no inline script or
style to need one; whatever a signed-in user is sent is ``private, no-store``."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.wsgi_request.path}"
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def sources(directives: dict, name: str) -> list[str]:
    """What ``name`` allows, falling back to default-src as a browser does."""
    return directives.get(name, directives.get("default-src", []))


def assert_strict(response):
    directives = policy(response)
    for name in ("script-src", "style-src"):
        allowed = sources(directives, name)
        assert allowed, f"{name} is not restricted"
        assert "'unsafe-inline'" not in allowed, name
        assert "*" not in allowed and "data:" not in allowed, name
    for name in ("script-src-attr", "script-src-elem", "style-src-attr", "style-src-elem"):
        assert "'unsafe-inline'" not in directives.get(name, []), name
    assert "'unsafe-eval'" not in sources(directives, "script-src")
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
STYLE_BLOCK = re.compile(r"<style[\s>]", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def assert_nothing_inline(response):
    html = response.content.decode()
    for pattern in (INLINE_SCRIPT, STYLE_ATTRIBUTE, STYLE_BLOCK, EVENT_HANDLER):
        found = pattern.search(html)
        assert found is None, f"{response.wsgi_request.path}: {found.group(0)[:120]}"
    assert "javascript:" not in html


def assert_html_page(response):
    assert response.status_code in (200, 404, 413, 429), response.status_code
    assert response["Content-Type"].startswith("text/html")
    assert_strict(response)
    assert_nothing_inline(response)


def assert_private(response):
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control, response["Cache-Control"]


# --- the pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", [EN, ZH])
def test_login_pages_are_strict(client, alice, language):
    assert_html_page(client.get(reverse("login"), **language))
    failed = client.post(reverse("login"), {"username": "alice", "password": "x"}, **language)
    assert_html_page(failed)


def test_lockout_page_is_strict(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "alice", "password": "x"})

    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"})

    assert response.status_code == 429
    assert_html_page(response)


def test_merchant_pages_are_strict_and_private(client, alice, forged_claim):
    client.force_login(alice)

    for url in (
        reverse("merchant_inbox"),
        reverse("merchant_claim", args=[forged_claim.pk]),
    ):
        response = client.get(url, **EN)
        assert response.status_code == 200
        assert_html_page(response)
        assert_private(response)
    html = client.get(reverse("merchant_claim", args=[forged_claim.pk]), **EN).content.decode()
    assert "img" in html and "data-artifact" in html  # the page with the findings shown


def test_merchant_claim_answer_errors_are_strict(client, alice, forged_claim):
    client.force_login(alice)

    response = client.post(
        reverse("merchant_claim", args=[forged_claim.pk]), {"response": "contest"}, **EN
    )

    assert response.status_code == 200  # the form again, with its errors
    assert_html_page(response)


def test_reviewer_pages_are_strict_and_private(client, charlie, forged_claim):
    client.force_login(charlie)

    for url in (
        reverse("review_queues"),
        reverse("review_mine"),
        reverse("review_stats"),
        reverse("review_claim", args=[forged_claim.pk]),
    ):
        response = client.get(url, **EN)
        assert response.status_code == 200, url
        assert_html_page(response)
        assert_private(response)


def test_no_role_and_not_found_pages_are_strict(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-x-12345"))

    assert_html_page(client.get(reverse("home"), **EN))
    missing = client.get("/claims/999999/", **EN)
    assert missing.status_code == 404
    assert_html_page(missing)


def test_request_too_large_page_is_strict(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("merchant_inbox"),
        {},
        CONTENT_LENGTH=str(500 * 1024 * 1024),
        CONTENT_TYPE="multipart/form-data; boundary=x",
    )

    assert response.status_code == 413
    assert_html_page(response)


def test_admin_pages_carry_the_policy(client, django_user_model, forged_claim):
    admin = django_user_model.objects.create_superuser("root", password="pw-root-123")
    assert_strict(client.get(reverse("admin:login")))
    client.force_login(admin)

    for url in (
        reverse("admin:index"),
        reverse("admin:refunds_refundclaim_changelist"),
        reverse("admin:refunds_refundclaim_change", args=[forged_claim.pk]),
        reverse("admin:axes_accessattempt_changelist"),
    ):
        response = client.get(url, **EN)
        assert response.status_code == 200, url
        assert_strict(response)
        assert_private(response)
        assert INLINE_SCRIPT.search(response.content.decode()) is None, url


def test_api_docs_page_is_strict_and_loads_its_script_as_a_file(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert_strict(response)
    assert_nothing_inline(response)
    assert policy(response)["img-src"] == ["'self'", "data:"]  # Swagger UI's icons
    script = re.search(r'<script src="([^"]*\?[^"]*script=[^"]*)"', response.content.decode())
    assert script, "the start script is not loaded from a URL"
    start = client.get(script.group(1).replace("&amp;", "&"))
    assert start.status_code == 200
    assert start["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in start.content.decode()


# --- downloads and files -------------------------------------------------------------------


def test_evidence_pack_and_files_are_private(client, alice, charlie, forged_claim):
    client.force_login(alice)
    buyer_file = forged_claim.evidence_files.get(submitted_by="buyer")

    pack = client.post(reverse("merchant_claim_evidence_pack", args=[forged_claim.pk]))
    display = client.get(reverse("evidence:display", args=[buyer_file.uuid]))

    assert pack.status_code == 200 and display.status_code == 200
    assert_private(pack)
    assert_private(display)
    # The files keep their own, stricter policy (an image opened alone runs nothing).
    assert "sandbox" in display["Content-Security-Policy"]

    client.force_login(charlie)
    original = client.get(reverse("evidence:original", args=[buyer_file.uuid]))
    assert original.status_code == 200
    assert_private(original)


def test_pages_for_nobody_signed_in_are_not_marked(client):
    response = client.get(reverse("login"))

    # Django's own never_cache header stays as it was.
    assert "no-store" in response["Cache-Control"]
    assert "must-revalidate" in response["Cache-Control"]


def test_no_template_has_inline_script_or_style():
    """Pages the tests above do not render (partials, rare states) obey the policy too."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    templates = sorted(root.rglob("*.html"))
    assert len(templates) > 10
    found = []
    for path in templates:
        text = path.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, STYLE_ATTRIBUTE, STYLE_BLOCK, EVENT_HANDLER):
            found += [
                f"{path.relative_to(root)}: {m.group(0)[:80]}" for m in pattern.finditer(text)
            ]
    assert found == []
