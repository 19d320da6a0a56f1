"""Merchant pages: the inbox of a shop's claims and the claim page with the answer form.

Merchants see only their own shops' claims (selectors 404 the rest) and never the
buyer's private data: the templates get the buyer's display name and nothing else of it.
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from evidence import selectors as evidence_selectors
from evidence.services import EvidenceRejected, evidence_add_batch
from merchants.views import upload_done
from refunds import policy, selectors, services
from refunds.exceptions import ClaimError, ConfirmationRequired
from refunds.forms import CounterEvidenceForm, InboxFilterForm, MerchantResponseForm
from refunds.models import ClaimStatus, Outcome
from refunds.views.claim_photos import ALIGNED_ARTIFACT, photo_panels
from refunds.views.common import evidence_pack_response, risk_thresholds, timeline

INBOX_PAGE_SIZE = 20
AID_ARTIFACTS = frozenset({"ela", "exif_thumbnail", "noise", "jpeg_grid", "double_quantisation"})
# Shown in the compare control of each photo, not among the pictures of what differs.
COMPARE_ARTIFACTS = frozenset({ALIGNED_ARTIFACT})
CENTS = Decimal("0.01")
S = ClaimStatus


INBOX_SHOP_SESSION_KEY = "inbox_shop"


@login_required
def inbox(request):
    """The shop's claims: search, filters, sort, the shop switcher and keyset pages.

    The shop chosen (``?shop=<id>`` or ``all``) is remembered in the session; a shop the
    user does not act for is a 404."""
    shop = request.GET.get("shop")
    if shop is None:
        shop = request.session.get(INBOX_SHOP_SESSION_KEY, "all")
        try:
            shops, shop_ids = selectors.merchant_inbox_scope(user=request.user, shop=shop)
        except Http404:  # a membership ended since: back to all the user's shops
            shop = "all"
            shops, shop_ids = selectors.merchant_inbox_scope(user=request.user, shop=shop)
    else:
        shops, shop_ids = selectors.merchant_inbox_scope(user=request.user, shop=shop)
        if request.session.get(INBOX_SHOP_SESSION_KEY) != shop:  # the next pages carry it too
            request.session[INBOX_SHOP_SESSION_KEY] = shop
    filter_form = InboxFilterForm(request.GET)
    data = filter_form.cleaned_data if filter_form.is_valid() else {}
    filters = selectors.InboxFilters(
        q=data.get("q", ""),
        status=data.get("status", ""),
        risk=data.get("risk", ""),
        reason=data.get("reason", ""),
        due_within_24h=data.get("due", False),
        has_signals=data.get("signals", False),
        sort=data.get("sort") or "deadline",
    )
    thresholds = risk_thresholds()
    page = selectors.merchant_inbox_page(
        shop_ids=shop_ids,
        filters=filters,
        thresholds=thresholds,
        cursor=request.GET.get("cursor", ""),
        size=INBOX_PAGE_SIZE,
    )
    # The links of the page keep every filter; only the cursor changes.
    params = request.GET.copy()
    params.pop("cursor", None)
    params["shop"] = shop
    next_params = params.copy()
    next_params["cursor"] = page.next_cursor
    return render(
        request,
        "refunds/merchant_inbox.html",
        {
            "page": page,
            "filter_form": filter_form,
            "filters": filters,
            "is_first_page": not request.GET.get("cursor"),
            "first_page_query": params.urlencode(),
            "next_page_query": next_params.urlencode() if page.next_cursor else "",
            "waiting": selectors.merchant_inbox_waiting(shop_ids=shop_ids),
            "shops": shops,
            "shop": shop,
            "show_shop_column": len(shops) > 1,
            "risk_thresholds": thresholds,
        },
    )


def _claim_context(request, claim, *, form=None, evidence_form=None) -> dict:
    files = list(evidence_selectors.evidence_for_claim(claim_id=claim.pk))
    buyer_files = [f for f in files if f.submitted_by != "merchant"]
    own_files = [f for f in files if f.submitted_by == "merchant"]
    buyer_ids = {f.pk for f in buyer_files}
    findings = [
        f
        for f in evidence_selectors.findings_for_claim(claim_id=claim.pk)
        if f.evidence_id in buyer_ids
    ]
    artifacts = [a for finding in findings for a in finding.artifacts.all()]
    # The picture that explains the claim in one look comes first.
    preferred = {"overlay": 0, "side_by_side": 1, "exif_thumbnail": 2, "ela": 3}
    artifacts.sort(key=lambda a: preferred.get(a.name, 9))
    signals = [f for f in findings if f.weight > 0]
    facts = [f for f in findings if f.weight == 0 and f.severity != "error"]
    errors = [f for f in findings if f.severity == "error"]
    prefetch_related_objects([claim.order], "items")  # the page's items list reads them too
    listing_photos = list(
        evidence_selectors.reference_files_for_order(order=claim.order, with_features=False)
    )
    # Beside the buyer's photo: the listing photo a check matched it to, else the first.
    matched_ids = [f.related_evidence_id for f in signals if f.related_evidence_id]
    matched_listing = next(
        (p for p in listing_photos if matched_ids and p.pk == matched_ids[0]),
        listing_photos[0] if listing_photos else None,
    )
    decision = selectors.claim_decisions(claim_id=claim.pk).first()
    user = request.user
    # What the page offers is what the services would allow (refunds.policy).
    can_respond = policy.can_respond(user, claim)
    return {
        "claim": claim,
        "items": list(claim.order.items.all()),
        "buyer_files": buyer_files,
        "own_files": own_files,
        "listing_photos": listing_photos,
        "matched_listing": matched_listing,
        "signals": signals,
        "facts": facts,
        "errors": errors,
        "artifacts": artifacts,
        # What changed, drawn; the forensic aids (ELA, EXIF preview) fold away.
        "main_artifacts": [a for a in artifacts if a.name not in AID_ARTIFACTS | COMPARE_ARTIFACTS],
        "aid_artifacts": [a for a in artifacts if a.name in AID_ARTIFACTS],
        "risk_reasons": claim.risk_reasons or [],
        "timeline": timeline(selectors.claim_timeline(claim_id=claim.pk), for_merchant=True),
        "decision": decision,
        "can_respond": can_respond,
        # While the shop may answer, its files go with the answer (the answer form has
        # the field); afterwards, in a form of their own.
        "can_add_evidence": not can_respond and policy.can_add_counter_evidence(user, claim),
        "can_appeal": policy.can_appeal(user, claim, decision=decision),
        "can_export": policy.can_export_evidence_pack(user, claim),
        "form": form or MerchantResponseForm(),
        "evidence_form": evidence_form or CounterEvidenceForm(),
        "risk_thresholds": risk_thresholds(),
        "outcome_denied": Outcome.REFUND_DENIED,
        # Every buyer photo with its matched photo, compare control and metadata table.
        "photo_panels": photo_panels(buyer_files, listing_photos),
        "buyer_history": selectors.buyer_history_for_merchant(buyer_id=claim.buyer_id),
        "can_flag_ai_suspect": policy.can_flag_ai_suspect(user, claim),
    }


def _files_refused(form, exc: EvidenceRejected, field="files") -> None:
    """Name each refused file with its reason; say that nothing of the submission was
    kept, so picking the files again is what to do (an accepted one is no error then)."""
    refusals = getattr(exc, "refusals", None)
    for line in (
        [f"{r.name}: {r.message}" if r.name else r.message for r in refusals]
        if refusals
        else [exc.message]
    ):
        form.add_error(field, line)
    form.add_error(
        None,
        _(
            "Nothing of this submission was kept. Fix or leave out the refused file, "
            "then send again."
        ),
    )


def _attach(request, claim, files, *, then=None):
    """The merchant's files for the claim, all or none, with ``then`` (the answer) in
    the same transaction (``evidence_add_batch``)."""
    return evidence_add_batch(
        uploads=[(upload, upload.name or "") for upload in files],
        submitted_by="merchant",
        claim=claim,
        uploaded_by=request.user,
        then=then,
    )


def _respond(request, claim, form) -> bool:
    """The answer, with its statement and files, as one action: either all is recorded
    or nothing is (a refused file, or an answer the rules refuse). True when done."""
    data = form.cleaned_data
    respond = functools.partial(
        services.claim_merchant_respond_confirmed,
        claim=claim,
        user=request.user,
        response=data["response"],
        statement=data["statement"],
        offer_amount=data["offer_amount"],
        confirmed_amount=_confirmed_amount(request),
    )
    files = data.get("files") or []
    try:
        if data["response"] == services.MerchantResponse.ACCEPT or not files:
            respond()
        else:
            _attach(request, claim, files, then=respond)
    except EvidenceRejected as exc:
        _files_refused(form, exc)
        return False
    except ConfirmationRequired:
        raise  # nothing was kept: the caller asks for the confirmation first
    except ClaimError as exc:
        form.add_error(None, exc.message)
        if files and data["response"] != services.MerchantResponse.ACCEPT:
            form.add_error(
                None, _("Your files were not kept either: send them with the answer again.")
            )
        return False
    return True


@login_required
def claim_page(request, claim_id: int):
    """GET: the claim with the evidence, findings and timeline. POST: the merchant's
    answer: statement and counter-evidence files are one action (all kept or none)."""
    claim = selectors.claim_for_merchant_user(user=request.user, claim_id=claim_id)
    if request.method != "POST":
        return render(request, "refunds/merchant_claim.html", _claim_context(request, claim))
    form = MerchantResponseForm(request.POST, request.FILES)
    try:
        done = form.is_valid() and _respond(request, claim, form)
    except ConfirmationRequired:
        return _confirmation_page(request, claim, form)
    if done:
        response = form.cleaned_data["response"]
        messages.success(
            request,
            _("You accepted the claim; the buyer will be refunded.")
            if response == services.MerchantResponse.ACCEPT
            else _("Your answer was sent to a platform reviewer."),
        )
        return upload_done(request, "merchant_claim", claim_id=claim.pk)
    claim.refresh_from_db()
    return render(
        request,
        "refunds/merchant_claim.html",
        _claim_context(request, claim, form=form),
    )


def _confirmed_amount(request) -> Decimal | None:
    """The amount the confirmation step stated, as the merchant sent it back."""
    if request.POST.get("confirmed") != "1":
        return None
    try:
        return Decimal(request.POST.get("confirmed_amount", ""))
    except InvalidOperation:
        return None


def _confirmation_page(request, claim, form):
    """The step between a money answer and its effect: what it pays, said in full,
    with the answer carried in hidden fields. Nothing was kept yet: files sent with an
    offer are picked again on this page (a browser cannot carry them in hidden fields)."""
    response = form.cleaned_data["response"]
    offer_amount = form.cleaned_data["offer_amount"]
    if response != services.MerchantResponse.OFFER_PARTIAL:
        offer_amount = None
    return render(
        request,
        "refunds/merchant_claim_confirm.html",
        {
            "claim": claim,
            "response": response,
            "statement": form.cleaned_data["statement"],
            "offer_amount": offer_amount,
            "amount": services.merchant_answer_amount(
                claim=claim, response=response, offer_amount=offer_amount
            ).quantize(CENTS),
            "R": services.MerchantResponse,
            # A confirmation was sent, but of another amount (a page left open, an edit).
            "stale": request.POST.get("confirmed") == "1",
            "files_dropped": [f.name for f in form.cleaned_data.get("files") or []]
            if response != services.MerchantResponse.ACCEPT
            else [],
        },
    )


@login_required
@require_POST
def claim_flag_ai_suspect(request, claim_id: int):
    """The button "I suspect this photo is AI-made": one click, an optional note; the
    claim goes to the forensic queue (refunds.services.claim_flag_ai_suspect)."""
    claim = selectors.claim_for_merchant_user(user=request.user, claim_id=claim_id)
    try:
        services.claim_flag_ai_suspect(
            claim=claim, user=request.user, note=request.POST.get("note", "")
        )
    except ClaimError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Thank you: a reviewer trained in image forensics will look at the buyer's photos."),
        )
    return redirect("merchant_claim", claim_id=claim.pk)


@login_required
@require_POST
def claim_add_evidence(request, claim_id: int):
    """More counter-evidence after the answer, while the claim is still being decided."""
    claim = selectors.claim_for_merchant_user(user=request.user, claim_id=claim_id)
    form = CounterEvidenceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = _attach(request, claim, form.cleaned_data["files"])
        except EvidenceRejected as exc:
            _files_refused(form, exc)
        else:
            if result.added:
                messages.success(request, _("Your counter-evidence was added to the claim."))
            if result.already:
                messages.info(
                    request,
                    _("Already attached to this claim (nothing to do): %(names)s")
                    % {"names": ", ".join(f.original_name for f in result.already)},
                )
            return upload_done(request, "merchant_claim", claim_id=claim.pk)
    return render(
        request,
        "refunds/merchant_claim.html",
        _claim_context(request, claim, evidence_form=form),
    )


@login_required
@require_POST
def claim_evidence_pack(request, claim_id: int):
    """The claim's evidence pack (ZIP) for the merchant to hand to the police or a court;
    the export is recorded in the claim's audit trail. A POST: it writes that record and
    costs a PDF, so another site must not be able to trigger it (CSRF), nor a prefetcher."""
    claim = selectors.claim_for_merchant_user(user=request.user, claim_id=claim_id)
    data = services.evidence_pack_export(claim=claim, user=request.user)
    return evidence_pack_response(claim, data)


@login_required
@require_POST
def claim_appeal(request, claim_id: int):
    """The merchant appeals a reviewer's decision, or its own acceptance, within the
    appeal window (refunds.policy.can_appeal)."""
    claim = selectors.claim_for_merchant_user(user=request.user, claim_id=claim_id)
    try:
        services.claim_appeal(
            claim=claim,
            filed_by="merchant",
            reason=request.POST.get("reason", ""),
            user=request.user,
        )
    except ClaimError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your appeal was filed; a different reviewer will decide."))
    return redirect("merchant_claim", claim_id=claim.pk)
