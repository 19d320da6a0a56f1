"""The merchant portal's shop pages: products with their listing photos, shipments with
their packing photos and videos.

Every object is fetched through a selector scoped to the user's shops (another shop's is
a 404); every write is a service of :mod:`merchants.services`, which asks
``refunds.policy`` (only an owner manages products; anybody of the shop adds packing
evidence). The pages only ask the same policy to decide what to offer.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from evidence.services import BatchRejected, EvidenceRejected
from merchants import selectors, services
from merchants.forms import (
    PackingEvidenceForm,
    ProductPhotosForm,
    ReplacePhotoForm,
    upload_limits,
    uploads_of,
)
from refunds import policy
from refunds.exceptions import ClaimError


def upload_done(request, *args, **kwargs) -> HttpResponse:
    """Where a successful upload goes next: a redirect; for static/js/upload.js (which
    cannot stop an XMLHttpRequest from following one, and would then swallow the
    page's messages) a 204 naming the page to open."""
    response = redirect(*args, **kwargs)
    if request.headers.get("X-Requested-With") != "XMLHttpRequest":
        return response
    return HttpResponse(status=204, headers={"X-Upload-Redirect": response["Location"]})


def _products_url(merchant) -> str:
    return f"{reverse('merchant_products')}?shop={merchant.pk}"


def _added_message(request, result) -> None:
    if result.added:
        messages.success(
            request,
            ngettext(
                "%(count)s file attached; its checks run now.",
                "%(count)s files attached; their checks run now.",
                len(result.added),
            )
            % {"count": len(result.added)},
        )
    if result.already:
        messages.info(
            request,
            _("Already attached (nothing to do): %(names)s")
            % {"names": ", ".join(f.original_name or str(f.uuid) for f in result.already)},
        )


def _refusal_lines(exc: EvidenceRejected) -> list[str]:
    if isinstance(exc, BatchRejected):
        return [f"{r.name}: {r.message}" if r.name else r.message for r in exc.refusals]
    return [exc.message]


def _products_page(request, merchant, *, errors=None, status=200):
    """The page; ``errors``: ``("product" | "photo", id) -> lines``, shown beside it."""
    errors = errors or {}
    products = selectors.products_for_shop(merchant=merchant)
    for product in products:
        product.errors = errors.get(("product", product.pk), [])
        for photo in product.all_photos:
            photo.errors = errors.get(("photo", photo.pk), [])
    return render(
        request,
        "merchants/products.html",
        {
            "shop": merchant,
            "shops": selectors.merchants_for_user(user=request.user).order_by("name", "pk"),
            "products": products,
            "can_manage": policy.can_manage_products(request.user, merchant),
            "limits": upload_limits(),
        },
        status=status,
    )


@login_required
def products(request):
    """The selected shop's products with their listing photos, each with its check
    status and the claims that matched it."""
    merchant = selectors.shop_for_user(user=request.user, shop_id=request.GET.get("shop"))
    return _products_page(request, merchant)


def _refused(request, merchant, key, lines):
    """The page again, the refusal named beside the form that caused it (nothing kept)."""
    return _products_page(request, merchant, errors={key: lines}, status=400)


@login_required
@require_POST
def product_photos_add(request, product_id: int):
    """Several listing photos at once: all attached, or none (each refusal named)."""
    product = selectors.product_for_user(user=request.user, product_id=product_id)
    form = ProductPhotosForm(request.POST, request.FILES)
    if not form.is_valid():
        lines = [str(e) for e in form.errors.get("files", [])]
        return _refused(request, product.merchant, ("product", product.pk), lines)
    try:
        result = services.product_photos_add(
            product=product, uploads=uploads_of(form.cleaned_data["files"]), by=request.user
        )
    except EvidenceRejected as exc:
        return _refused(request, product.merchant, ("product", product.pk), _refusal_lines(exc))
    except ClaimError as exc:
        return _refused(request, product.merchant, ("product", product.pk), [exc.message])
    _added_message(request, result)
    return upload_done(request, _products_url(product.merchant))


@login_required
@require_POST
def product_photo_replace(request, photo_id: int):
    """A new file in place of a listing photo: the new one attached and the old one
    retired in one transaction (the old one is kept, no longer a reference)."""
    photo = selectors.product_photo_for_user(user=request.user, photo_id=photo_id)
    product = photo.product
    form = ReplacePhotoForm(request.POST, request.FILES)
    key = ("photo", photo.pk)
    if not form.is_valid():
        return _refused(request, product.merchant, key, [str(e) for e in form.errors["file"]])
    upload = form.cleaned_data["file"]
    try:
        result = services.product_photos_add(
            product=product, uploads=uploads_of([upload]), by=request.user, replaces=photo
        )
    except EvidenceRejected as exc:
        return _refused(request, product.merchant, key, _refusal_lines(exc))
    except ClaimError as exc:
        return _refused(request, product.merchant, key, [exc.message])
    _added_message(request, result)
    return upload_done(request, _products_url(product.merchant))


@login_required
@require_POST
def product_photos_retire(request, product_id: int):
    """Retire the ticked listing photos: kept as evidence, no longer references."""
    product = selectors.product_for_user(user=request.user, product_id=product_id)
    try:
        ids = [int(value) for value in request.POST.getlist("photo")]
    except ValueError:
        ids = []
    key = ("product", product.pk)
    if not ids:
        return _refused(request, product.merchant, key, [_("Tick the photos to retire.")])
    try:
        count = services.product_photos_retire(product=product, photo_ids=ids, by=request.user)
    except ClaimError as exc:
        return _refused(request, product.merchant, key, [exc.message])
    messages.success(
        request,
        ngettext(
            "%(count)s photo retired: it is kept, and no longer compared with new claims.",
            "%(count)s photos retired: they are kept, and no longer compared with new claims.",
            count,
        )
        % {"count": count},
    )
    return upload_done(request, _products_url(product.merchant))


# --- Shipments -------------------------------------------------------------------------------


@login_required
def shipments(request):
    """The selected shop's shipments, newest first."""
    merchant = selectors.shop_for_user(user=request.user, shop_id=request.GET.get("shop"))
    return render(
        request,
        "merchants/shipments.html",
        {
            "shop": merchant,
            "shops": selectors.merchants_for_user(user=request.user).order_by("name", "pk"),
            "shipments": selectors.shipments_for_shop(merchant=merchant)[:200],
        },
    )


def _shipment_page(request, shipment, *, form=None, errors=(), status=200):
    return render(
        request,
        "merchants/shipment.html",
        {
            "shop": shipment.order.merchant,
            "shipment": shipment,
            "files": selectors.packing_evidence_for_shipment(shipment=shipment),
            "can_add": policy.can_add_packing_evidence(request.user, shipment.order.merchant),
            "limits": upload_limits(videos=True),
            "form": form or PackingEvidenceForm(),
            "errors": list(errors),
        },
        status=status,
    )


@login_required
def shipment_page(request, shipment_id: int):
    """One shipment: carrier, tracking, shipped time, its packing photos and videos with
    their check status and the frames kept from each video as references."""
    shipment = selectors.shipment_for_user(user=request.user, shipment_id=shipment_id)
    return _shipment_page(request, shipment)


@login_required
@require_POST
def shipment_evidence_add(request, shipment_id: int):
    """Packing photos and videos, several at once, all attached or none."""
    shipment = selectors.shipment_for_user(user=request.user, shipment_id=shipment_id)
    form = PackingEvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        lines = [str(e) for e in form.errors.get("files", [])]
        return _shipment_page(request, shipment, form=form, errors=lines, status=400)
    try:
        result = services.shipment_evidence_add(
            shipment=shipment, uploads=uploads_of(form.cleaned_data["files"]), by=request.user
        )
    except EvidenceRejected as exc:
        return _shipment_page(request, shipment, errors=_refusal_lines(exc), status=400)
    except ClaimError as exc:
        return _shipment_page(request, shipment, errors=[exc.message], status=400)
    _added_message(request, result)
    return upload_done(request, "merchant_shipment", shipment_id=shipment.pk)
