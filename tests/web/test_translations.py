"""Every string a user can read exists in zh-hans: the catalogue is complete.

The msgids are collected from the code itself (every gettext call with a literal, every
``{% translate "..." %}``), so a new message without a translation fails here; the fix
is a line in ``locale/fragments/*.po`` and ``make messages``.
"""

import ast
import re
from pathlib import Path

from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "merchants", "refunds", "evidence", "api")
GETTEXT = {"gettext", "gettext_noop", "gettext_lazy", "_", "ngettext", "ngettext_lazy"}
PGETTEXT = {"pgettext", "pgettext_lazy"}  # (context, msgid)
TEMPLATE_TAG = re.compile(r'{%\s*(?:trans|translate)\s+"([^"]+)"')
SAME_IN_CHINESE = {"English", "SHA-256", "URL"}


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def code_msgids() -> set[tuple[str, str]]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                position = 0 if name in GETTEXT else 1 if name in PGETTEXT else None
                if position is not None and len(node.args) > position:
                    msgid = _literal(node.args[position])
                    if msgid:
                        found.add((str(path.relative_to(ROOT)), msgid))
    for path in (ROOT / "templates").rglob("*.html"):
        for match in TEMPLATE_TAG.finditer(path.read_text(encoding="utf-8")):
            found.add((str(path.relative_to(ROOT)), match.group(1)))
    return found


def test_the_collector_sees_the_code_and_the_templates():
    files = {path for path, _msgid in code_msgids()}

    assert any(p.startswith("evidence/checks/") for p in files)
    assert any(p.startswith("templates/") for p in files)
    assert len(code_msgids()) > 300


def test_every_message_has_a_zh_hans_translation():
    with translation.override("zh-hans"):
        missing = sorted(
            (path, msgid)
            for path, msgid in code_msgids()
            if msgid not in SAME_IN_CHINESE and translation.gettext(msgid) == msgid
        )

    assert missing == []
