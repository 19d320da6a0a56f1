"""The zh-hans catalogue: every message of the code translated. A fuzzy entry (what
gettext marks when it guessed from a similar message) is not compiled into the .mo, so on
a zh-hans page it shows in English as surely as an empty one."""

from __future__ import annotations

import re
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parent.parent / "locale/zh_Hans/LC_MESSAGES/django.po"


def _entries() -> list[str]:
    text = CATALOGUE.read_text(encoding="utf-8")
    return [block for block in re.split(r"\n\s*\n", text) if re.search(r'^msgid "', block, re.M)]


def _msgid(block: str) -> str:
    found = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
    return "".join(re.findall(r'"(.*)"', found.group(1))) if found else ""


def test_no_entry_of_the_catalogue_is_fuzzy():
    fuzzy = [_msgid(b) for b in _entries() if re.search(r"^#,.*\bfuzzy\b", b, re.M)]

    assert fuzzy == [], f"fuzzy (shown in English): {fuzzy}"


def test_every_message_has_a_translation():
    missing = []
    for block in _entries():
        msgid = _msgid(block)
        if not msgid:
            continue  # the header
        strings = re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', block, re.M)
        if not strings or any(not "".join(re.findall(r'"(.*)"', s)) for s in strings):
            missing.append(msgid)

    assert missing == [], f"untranslated: {missing}"
