"""Camera metadata: who made the file, with what software, and when.

Reads the EXIF and XMP blocks the decoder already holds (no pixel work, well under a
millisecond) and reports, in words a merchant understands:

* the camera make/model when present (a fact, not a signal);
* an image editor named in EXIF ``Software`` or XMP ``CreatorTool`` (Photoshop, GIMP,
  Meitu/美图, Snapseed, PicsArt, Lightroom, Canva...);
* a capture time (``DateTimeOriginal`` with ``OffsetTimeOriginal``; a naive time is read as
  Asia/Shanghai) earlier than the shipment or the delivery of the order, for a buyer's
  photo of the goods "as received";
* missing camera metadata (weak: platforms and messengers strip it);
* GPS present, kept private: neither the message, the params nor the details ever hold a
  coordinate, only ``{"gps_present": true}``.

The helpers at the top (EXIF text, XMP parsing, text fields) are shared by the AIGC-label
and generator-trace checks.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from defusedxml import ElementTree as SafeET
from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from evidence.imaging import DecodedImage

logger = logging.getLogger(__name__)

CHINA_TZ = ZoneInfo("Asia/Shanghai")

# EXIF tags (IFD0 unless noted)
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_SOFTWARE = 0x0131
TAG_ARTIST = 0x013B
IFD_EXIF = 0x8769
IFD_GPS = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003  # Exif IFD
TAG_OFFSET_TIME_ORIGINAL = 0x9011  # Exif IFD
TAG_USER_COMMENT = 0x9286  # Exif IFD
TAG_LENS_MAKE = 0xA433  # Exif IFD
TAG_LENS_MODEL = 0xA434  # Exif IFD
TAG_PIXEL_X = 0xA002  # Exif IFD
TAG_PIXEL_Y = 0xA003  # Exif IFD
TAG_XP_COMMENT = 0x9C9C  # IFD0, UTF-16LE (Windows)
GPS_LATITUDE = 2
GPS_LONGITUDE = 4

NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
NS_EXIF = "http://ns.adobe.com/exif/1.0/"
NS_TIFF = "http://ns.adobe.com/tiff/1.0/"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_STEVT = "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
NS_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"

MAX_XMP_BYTES = 2 * 1024 * 1024


# --- shared helpers -------------------------------------------------------------------


def exif_text(value: Any) -> str | None:
    """An EXIF value as clean text, or None. Handles bytes, NUL padding, trailing spaces."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    if any("\x80" <= ch <= "\xff" for ch in value):
        # Pillow reads ASCII-typed tags as Latin-1; Chinese apps write UTF-8 into them.
        try:
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    text = value.replace("\x00", "").strip()
    return text or None


def decode_user_comment(value: Any) -> str | None:
    """EXIF UserComment: 8-byte charset prefix (ASCII, UNICODE, JIS) then the text."""
    if isinstance(value, str):
        return exif_text(value)
    if not isinstance(value, bytes) or not value:
        return None
    prefix, body = value[:8], value[8:]
    if prefix.startswith(b"UNICODE"):
        # Writers disagree on the byte order; a UTF-16 text of Latin letters has NULs
        # on one side, which tells us which.
        if body[:1] == b"\x00" and body[1:2] != b"\x00":
            text = body.decode("utf-16-be", "replace")
        else:
            text = body.decode("utf-16-le", "replace")
    elif prefix.startswith((b"ASCII", b"JIS", b"\x00\x00\x00\x00\x00\x00\x00\x00")):
        text = body.decode("utf-8", "replace")
    else:
        text = value.decode("utf-8", "replace")
    return exif_text(text)


def exif_fields(image: DecodedImage) -> dict[str, str]:
    """The free-text EXIF fields generators and labellers write into, by name."""
    exif = image.exif
    fields: dict[str, str] = {}
    try:
        sub = exif.get_ifd(IFD_EXIF)
    except Exception:  # noqa: BLE001 - damaged sub-IFD: read what IFD0 has
        sub = {}
    for name, raw in (
        ("ImageDescription", exif.get(TAG_IMAGE_DESCRIPTION)),
        ("Make", exif.get(TAG_MAKE)),
        ("Model", exif.get(TAG_MODEL)),
        ("Software", exif.get(TAG_SOFTWARE)),
        ("Artist", exif.get(TAG_ARTIST)),
        ("UserComment", sub.get(TAG_USER_COMMENT)),
    ):
        text = decode_user_comment(raw) if name == "UserComment" else exif_text(raw)
        if text:
            fields[name] = text
    xp = exif.get(TAG_XP_COMMENT)
    if isinstance(xp, bytes | tuple):
        try:
            text = bytes(xp).decode("utf-16-le", "replace")
        except (TypeError, ValueError):
            text = None
        if text := exif_text(text):
            fields["XPComment"] = text
    return fields


def info_texts(image: DecodedImage) -> dict[str, str]:
    """Text chunks and comments Pillow read (PNG tEXt/iTXt/zTXt, JPEG COM, WebP...)."""
    texts: dict[str, str] = {}
    for key, value in image.info.items():
        if key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp"):
            continue
        if isinstance(value, bytes):
            if key != "comment":
                continue
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip():
            texts[str(key)] = value
    return texts


def parse_xmp(image: DecodedImage) -> Element | None:
    """The XMP packet as an element tree, parsed with defusedxml; None if absent or bad."""
    raw = image.xmp
    if not raw or len(raw) > MAX_XMP_BYTES:
        return None
    raw = raw.strip(b"\x00 \r\n\t")
    start = raw.find(b"<x:xmpmeta")
    if start < 0:
        start = raw.find(b"<rdf:RDF")
    if start > 0:
        raw = raw[start:]
    end = raw.rfind(b">")
    if end > 0:
        raw = raw[: end + 1]
    try:
        return SafeET.fromstring(raw)
    except Exception:  # noqa: BLE001 - malformed or hostile XML: treat as absent
        logger.debug("unparseable XMP", exc_info=True)
        return None


def xmp_values(root: Element | None, namespace: str, local: str) -> list[str]:
    """Every value of property ``{namespace}local``: element text, attribute or list item."""
    if root is None:
        return []
    tag = f"{{{namespace}}}{local}"
    values: list[str] = []
    for element in root.iter():
        attribute = element.attrib.get(tag)
        if attribute:
            values.append(attribute)
    for element in root.iter(tag):
        resource = element.attrib.get(f"{{{NS_RDF}}}resource")
        if resource:
            values.append(resource)
        text = "".join(element.itertext()).strip()
        if text:
            # rdf:Alt / rdf:Seq: keep each item on its own
            items = [(li.text or "").strip() for li in element.iter(f"{{{NS_RDF}}}li") if li.text]
            values.extend(items or [text])
    return [v for v in values if v]


def short_text(text: str, limit: int = 80) -> str:
    """One line, no control characters, at most ``limit`` characters (ellipsis added)."""
    clean = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    clean = re.sub(r"\s+", " ", clean).strip()
    return clean if len(clean) <= limit else clean[: limit - 1].rstrip() + "…"


# --- the check ------------------------------------------------------------------------

# Lower-case fragments of editor names as they appear in Software / CreatorTool.
EDITORS: tuple[tuple[str, str], ...] = (
    ("photoshop", "Adobe Photoshop"),
    ("lightroom", "Adobe Lightroom"),
    ("fireworks", "Adobe Fireworks"),
    ("adobe express", "Adobe Express"),
    ("gimp", "GIMP"),
    ("meitu", "Meitu (美图)"),
    ("美图", "Meitu (美图)"),
    ("美颜", "a beauty-filter app (美颜)"),
    ("醒图", "Xingtu (醒图)"),
    ("xingtu", "Xingtu (醒图)"),
    ("snapseed", "Snapseed"),
    ("picsart", "PicsArt"),
    ("canva", "Canva"),
    ("pixlr", "Pixlr"),
    ("pixelmator", "Pixelmator"),
    ("affinity photo", "Affinity Photo"),
    ("paint.net", "Paint.NET"),
    ("painttool", "PaintTool SAI"),
    ("fotor", "Fotor"),
    ("facetune", "Facetune"),
    ("polarr", "Polarr"),
    ("photoscape", "PhotoScape"),
    ("photodirector", "PhotoDirector"),
    ("luminar", "Luminar"),
    ("capture one", "Capture One"),
    ("acdsee", "ACDSee"),
    ("picmonkey", "PicMonkey"),
    ("photopea", "Photopea"),
    ("remini", "Remini"),
    ("b612", "B612"),
    ("vsco", "VSCO"),
    ("inshot", "InShot"),
    ("wps图片", "WPS 图片"),
    ("稿定", "Gaoding (稿定设计)"),
)

# Clock never set: cameras start at 2000-01-01 or earlier.
EARLIEST_PLAUSIBLE = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
# Camera clocks drift and a naive time may come from another time zone.
SLACK_NAIVE = dt.timedelta(hours=2)
SLACK_AWARE = dt.timedelta(minutes=10)

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_exif_datetime(value: str | None, offset: str | None) -> tuple[dt.datetime, bool] | None:
    """``(aware datetime, had_offset)`` from EXIF text; naive times are Asia/Shanghai."""
    if not value:
        return None
    value = value.strip().replace("-", ":", 2)
    try:
        naive = dt.datetime.strptime(value[:19], "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        return None
    match = _OFFSET.match((offset or "").strip())
    if match:
        sign = 1 if match.group(1) == "+" else -1
        delta = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        try:
            return naive.replace(tzinfo=dt.timezone(sign * delta)), True
        except ValueError:
            pass
    return naive.replace(tzinfo=CHINA_TZ), False


def find_editor(*texts: str | None) -> tuple[str, str] | None:
    """``(editor name, the raw text it was found in)`` for the first known editor."""
    for text in texts:
        if not text:
            continue
        lowered = text.lower()
        for fragment, name in EDITORS:
            if fragment in lowered:
                return name, text
    return None


class CameraMetadataCheck(Check):
    """Reads EXIF/XMP: camera, editor software, capture time vs the order, GPS (kept private).

    Promises: no pixel access, no coordinate ever leaves this check, a capture time earlier
    than shipment/delivery is reported only for photos a buyer submits for a claim.
    """

    name = "camera_metadata"
    version = 2
    codes = {
        "metadata_camera": (0, "The camera make and model recorded in the file."),
        "metadata_editor_software": (
            20,
            "The file was last saved by an image editor (Photoshop, GIMP, Meitu, ...).",
        ),
        "metadata_taken_before_shipment": (
            45,
            "The photo's capture time is earlier than the parcel was shipped.",
        ),
        "metadata_taken_before_delivery": (
            35,
            "The photo's capture time is earlier than the parcel was delivered.",
        ),
        "metadata_no_camera": (
            5,
            "No camera make/model in the file (platforms often strip it; weak).",
        ),
        "metadata_gps_present": (0, "The file holds a GPS position; it is kept private."),
    }
    attached_to = frozenset({"claim", "shipment"})  # listing photos are edited by design

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        findings: list[FindingData] = []
        exif = image.exif
        try:
            sub = exif.get_ifd(IFD_EXIF)
        except Exception:  # noqa: BLE001
            sub = {}
        xmp = parse_xmp(image)

        make = exif_text(exif.get(TAG_MAKE)) or _first(xmp_values(xmp, NS_TIFF, "Make"))
        model = exif_text(exif.get(TAG_MODEL)) or _first(xmp_values(xmp, NS_TIFF, "Model"))
        # For the claim page's metadata table: the lens and when the photo says it was
        # taken (Beijing time), whatever the check concludes from them.
        shown = _lens_and_time(sub)
        if make or model:
            findings.append(
                FindingData(
                    code="metadata_camera",
                    severity=Severity.INFO,
                    message=gettext_noop("Camera recorded in the file: %(camera)s."),
                    params={"camera": short_text(_camera_label(make, model), 60)},
                    details={
                        "make": make and short_text(make, 60),
                        "model": model and short_text(model, 60),
                        **shown,
                    },
                )
            )
        else:
            findings.append(
                FindingData(
                    code="metadata_no_camera",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "The file names no camera. Many apps and platforms remove this"
                        " information, so this alone proves nothing."
                    ),
                    details=shown,
                )
            )

        software = exif_text(exif.get(TAG_SOFTWARE))
        creator_tool = _first(xmp_values(xmp, NS_XMP, "CreatorTool"))
        history_agents = xmp_values(xmp, NS_STEVT, "softwareAgent")
        editor = find_editor(software, creator_tool, *history_agents)
        if editor:
            name, raw = editor
            findings.append(
                FindingData(
                    code="metadata_editor_software",
                    severity=Severity.MEDIUM,
                    message=gettext_noop(
                        "The file was saved by the image editor %(editor)s"
                        " (recorded as “%(software)s”)."
                    ),
                    params={"editor": name, "software": short_text(raw, 60)},
                    details={
                        "software": software and short_text(software, 120),
                        "creator_tool": creator_tool and short_text(creator_tool, 120),
                    },
                )
            )

        findings.extend(self._capture_time(exif, sub, xmp, context))

        if _has_gps(exif):
            findings.append(
                FindingData(
                    code="metadata_gps_present",
                    severity=Severity.INFO,
                    message=gettext_noop(
                        "The file holds a GPS position. It is kept private and never shown."
                    ),
                    details={"gps_present": True},
                )
            )
        return findings

    def _capture_time(
        self, exif: Any, sub: Any, xmp: Element | None, context: CheckContext
    ) -> list[FindingData]:
        if context.submitted_by != "buyer" or context.attached_to != "claim":
            return []  # a merchant's packing photo is *meant* to predate shipment
        raw = exif_text(sub.get(TAG_DATETIME_ORIGINAL))
        offset = exif_text(sub.get(TAG_OFFSET_TIME_ORIGINAL))
        parsed = parse_exif_datetime(raw, offset)
        if parsed is None:
            xmp_time = _first(xmp_values(xmp, NS_EXIF, "DateTimeOriginal")) or _first(
                xmp_values(xmp, NS_PHOTOSHOP, "DateCreated")
            )
            parsed = _parse_xmp_datetime(xmp_time)
            raw = xmp_time
        if parsed is None:
            return []
        taken, had_offset = parsed
        if taken < EARLIEST_PLAUSIBLE:
            return []  # the camera's clock was never set
        slack = SLACK_AWARE if had_offset else SLACK_NAIVE
        for code, moment, message in (
            (
                "metadata_taken_before_shipment",
                context.shipped_at,
                gettext_noop(
                    "The photo was taken on %(taken)s, before the parcel was shipped on"
                    " %(moment)s: it cannot show the goods as they arrived."
                ),
            ),
            (
                "metadata_taken_before_delivery",
                context.delivered_at,
                gettext_noop(
                    "The photo was taken on %(taken)s, before the parcel was delivered on"
                    " %(moment)s: it cannot show the goods as they arrived."
                ),
            ),
        ):
            if moment is None or moment.tzinfo is None:
                continue
            if taken + slack < moment:
                return [
                    FindingData(
                        code=code,
                        severity=Severity.HIGH,
                        message=message,
                        params={
                            "taken": _show(taken),
                            "moment": _show(moment),
                        },
                        details={
                            "capture_time": taken.isoformat(),
                            "capture_time_raw": raw and short_text(raw, 40),
                            "capture_time_had_offset": had_offset,
                            "compared_with": moment.isoformat(),
                            "hours_before": round((moment - taken).total_seconds() / 3600, 1),
                        },
                    )
                ]
        return []


def _lens_and_time(sub: Any) -> dict[str, str]:
    """The lens (EXIF ``LensMake``/``LensModel``) and the capture time as text, where the
    file has them; never a position."""
    shown = {}
    lens = " ".join(
        text
        for text in (exif_text(sub.get(TAG_LENS_MAKE)), exif_text(sub.get(TAG_LENS_MODEL)))
        if text
    )
    if lens:
        shown["lens"] = short_text(lens, 80)
    parsed = parse_exif_datetime(
        exif_text(sub.get(TAG_DATETIME_ORIGINAL)), exif_text(sub.get(TAG_OFFSET_TIME_ORIGINAL))
    )
    if parsed is not None and parsed[0] >= EARLIEST_PLAUSIBLE:
        shown["taken"] = _show(parsed[0])
    return shown


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _camera_label(make: str | None, model: str | None) -> str:
    make = (make or "").strip()
    model = (model or "").strip()
    if make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make, model) if part)


def _has_gps(exif: Any) -> bool:
    try:
        gps = exif.get_ifd(IFD_GPS)
    except Exception:  # noqa: BLE001
        return False
    return bool(gps.get(GPS_LATITUDE) or gps.get(GPS_LONGITUDE))


def _parse_xmp_datetime(value: str | None) -> tuple[dt.datetime, bool] | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=CHINA_TZ), False
    return parsed, True


def _show(moment: dt.datetime) -> str:
    """A time as a merchant in China reads it, in Beijing time."""
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
