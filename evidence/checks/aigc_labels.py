"""Implicit AI-content labels: GB 45438-2025 ``AIGC`` and IPTC DigitalSourceType.

GB 45438-2025 asks generators to embed an ``AIGC`` field holding JSON (``Label`` "1"
generated, "2" possibly generated, "3" suspected; ``ContentProducer``, ``ProduceID``,
``ReservedCode1``, ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``). It is found
as an XMP element or attribute in the ``http://www.tc260.org.cn/ns/AIGC/1.0/`` namespace,
a PNG text chunk keyed ``AIGC`` (raw or ``{"AIGC": {...}}``-wrapped JSON), or JSON in
EXIF ``UserComment`` / ``ImageDescription``. A bare ``AIGC`` key counts only when it holds
TC260 fields. XMP is parsed with defusedxml only.

IPTC ``Iptc4xmpExt:DigitalSourceType`` (XMP) names how the picture was made;
``trainedAlgorithmicMedia`` is a generated picture, ``digitalCapture`` is a camera photo
(not a signal). :func:`classify_digital_source_type` is shared with the C2PA check.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.checks.metadata import (
    decode_user_comment,
    exif_text,
    info_texts,
    parse_xmp,
    short_text,
    xmp_values,
)

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

NS_TC260 = "http://www.tc260.org.cn/ns/AIGC/1.0/"
NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
TC260_FIELDS = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)

# IPTC digital source types (the last path segment of the cv.iptc.org URI), grouped by
# what they tell a merchant. Anything not listed (digitalCapture, negativeFilm, print,
# computationalCapture, minorHumanEdits...) is an ordinary photograph: no signal.
SOURCE_AI_GENERATED = "ai_generated"
SOURCE_AI_COMPOSITE = "ai_composite"
SOURCE_SYNTHETIC = "synthetic"
SOURCE_EDITED = "edited"
SOURCE_CAPTURE = "capture"
_SOURCE_TYPES: dict[str, str] = {
    "trainedalgorithmicmedia": SOURCE_AI_GENERATED,
    "trainedalgorithmicdata": SOURCE_AI_GENERATED,
    "compositewithtrainedalgorithmicmedia": SOURCE_AI_COMPOSITE,
    "algorithmicmedia": SOURCE_SYNTHETIC,
    "compositesynthetic": SOURCE_SYNTHETIC,
    "digitalart": SOURCE_SYNTHETIC,
    "digitalcreation": SOURCE_SYNTHETIC,
    "virtualrecording": SOURCE_SYNTHETIC,
    "softwareimage": SOURCE_SYNTHETIC,  # IPTC's retired term for the same thing
    "datadrivenmedia": SOURCE_SYNTHETIC,
    "composite": SOURCE_EDITED,
    "compositecapture": SOURCE_EDITED,
    "algorithmicallyenhanced": SOURCE_EDITED,
    "humanedits": SOURCE_EDITED,
    "screencapture": SOURCE_EDITED,
    "digitalcapture": SOURCE_CAPTURE,
    "computationalcapture": SOURCE_CAPTURE,
    "negativefilm": SOURCE_CAPTURE,
    "positivefilm": SOURCE_CAPTURE,
    "print": SOURCE_CAPTURE,
    "minorhumanedits": SOURCE_CAPTURE,
}


def classify_digital_source_type(uri: str | None) -> str | None:
    """One of the ``SOURCE_*`` groups for an IPTC digital source type URI or term."""
    if not uri or not isinstance(uri, str):
        return None
    term = uri.strip().rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1].lower()
    return _SOURCE_TYPES.get(term)


def source_type_term(uri: str) -> str:
    """The short term (``trainedAlgorithmicMedia``) of a source type URI."""
    return short_text(uri.strip().rstrip("/").rsplit("/", 1)[-1], 60)


# -- TC260 JSON ------------------------------------------------------------------------


def _loads(text: str) -> Any:
    text = html.unescape(text.strip())
    if not text.startswith("{"):
        start = text.find("{")
        if start < 0:
            return None
        text = text[start : text.rfind("}") + 1]
    try:
        return json.loads(text)
    except ValueError:
        return None


def tc260_label(value: Any, *, key_seen: bool) -> dict[str, str] | None:
    """The TC260 fields of a JSON value (raw, or wrapped as ``{"AIGC": {...}}``).

    ``key_seen``: the value sat under a key named AIGC (XMP TC260:AIGC, PNG chunk AIGC).
    Either way at least one TC260 field must be present to count.
    """
    if isinstance(value, str):
        value = _loads(value)
    if not isinstance(value, dict):
        return None
    inner = value
    for key in value:
        if isinstance(key, str) and key.upper() == "AIGC":
            candidate = value[key]
            if isinstance(candidate, str):
                candidate = _loads(candidate)
            if isinstance(candidate, dict):
                inner = candidate
                key_seen = True
            break
    fields = {
        name: short_text(str(inner[name]), 80)
        for name in TC260_FIELDS
        if name in inner and inner[name] is not None
    }
    if not fields:
        return None
    if not key_seen and "Label" not in fields:
        return None  # a stray JSON with e.g. only "ProduceID" is not a label
    return fields


_XMP_ATTR = re.compile(rb"""[\w.-]+:AIGC\s*=\s*(["'])(.*?)\1""", re.S)
_XMP_ELEMENT = re.compile(rb"<([\w.-]+):AIGC\b[^>]*>(.*?)</\1:AIGC>", re.S)


def _xmp_candidates(image: DecodedImage) -> list[tuple[str, str]]:
    """(where, raw value) pairs of TC260 AIGC properties in the XMP packet."""
    root = parse_xmp(image)
    if root is not None:
        return [("XMP", v) for v in xmp_values(root, NS_TC260, "AIGC")]
    raw = image.xmp
    if not raw or b"AIGC" not in raw:
        return []
    # The packet is not well-formed XML: fall back to a textual match of the property.
    found = [("XMP", m.group(2).decode("utf-8", "replace")) for m in _XMP_ATTR.finditer(raw)]
    found += [("XMP", m.group(2).decode("utf-8", "replace")) for m in _XMP_ELEMENT.finditer(raw)]
    return found


def find_tc260_labels(image: DecodedImage) -> list[tuple[str, dict[str, str]]]:
    """Every GB 45438 implicit label in the file, as ``(where, fields)``."""
    labels: list[tuple[str, dict[str, str]]] = []
    for where, raw in _xmp_candidates(image):
        if fields := tc260_label(raw, key_seen=True):
            labels.append((where, fields))
    for key, text in info_texts(image).items():
        key_is_aigc = key.strip().upper() == "AIGC"
        if key_is_aigc or "AIGC" in text or "ContentProducer" in text:
            if fields := tc260_label(text, key_seen=key_is_aigc):
                labels.append((f"text:{short_text(key, 30)}", fields))
    exif = image.exif
    try:
        sub = exif.get_ifd(0x8769)
    except Exception:  # noqa: BLE001
        sub = {}
    for where, text in (
        ("EXIF UserComment", decode_user_comment(sub.get(0x9286))),
        ("EXIF ImageDescription", exif_text(exif.get(0x010E))),
    ):
        if text and "{" in text:
            if fields := tc260_label(text, key_seen=False):
                labels.append((where, fields))
    return labels


class AigcLabelCheck(Check):
    """Reports GB 45438-2025 implicit labels and IPTC DigitalSourceType declarations.

    Promises: Label "1" is critical, "2" high, "3" medium; an IPTC source type of
    trainedAlgorithmicMedia is critical, an AI composite high, other synthetic types high,
    composites/edits medium; a camera capture type says nothing. Metadata only, no pixels.
    """

    name = "aigc_labels"
    version = 1
    codes = {
        "aigc_label_generated": (
            70,
            "A GB 45438 AIGC label in the file declares the picture AI-generated (Label 1).",
        ),
        "aigc_label_possibly_generated": (
            40,
            "A GB 45438 AIGC label declares the picture possibly AI-generated (Label 2).",
        ),
        "aigc_label_suspected": (
            20,
            "A GB 45438 AIGC label declares the picture suspected AI-generated (Label 3).",
        ),
        "aigc_label_unrecognised": (
            15,
            "A GB 45438 AIGC label is present but its Label value is not one of 1, 2, 3.",
        ),
        "aigc_iptc_ai_generated": (
            70,
            "IPTC DigitalSourceType says the picture was made by a trained AI model.",
        ),
        "aigc_iptc_ai_composite": (
            50,
            "IPTC DigitalSourceType says AI-generated content was composited in.",
        ),
        "aigc_iptc_synthetic": (
            35,
            "IPTC DigitalSourceType says the picture is synthetic (algorithmic, digital art).",
        ),
        "aigc_iptc_edited": (
            15,
            "IPTC DigitalSourceType says the picture is a composite or was edited.",
        ),
    }
    attached_to = frozenset({"claim", "product", "shipment"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        findings: list[FindingData] = []
        seen: set[tuple[str, ...]] = set()
        for where, fields in find_tc260_labels(image):
            key = tuple(sorted(fields.items()))
            if key in seen:
                continue
            seen.add(key)
            findings.append(_label_finding(where, fields))
        root = parse_xmp(image)
        types = set(xmp_values(root, NS_IPTC_EXT, "DigitalSourceType"))
        for uri in sorted(types):
            finding = _source_type_finding(uri)
            if finding:
                findings.append(finding)
        return findings


_LABEL_CODES = {
    "1": ("aigc_label_generated", Severity.CRITICAL),
    "2": ("aigc_label_possibly_generated", Severity.HIGH),
    "3": ("aigc_label_suspected", Severity.MEDIUM),
}


def _label_finding(where: str, fields: dict[str, str]) -> FindingData:
    label = fields.get("Label", "").strip()
    code, severity = _LABEL_CODES.get(label, ("aigc_label_unrecognised", Severity.MEDIUM))
    producer = fields.get("ContentProducer") or "?"
    messages = {
        "aigc_label_generated": gettext_noop(
            "The file carries a Chinese AI-content label (GB 45438) declaring it AI-generated;"
            " producer code %(producer)s."
        ),
        "aigc_label_possibly_generated": gettext_noop(
            "The file carries a Chinese AI-content label (GB 45438) declaring it possibly"
            " AI-generated; producer code %(producer)s."
        ),
        "aigc_label_suspected": gettext_noop(
            "The file carries a Chinese AI-content label (GB 45438) marking it as suspected"
            " AI-generated; producer code %(producer)s."
        ),
        "aigc_label_unrecognised": gettext_noop(
            "The file carries a Chinese AI-content label (GB 45438) with an unrecognised"
            " value %(label)s; producer code %(producer)s."
        ),
    }
    return FindingData(
        code=code,
        severity=severity,
        message=messages[code],
        params={"producer": producer, "label": label or "?"},
        details={"found_in": where, "fields": fields},
    )


def _source_type_finding(uri: str) -> FindingData | None:
    group = classify_digital_source_type(uri)
    term = source_type_term(uri)
    details = {"digital_source_type": short_text(uri, 120), "found_in": "XMP"}
    if group == SOURCE_AI_GENERATED:
        return FindingData(
            code="aigc_iptc_ai_generated",
            severity=Severity.CRITICAL,
            message=gettext_noop(
                "The file declares it was made by an AI model (IPTC source type %(term)s)."
            ),
            params={"term": term},
            details=details,
        )
    if group == SOURCE_AI_COMPOSITE:
        return FindingData(
            code="aigc_iptc_ai_composite",
            severity=Severity.HIGH,
            message=gettext_noop(
                "The file declares that AI-generated content was added to it (IPTC source"
                " type %(term)s)."
            ),
            params={"term": term},
            details=details,
        )
    if group == SOURCE_SYNTHETIC:
        return FindingData(
            code="aigc_iptc_synthetic",
            severity=Severity.HIGH,
            message=gettext_noop(
                "The file declares it is not a photograph but computer-made (IPTC source"
                " type %(term)s)."
            ),
            params={"term": term},
            details=details,
        )
    if group == SOURCE_EDITED:
        return FindingData(
            code="aigc_iptc_edited",
            severity=Severity.MEDIUM,
            message=gettext_noop(
                "The file declares it is a composite or an edited picture (IPTC source type"
                " %(term)s)."
            ),
            params={"term": term},
            details=details,
        )
    return None
