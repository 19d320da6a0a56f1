"""Traces image generators leave in file metadata.

* AUTOMATIC1111 / Forge / SD.Next: PNG text ``parameters`` (``Steps:``, ``Sampler:``,
  ``Negative prompt:``); in JPEG/WebP the same text sits in EXIF ``UserComment``.
* ComfyUI: PNG text ``prompt`` / ``workflow`` holding the node graph as JSON.
* InvokeAI: ``sd-metadata``, ``invokeai_metadata``, ``invokeai_graph`` (older: ``Dream``).
* NovelAI: ``Software == "NovelAI"`` with a ``Comment`` JSON of generation settings.
* Midjourney: a ``Description`` (PNG text, XMP dc:description or EXIF) with ``Job ID:``.
* Fooocus, SwarmUI, Draw Things, Easy Diffusion: their own parameter JSON.
* A generator's name in EXIF ``Make``/``Software``, XMP ``CreatorTool`` or a PNG
  ``Software``/``Source`` chunk (Ideogram, Midjourney, DALL-E, Firefly...): a weaker hint.

Findings name the generator and quote a short excerpt (one line, at most 80 characters);
a prompt is never copied whole.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_noop

from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.checks.metadata import (
    NS_DC,
    NS_XMP,
    exif_fields,
    info_texts,
    parse_xmp,
    short_text,
    xmp_values,
)

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

EXCERPT_CHARS = 80
MAX_SCANNED_CHARS = 200_000  # a workflow JSON can be megabytes; we only need its start

_A1111_KEYS = ("Steps:", "Sampler:", "CFG scale:", "Seed:", "Negative prompt:", "Model hash:")

# (lower-case fragment, display name) for names found in Make/Software/CreatorTool/Source.
GENERATOR_NAMES: tuple[tuple[str, str], ...] = (
    ("stable diffusion", "Stable Diffusion"),
    ("stablediffusion", "Stable Diffusion"),
    ("midjourney", "Midjourney"),
    ("dall-e", "DALL-E"),
    ("dall·e", "DALL-E"),
    ("openai", "OpenAI"),
    ("chatgpt", "ChatGPT"),
    ("novelai", "NovelAI"),
    ("ideogram", "Ideogram"),
    ("adobe firefly", "Adobe Firefly"),
    ("leonardo.ai", "Leonardo.Ai"),
    ("comfyui", "ComfyUI"),
    ("automatic1111", "AUTOMATIC1111"),
    ("invokeai", "InvokeAI"),
    ("fooocus", "Fooocus"),
    ("draw things", "Draw Things"),
    ("dreamstudio", "DreamStudio"),
    ("google imagen", "Google Imagen"),
    ("gemini", "Google Gemini"),
    ("bing image creator", "Bing Image Creator"),
    ("即梦", "Jimeng (即梦)"),
    ("jimeng", "Jimeng (即梦)"),
    ("豆包", "Doubao (豆包)"),
    ("doubao", "Doubao (豆包)"),
    ("通义万相", "Tongyi Wanxiang (通义万相)"),
    ("wanxiang", "Tongyi Wanxiang (通义万相)"),
    ("文心一格", "Wenxin Yige (文心一格)"),
    ("可灵", "Kling (可灵)"),
    ("kling ai", "Kling (可灵)"),
    ("liblib", "LiblibAI"),
    ("哩布", "LiblibAI"),
)


def excerpt(text: str) -> str:
    return short_text(text[:2000], EXCERPT_CHARS)


def _json(text: str) -> Any:
    text = text.strip()
    if not text.startswith(("{", "[")) or len(text) > 20 * 1024 * 1024:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _a1111_prompt(text: str) -> str | None:
    """The positive prompt of an A1111 ``parameters`` text, or None if it is not one."""
    head = text[:MAX_SCANNED_CHARS]
    hits = sum(1 for key in _A1111_KEYS if key in head)
    if "Steps:" not in head or hits < 2:
        return None
    prompt = re.split(r"\n?Negative prompt:|\nSteps:", head, maxsplit=1)[0]
    return prompt.strip() or "(no prompt)"


def _comfy_summary(text: str) -> str | None:
    data = _json(text[: 20 * 1024 * 1024])
    if isinstance(data, dict):
        nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else data.values()
        classes = []
        for node in nodes:
            if isinstance(node, dict):
                kind = node.get("class_type") or node.get("type")
                if isinstance(kind, str):
                    classes.append(kind)
        if classes:
            return f"{len(classes)} nodes: " + ", ".join(sorted(set(classes))[:5])
    return None


def _prompt_from_json(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for key in ("prompt", "positive_prompt", "c", "Prompt", "description"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    image = data.get("image")
    if isinstance(image, dict):
        return _prompt_from_json(image)
    return None


def find_generator_traces(image: DecodedImage) -> list[tuple[str, str, str]]:
    """``(generator, where, excerpt)`` for every embedded set of generation parameters."""
    traces: list[tuple[str, str, str]] = []
    texts = info_texts(image)
    exif = exif_fields(image)
    lowered = {key.lower(): value for key, value in texts.items()}

    if "parameters" in lowered:
        value = lowered["parameters"]
        if prompt := _a1111_prompt(value):
            traces.append(("AUTOMATIC1111 / Stable Diffusion WebUI", "parameters", prompt))
        elif (data := _json(value)) and isinstance(data, dict):
            generator = "Fooocus" if "fooocus" in value[:5000].lower() else "Stable Diffusion"
            if "sui_image_params" in data:
                generator = "SwarmUI"
            if prompt := _prompt_from_json(data.get("sui_image_params", data)):
                traces.append((generator, "parameters", prompt))
    for key in ("prompt", "workflow"):
        if key in lowered and (summary := _comfy_summary(lowered[key])):
            traces.append(("ComfyUI", key, summary))
            break
    for key in ("sd-metadata", "invokeai_metadata", "invokeai_graph", "dream"):
        if key in lowered:
            data = _json(lowered[key])
            prompt = _prompt_from_json(data) if data else None
            if prompt is None and isinstance(data, dict):
                positive = data.get("positive_prompt") or data.get("prompt")
                prompt = positive if isinstance(positive, str) else None
            traces.append(("InvokeAI", key, prompt or lowered[key]))
            break
    if "fooocus_scheme" in lowered:
        traces.append(("Fooocus", "fooocus_scheme", lowered["fooocus_scheme"]))

    software = texts.get("Software") or exif.get("Software") or ""
    if software.strip().lower() == "novelai":
        comment = _json(texts.get("Comment", "")) or {}
        prompt = _prompt_from_json(comment) or texts.get("Description") or "NovelAI"
        traces.append(("NovelAI", "Software/Comment", prompt))

    descriptions = [texts.get("Description"), exif.get("ImageDescription")]
    descriptions += xmp_values(parse_xmp(image), NS_DC, "description")
    for description in descriptions:
        if description and "Job ID:" in description:
            traces.append(("Midjourney", "Description", description.split("Job ID:")[0]))
            break

    comment = exif.get("UserComment")
    if comment:
        if prompt := _a1111_prompt(comment):
            traces.append(("AUTOMATIC1111 / Stable Diffusion WebUI", "EXIF UserComment", prompt))
        elif (
            (data := _json(comment))
            and isinstance(data, dict)
            and "c" in data
            and ("sampler" in data or "steps" in data or "seed" in data)
        ):
            traces.append(("Draw Things", "EXIF UserComment", _prompt_from_json(data) or ""))
    return traces


def find_generator_names(image: DecodedImage) -> list[tuple[str, str, str]]:
    """``(generator, where, raw value)`` for a generator named in a maker/software field."""
    texts = info_texts(image)
    exif = exif_fields(image)
    root = parse_xmp(image)
    candidates: list[tuple[str, str | None]] = [
        ("EXIF Make", exif.get("Make")),
        ("EXIF Model", exif.get("Model")),
        ("EXIF Software", exif.get("Software")),
        ("EXIF Artist", exif.get("Artist")),
        ("text Software", texts.get("Software")),
        ("text Source", texts.get("Source")),
        ("text Author", texts.get("Author")),
    ]
    candidates += [("XMP CreatorTool", v) for v in xmp_values(root, NS_XMP, "CreatorTool")]
    found: list[tuple[str, str, str]] = []
    for where, value in candidates:
        if not value:
            continue
        low = value[:500].lower()
        for fragment, name in GENERATOR_NAMES:
            if fragment in low:
                found.append((name, where, value))
                break
    return found


class GeneratorTraceCheck(Check):
    """Names the AI generator whose parameters or name are embedded in the file.

    Promises: embedded generation parameters (A1111, ComfyUI, InvokeAI, NovelAI,
    Midjourney...) are critical; a generator's name in a maker/software field is high;
    excerpts are one line of at most 80 characters. Metadata only, no pixels.
    """

    name = "generator_traces"
    version = 1
    codes = {
        "generator_parameters": (
            65,
            "The file embeds the generation parameters of an AI image generator.",
        ),
        "generator_named": (
            40,
            "An AI image generator is named as the file's maker or software.",
        ),
    }
    attached_to = frozenset({"claim", "product", "shipment"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        findings: list[FindingData] = []
        traced: set[str] = set()
        for generator, where, text in find_generator_traces(image):
            if generator in traced:
                continue
            traced.add(generator)
            quote = excerpt(text)
            findings.append(
                FindingData(
                    code="generator_parameters",
                    severity=Severity.CRITICAL,
                    message=gettext_noop(
                        "The file holds the settings of the AI image generator %(generator)s"
                        " that made it (“%(excerpt)s”)."
                    ),
                    params={"generator": generator, "excerpt": quote},
                    details={"generator": generator, "found_in": where, "excerpt": quote},
                )
            )
        for generator, where, value in find_generator_names(image):
            if generator in traced:
                continue
            traced.add(generator)
            quote = excerpt(value)
            findings.append(
                FindingData(
                    code="generator_named",
                    severity=Severity.HIGH,
                    message=gettext_noop(
                        "The file names the AI image generator %(generator)s as its maker"
                        " (“%(excerpt)s”)."
                    ),
                    params={"generator": generator, "excerpt": quote},
                    details={"generator": generator, "found_in": where, "excerpt": quote},
                )
            )
        return findings
