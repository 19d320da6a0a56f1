"""Uploaded files are never served from a public URL: these views stream them after
checking who asks.

* The display copy (re-encoded, metadata-free) of a file: to a member of the shop the
  file concerns, or a reviewer. Merchants never get the original bytes (which may hold
  GPS and camera data).
* The original, as a download: reviewers only. Each download is recorded in the chain of
  custody with the SHA-256 of the bytes handed over (:mod:`evidence.custody`).
* A finding's artifact image: to whoever may see the file the finding is about.

Everybody else gets 404, the same answer as for a file that does not exist.
"""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from evidence import custody
from evidence.models import EvidenceFile, FindingArtifact
from merchants.selectors import user_can_act_for
from refunds import policy
from refunds.policy import is_reviewer
from refunds.selectors import claim_visible_to

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/avif": "avif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
}


def _may_see(user, evidence: EvidenceFile) -> bool:
    if evidence.claim_id:
        return claim_visible_to(user=user, claim_id=evidence.claim_id)
    if evidence.product_id:
        merchant = evidence.product.merchant
    elif evidence.shipment_id:
        merchant = evidence.shipment.order.merchant
    else:
        return is_reviewer(user)
    # A reviewer sees the listing and packing photos of their own platform's shops.
    if is_reviewer(user) and policy.reviewer_platform_id(user) in (None, merchant.tenant_id):
        return True
    return user_can_act_for(user=user, merchant_id=merchant.pk)


def _get_visible(request, file_uuid) -> EvidenceFile:
    evidence = get_object_or_404(
        EvidenceFile.objects.select_related("product__merchant", "shipment__order__merchant"),
        uuid=file_uuid,
    )
    if not _may_see(request.user, evidence):
        raise Http404
    return evidence


def _stream(field, *, content_type: str, attachment_name: str = "") -> FileResponse:
    try:
        handle = field.storage.open(field.name, "rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return _response(handle, content_type=content_type, attachment_name=attachment_name)


def _response(handle, *, content_type: str, attachment_name: str = "") -> FileResponse:
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=bool(attachment_name),
        filename=attachment_name or None,
    )
    response["Cache-Control"] = "private, max-age=600"
    response["X-Content-Type-Options"] = "nosniff"
    # An image opened on its own must not run anything, whatever its bytes say.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@login_required
def display_copy(request, file_uuid):
    evidence = _get_visible(request, file_uuid)
    if not evidence.display:
        raise Http404  # not checked yet: there is nothing safe to show
    return _stream(evidence.display, content_type="image/jpeg")


@login_required
def original_file(request, file_uuid):
    if not is_reviewer(request.user):
        raise Http404
    evidence = _get_visible(request, file_uuid)
    extension = EXTENSIONS.get(evidence.content_type, "bin")
    try:
        data = custody.evidence_original_export(evidence=evidence, user=request.user)
    except FileNotFoundError as exc:
        raise Http404 from exc
    return _response(
        io.BytesIO(data),
        content_type=evidence.content_type or "application/octet-stream",
        attachment_name=f"evidence-{evidence.pk}-{evidence.uuid.hex[:8]}.{extension}",
    )


@login_required
def artifact_image(request, artifact_id: int):
    artifact = get_object_or_404(
        FindingArtifact.objects.select_related(
            "finding__evidence__product__merchant",
            "finding__evidence__shipment__order__merchant",
        ),
        pk=artifact_id,
    )
    if not _may_see(request.user, artifact.finding.evidence):
        raise Http404
    return _stream(artifact.image, content_type="image/png")
