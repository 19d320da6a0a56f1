"""Every string of the account and error pages exists in zh-hans: the accounts app's code
(which tests/web/test_translations.py does not walk) and every template message of
templates/registration, templates/accounts and templates/errors, {% blocktranslate %}
blocks and the e-mail's .txt templates included, extracted as makemessages does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.utils import translation
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = ("templates/registration", "templates/accounts", "templates/errors")
# What templatize writes for each message: gettext('...'), ngettext('...', '...', n).
CALL = re.compile(r"\b(n?gettext)\(u?'((?:[^'\\]|\\.)*)'(?:\s*,\s*u?'((?:[^'\\]|\\.)*)')?")


def _unquote(text: str) -> str:
    return ast.literal_eval(f"'{text}'")


def template_messages() -> set[tuple[str, str, str | None]]:
    found = set()
    for folder in TEMPLATE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".html", ".txt"):
                continue
            code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
            for kind, singular, plural in CALL.findall(code):
                found.add(
                    (
                        str(path.relative_to(ROOT)),
                        _unquote(singular),
                        _unquote(plural) if kind == "ngettext" and plural else None,
                    )
                )
    return found


def code_messages() -> set[tuple[str, str, str | None]]:
    found = set()
    for path in (ROOT / "accounts").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if name in ("gettext", "gettext_lazy", "_") and args:
                found.add((str(path.relative_to(ROOT)), args[0], None))
            elif name in ("ngettext", "ngettext_lazy") and len(args) >= 2:
                found.add((str(path.relative_to(ROOT)), args[0], args[1]))
    return found


def test_the_collector_sees_blocks_plurals_and_the_email():
    messages = template_messages()
    files = {path for path, _s, _p in messages}

    assert "templates/registration/password_reset_email.txt" in files
    assert any(p is not None for _f, _s, p in messages)  # a {% plural %}
    assert any("%(password)s" in s for _f, s, _p in messages)  # a {% blocktranslate %}
    assert len(messages) > 40
    assert len(code_messages()) > 5


def test_every_account_and_error_message_has_a_zh_hans_translation():
    with translation.override("zh-hans"):
        missing = sorted(
            (path, singular)
            for path, singular, plural in template_messages() | code_messages()
            if (
                translation.ngettext(singular, plural, 2) == plural
                if plural
                else translation.gettext(singular) == singular
            )
        )

    assert missing == []
