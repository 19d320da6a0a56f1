"""C2PA Content Credentials: what the signed history of the file says.

Read with c2pa-python from the bytes already in memory (stream API with the sniffed MIME
type), in a reader context that never touches the network: remote manifests and OCSP
fetching are switched off, and the read runs under a time bound. Every manifest in the
store is walked, not only the active one, because generators often record the
``c2pa.created`` action with ``digitalSourceType = trainedAlgorithmicMedia`` in an
ingredient's manifest and only ``c2pa.opened`` in the active one.

What is reported, each on its own so a merchant is not misled:

* what the actions say: AI-generated / AI composite / synthetic (critical/high), edits
  such as colour adjustments, placing, resizing (medium), a camera's own capture
  (``digitalCapture``: information, not a signal);
* binding: the pixels changed after signing (``assertion.dataHash.mismatch``...);
* signature: the claim signature does not verify;
* signer trust: without trust anchors even genuine generators read as untrusted, which
  by itself says nothing about forgery (information);
* a manifest kept on a remote server that we did not fetch.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_noop

from evidence.checks.aigc_labels import (
    SOURCE_AI_COMPOSITE,
    SOURCE_AI_GENERATED,
    SOURCE_CAPTURE,
    SOURCE_SYNTHETIC,
    classify_digital_source_type,
    source_type_term,
)
from evidence.checks.base import Check, CheckContext, FindingData, Severity
from evidence.checks.metadata import short_text
from evidence.containers import jpeg_segments

if TYPE_CHECKING:
    from evidence.imaging import DecodedImage

logger = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 10.0

# Offline reading: never fetch a remote manifest or an OCSP response; still verify.
READER_SETTINGS: dict[str, Any] = {
    "verify": {
        "remote_manifest_fetch": False,
        "ocsp_fetch": False,
        "verify_trust": True,
        "verify_after_reading": True,
    },
}

# Actions that change what the picture shows; metadata-only, rotation and format changes
# (c2pa.edited.metadata, c2pa.orientation, c2pa.converted, c2pa.transcoded...) are not.
EDIT_ACTIONS = frozenset(
    {
        "c2pa.color_adjustments",
        "c2pa.cropped",
        "c2pa.drawing",
        "c2pa.edited",
        "c2pa.enhanced",
        "c2pa.filtered",
        "c2pa.placed",
        "c2pa.removed",
        "c2pa.resized",
        "c2pa.unknown",
    }
)

BINDING_FAILURES = re.compile(
    r"^assertion\.(dataHash|boxesHash|bmffHash|collectionHash)\.mismatch$|^assertion\.\w*[Hh]ash\.mismatch$"
)
SIGNATURE_FAILURES = re.compile(
    r"^claimSignature\.(mismatch|missing)$|^signingCredential\.(invalid|revoked|expired)$"
)
UNTRUSTED = "signingCredential.untrusted"

_MIME_FOR_C2PA = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
    "AVIF": "image/avif",
}


class RemoteManifestError(Exception):
    """The file points to a manifest kept on a server; we do not fetch it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


_C2PA_TRACES = (b"c2pa", b"jumb", b"provenance")


def might_carry_c2pa(data: bytes, fmt: str = "") -> bool:
    """Cheap pre-filter: a JUMBF store or an XMP provenance link in the bytes.

    In a JPEG both can only sit in the marker segments before the picture data (C2PA
    puts its JUMBF boxes in APP11, the remote link in the XMP of APP1), so only those
    are read: a few KB instead of megabytes of compressed pixels."""
    if fmt == "JPEG":
        segments = jpeg_segments(data)
        if segments and segments[-1][0] == 0xDA:  # the walk reached the first scan
            return any(trace in payload for _, payload in segments for trace in _C2PA_TRACES)
    return any(trace in data for trace in _C2PA_TRACES)


def read_manifest_store(data: bytes, mime: str) -> dict[str, Any] | None:
    """The manifest store as JSON, None without one. Raises RemoteManifestError / C2paError."""
    import c2pa

    context = c2pa.Context(settings=c2pa.Settings.from_dict(READER_SETTINGS))
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=context)
    except c2pa.C2paError as exc:
        text = str(exc)
        match = re.search(r"remote manifests? from url (\S+)", text, re.I)
        if match or text.lower().startswith("remote"):
            raise RemoteManifestError(match.group(1) if match else "") from exc
        raise
    if reader is None:
        return None
    try:
        return json.loads(reader.json())
    finally:
        reader.close()


def read_with_time_bound(data: bytes, mime: str, timeout: float) -> dict[str, Any] | None:
    """``read_manifest_store`` in a helper thread, giving up after ``timeout`` seconds."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="c2pa")
    try:
        return pool.submit(read_manifest_store, data, mime).result(timeout=timeout)
    finally:
        # A native call cannot be interrupted; do not wait for it (it has no network).
        pool.shutdown(wait=False, cancel_futures=True)


def _agent_name(agent: Any) -> str | None:
    if isinstance(agent, str):
        return short_text(agent, 80)
    if isinstance(agent, dict):
        name = agent.get("name") or agent.get("label")
        version = agent.get("version")
        if isinstance(name, str):
            return short_text(f"{name} {version}" if version else name, 80)
    return None


def _generator_name(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name = _agent_name(info[0])
        if name:
            return name
    generator = manifest.get("claim_generator")
    return short_text(generator, 80) if isinstance(generator, str) else "?"


def manifest_actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of every actions assertion (v1 and v2) in one manifest."""
    actions: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        label = assertion.get("label") or ""
        if not (label == "c2pa.actions" or label.startswith("c2pa.actions")):
            continue
        data = assertion.get("data") or {}
        for action in data.get("actions") or []:
            if isinstance(action, dict):
                actions.append(action)
    return actions


def _failure_codes(store: dict[str, Any]) -> list[dict[str, str]]:
    """All validation failures, from the legacy list and every manifest's results."""
    failures: list[dict[str, str]] = []
    for status in store.get("validation_status") or []:
        if isinstance(status, dict) and status.get("code"):
            failures.append(status)
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures += [s for s in active.get("failure") or [] if isinstance(s, dict)]
    for delta in results.get("ingredientDeltas") or []:
        result = (delta or {}).get("validationDeltas") or {}
        failures += [s for s in result.get("failure") or [] if isinstance(s, dict)]
    unique: dict[tuple[str, str], dict[str, str]] = {}
    for status in failures:
        unique[(str(status.get("code")), str(status.get("url", "")))] = status
    return list(unique.values())


def _manifest_of(url: str) -> str | None:
    match = re.search(r"/c2pa/([^/]+)/", url or "")
    return match.group(1) if match else None


class C2paManifestCheck(Check):
    """Reads C2PA Content Credentials offline and reports provenance and validation apart.

    Promises: never fetches anything (remote manifests are reported as not verified),
    returns within READ_TIMEOUT_SECONDS, walks every manifest in the store, and treats an
    untrusted signer or a camera's own manifest as information, not as a signal.
    """

    name = "c2pa_manifest"
    version = 1
    codes = {
        "c2pa_ai_generated": (
            75,
            "Signed Content Credentials say a trained AI model generated the picture.",
        ),
        "c2pa_ai_composite": (
            55,
            "Signed Content Credentials say AI-generated content was composited in.",
        ),
        "c2pa_synthetic": (
            35,
            "Signed Content Credentials say the picture was made by an algorithm, not a camera.",
        ),
        "c2pa_edited": (15, "Content Credentials record edits (colour, placing, resizing...)."),
        "c2pa_binding_mismatch": (
            40,
            "The picture changed after its Content Credentials were signed.",
        ),
        "c2pa_signature_invalid": (30, "A Content Credentials signature does not verify."),
        "c2pa_signer_untrusted": (
            0,
            "The signer is not on our trust list (common for genuine files; not a signal).",
        ),
        "c2pa_camera_capture": (0, "A camera signed this photo at capture."),
        "c2pa_manifest_present": (0, "The file carries Content Credentials (C2PA)."),
        "c2pa_remote_unverified": (
            5,
            "The file points to Content Credentials kept on a server; they were not fetched.",
        ),
        "c2pa_unreadable": (
            10,
            "The file carries Content Credentials that cannot be read.",
        ),
    }
    attached_to = frozenset({"claim", "product", "shipment"})

    def run(self, image: DecodedImage, context: CheckContext) -> list[FindingData]:
        if not might_carry_c2pa(image.data, image.format):
            return []
        mime = _MIME_FOR_C2PA.get(image.format, image.mime)
        try:
            store = read_with_time_bound(image.data, mime, READ_TIMEOUT_SECONDS)
        except RemoteManifestError as exc:
            host = re.sub(r"^\w+://([^/]+).*$", r"\1", exc.url) if exc.url else ""
            return [
                FindingData(
                    code="c2pa_remote_unverified",
                    severity=Severity.LOW,
                    message=gettext_noop(
                        "The file points to Content Credentials stored on a server"
                        " (%(host)s). They were not fetched, so nothing about them is"
                        " verified."
                    ),
                    params={"host": short_text(host, 80) or "?"},
                    details={"remote_url": short_text(exc.url, 300)},
                )
            ]
        except concurrent.futures.TimeoutError:
            return [_unreadable("timeout")]
        except Exception as exc:  # noqa: BLE001 - c2pa raises C2paError subclasses
            logger.info("c2pa manifest unreadable: %s", exc)
            if b"c2pa" not in image.data and b"jumb" not in image.data:
                return []  # the pre-filter only matched an unrelated word
            return [_unreadable(short_text(str(exc), 200))]
        if store is None:
            return []
        return self._store_findings(store)

    def _store_findings(self, store: dict[str, Any]) -> list[FindingData]:
        findings: list[FindingData] = []
        manifests: dict[str, Any] = store.get("manifests") or {}
        active = store.get("active_manifest")
        active_manifest = manifests.get(active) or {}
        signature = active_manifest.get("signature_info") or {}
        findings.append(
            FindingData(
                code="c2pa_manifest_present",
                severity=Severity.INFO,
                message=gettext_noop(
                    "The file carries Content Credentials (C2PA) written by %(generator)s,"
                    " signed by %(issuer)s."
                ),
                params={
                    "generator": _generator_name(active_manifest),
                    "issuer": short_text(str(signature.get("issuer") or "?"), 80),
                },
                details={
                    "manifests": len(manifests),
                    "validation_state": store.get("validation_state"),
                },
            )
        )

        # Provenance: every action of every manifest.
        strongest: dict[str, FindingData] = {}
        edits: dict[str, list[str]] = {}
        for label, manifest in manifests.items():
            role = "active" if label == active else "ingredient"
            for action in manifest_actions(manifest):
                name = action.get("action")
                source = action.get("digitalSourceType")
                group = classify_digital_source_type(source)
                agent = _agent_name(action.get("softwareAgent")) or _generator_name(manifest)
                if group and group not in strongest:
                    finding = _source_finding(group, source, agent, role, name)
                    if finding:
                        strongest[group] = finding
                if name in EDIT_ACTIONS:
                    # The action's own identifier: language-neutral, shown as is.
                    edits.setdefault(name.removeprefix("c2pa."), []).append(role)
        for group in (SOURCE_AI_GENERATED, SOURCE_AI_COMPOSITE, SOURCE_SYNTHETIC, SOURCE_CAPTURE):
            if group in strongest:
                findings.append(strongest[group])
        if edits:
            names = sorted(edits)
            findings.append(
                FindingData(
                    code="c2pa_edited",
                    severity=Severity.MEDIUM,
                    message=gettext_noop(
                        "The file's Content Credentials record that it was edited: %(edits)s."
                    ),
                    params={"edits": ", ".join(names)},
                    details={"edits": names},
                )
            )

        # Validation, reported per concern.
        failures = _failure_codes(store)
        binding = [f for f in failures if BINDING_FAILURES.match(str(f.get("code")))]
        signature_bad = [f for f in failures if SIGNATURE_FAILURES.match(str(f.get("code")))]
        untrusted = [f for f in failures if f.get("code") == UNTRUSTED]
        if binding:
            findings.append(
                FindingData(
                    code="c2pa_binding_mismatch",
                    severity=Severity.HIGH,
                    message=gettext_noop(
                        "The picture was changed after its Content Credentials were signed:"
                        " the signed fingerprint no longer matches the pixels."
                    ),
                    details=_failure_details(binding, active),
                )
            )
        if signature_bad:
            in_active = any(_manifest_of(f.get("url", "")) == active for f in signature_bad)
            findings.append(
                FindingData(
                    code="c2pa_signature_invalid",
                    severity=Severity.HIGH,
                    message=gettext_noop(
                        "The signature of this file's Content Credentials does not verify:"
                        " the record was altered or forged."
                    )
                    if in_active
                    else gettext_noop(
                        "The signature of an earlier version recorded in this file's Content"
                        " Credentials does not verify: that record was altered or forged."
                    ),
                    details=_failure_details(signature_bad, active),
                )
            )
        if untrusted:
            findings.append(
                FindingData(
                    code="c2pa_signer_untrusted",
                    severity=Severity.INFO,
                    message=gettext_noop(
                        "The Content Credentials are signed by %(issuer)s, which is not on"
                        " our trust list. This is common for genuine files and is not by"
                        " itself a sign of forgery."
                    ),
                    params={"issuer": short_text(str(signature.get("issuer") or "?"), 80)},
                    details=_failure_details(untrusted, active),
                )
            )
        return findings


def _source_finding(
    group: str, source: str, agent: str, role: str, action: Any
) -> FindingData | None:
    term = source_type_term(source)
    details = {
        "digital_source_type": short_text(source, 120),
        "software_agent": agent,
        "manifest": role,
        "action": short_text(str(action), 60),
    }
    params = {"agent": agent, "term": term}
    if group == SOURCE_AI_GENERATED:
        return FindingData(
            code="c2pa_ai_generated",
            severity=Severity.CRITICAL,
            message=gettext_noop(
                "The file's signed Content Credentials say it was generated by AI"
                " (%(agent)s, source type %(term)s)."
            ),
            params=params,
            details=details,
        )
    if group == SOURCE_AI_COMPOSITE:
        return FindingData(
            code="c2pa_ai_composite",
            severity=Severity.HIGH,
            message=gettext_noop(
                "The file's signed Content Credentials say AI-generated content was added"
                " to it (%(agent)s, source type %(term)s)."
            ),
            params=params,
            details=details,
        )
    if group == SOURCE_SYNTHETIC:
        return FindingData(
            code="c2pa_synthetic",
            severity=Severity.HIGH,
            message=gettext_noop(
                "The file's signed Content Credentials say it was made by software, not"
                " photographed (%(agent)s, source type %(term)s)."
            ),
            params=params,
            details=details,
        )
    if group == SOURCE_CAPTURE:
        return FindingData(
            code="c2pa_camera_capture",
            severity=Severity.INFO,
            message=gettext_noop(
                "The file's Content Credentials say it was captured by a camera (%(agent)s)."
            ),
            params=params,
            details=details,
        )
    return None


def _failure_details(failures: list[dict[str, Any]], active: Any) -> dict[str, Any]:
    return {
        "codes": sorted({str(f.get("code")) for f in failures}),
        "manifests": sorted(
            {
                "active" if _manifest_of(f.get("url", "")) == active else "ingredient"
                for f in failures
            }
        ),
    }


def _unreadable(reason: str) -> FindingData:
    return FindingData(
        code="c2pa_unreadable",
        severity=Severity.LOW,
        message=gettext_noop(
            "The file carries Content Credentials (C2PA) that cannot be read; they were"
            " probably damaged."
        ),
        details={"reason": reason},
    )
