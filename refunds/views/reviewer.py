"""Reviewer pages: queues, take next, my claims, the review page and its actions
(the statistics are in the reporting app)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from evidence import selectors as evidence_selectors
from refunds import credit_network, policy, routing, selectors, services
from refunds.exceptions import ClaimError, NothingToReview
from refunds.forms import (
    BulkDecisionForm,
    BulkFilterForm,
    DecisionForm,
    MerchantResponseForm,
    RequestEvidenceForm,
)
from refunds.models import ClaimStatus, ReviewQueue
from refunds.selectors import FRAUD_TIER_LABELS, FRAUD_TIERS
from refunds.views.common import (
    evidence_pack_response,
    reviewer_required,
    risk_thresholds,
    timeline,
)

S = ClaimStatus
QUEUE_PREVIEW = 25


@reviewer_required
def queues(request):
    """Every active queue (and every inactive one still holding claims) with what waits
    in it, and the most urgent claims overall."""
    waiting = selectors.most_urgent_waiting(limit=QUEUE_PREVIEW, reviewer=request.user)
    return render(
        request,
        "refunds/review_queues.html",
        {
            "queues": selectors.review_queue_overview(reviewer=request.user),
            "waiting": waiting,
            "held_count": selectors.claims_held_by(reviewer=request.user).count(),
            "now": timezone.now(),  # a claim past its queue's SLA is flagged
            "risk_thresholds": risk_thresholds(),
            "show_review_nav": True,
        },
    )


@reviewer_required
@require_POST
def take_next(request):
    queue = None
    if request.POST.get("queue"):
        queues = policy.scope_to_reviewer_platform(ReviewQueue.objects.all(), request.user)
        # An inactive queue too: routing sends it nothing new, what it holds still waits.
        queue = get_object_or_404(queues, pk=request.POST["queue"])
    try:
        claim = services.claim_take_next(reviewer=request.user, queue=queue)
    except NothingToReview as exc:
        messages.info(request, exc.message)
        return redirect("review_queues")
    return redirect("review_claim", claim_id=claim.pk)


@reviewer_required
def my_claims(request):
    return render(
        request,
        "refunds/review_mine.html",
        {
            "claims": selectors.claims_held_by(reviewer=request.user),
            "now": timezone.now(),
            "risk_thresholds": risk_thresholds(),
            "show_review_nav": True,
        },
    )


def _fraud_tiers(credit) -> list[dict]:
    return [
        {
            "limit": limit,
            "name": name,
            "label": FRAUD_TIER_LABELS[name],
            "crossed": credit.tier == name,
        }
        for limit, name in sorted(FRAUD_TIERS)
    ]


@reviewer_required
def review_claim(request, claim_id: int):
    """Everything a reviewer needs to decide: findings, artifacts, both sides' evidence,
    the buyer's history. The forms act only while the reviewer holds the claim."""
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    return _render_review(request, claim)


def _render_review(request, claim, *, decision_form=None, request_form=None):
    if claim.held_by_id == request.user.pk:
        # The holder is working on it: the lease runs again (before the holder is read).
        services.claim_lease_renew(claim=claim, reviewer=request.user)
    # The claim's findings are read once, for the whole page.
    files = list(evidence_selectors.evidence_for_claim(claim_id=claim.pk, with_findings=False))
    findings = list(evidence_selectors.findings_for_claim(claim_id=claim.pk))
    holder = selectors.claim_holder(claim_id=claim.pk)
    credit = selectors.buyer_credit(buyer=claim.buyer_id)
    network_credit = credit_network.network_credit_for_buyer(buyer=claim.buyer)
    decisions = list(selectors.claim_decisions(claim_id=claim.pk))
    routing_record = routing.latest_record(claim_id=claim.pk)
    buyer_files = _buyer_files(claim, files)
    prefetch_related_objects([claim.order], "items")  # the items list and the listing photos
    user = request.user
    # What the page offers is what the services would allow (refunds.policy).
    deciders = {d.reviewer_id for d in decisions if not d.on_appeal and d.reviewer_id}
    can_take = policy.can_take(user, claim, holder=holder, deciders=deciders)
    return render(
        request,
        "refunds/review_claim.html",
        {
            "claim": claim,
            "items": list(claim.order.items.all()),
            "buyer_files": buyer_files,
            "merchant_files": [f for f in files if f.submitted_by == "merchant"],
            "listing_photos": list(
                evidence_selectors.reference_files_for_order(order=claim.order, with_features=False)
            ),
            "findings": findings,
            "artifacts": [(f, a) for f in findings for a in f.artifacts.all()],
            "merchant_response_label": dict(MerchantResponseForm.RESPONSE_CHOICES).get(
                claim.merchant_response, claim.merchant_response
            ),
            "holder": holder,
            "can_take": can_take,
            # Why this waiting claim is not for this reviewer (an appeal, their own shop).
            "cannot_take_reason": "" if can_take or can_take.wrong_state else can_take.reason,
            "can_release": policy.can_release(user, claim, holder=holder),
            "can_escalate": policy.can_escalate_to_legal(user, claim, holder=holder),
            "can_decide": policy.can_decide(user, claim, holder=holder, deciders=deciders),
            "can_request_evidence": policy.can_request_evidence(user, claim, holder=holder),
            "can_export": policy.can_export_evidence_pack(user, claim),
            "credit": credit,
            "fraud_tiers": _fraud_tiers(credit),
            "network_credit": network_credit,
            "network_tier_label": FRAUD_TIER_LABELS.get(network_credit.tier, "")
            if network_credit
            else "",
            "routing": routing_record,
            "decisions": decisions,
            "appeals": list(claim.appeals.all()),
            "timeline": timeline(selectors.claim_timeline(claim_id=claim.pk), for_merchant=False),
            "decision_form": decision_form
            or DecisionForm(findings=findings, buyer_files=buyer_files),
            "request_form": request_form or RequestEvidenceForm(files_to_name=buyer_files),
            "evidence_requests": list(
                claim.evidence_requests.select_related("evidence").defer("evidence__features")
            ),
            "risk_thresholds": risk_thresholds(),
            "show_review_nav": True,
        },
    )


@reviewer_required
@require_POST
def evidence_pack(request, claim_id: int):
    """The claim's evidence pack (ZIP), reviewer's edition; the export is recorded in the
    claim's audit trail (a POST, as the merchant's)."""
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    data = services.evidence_pack_export(claim=claim, user=request.user)
    return evidence_pack_response(claim, data)


@reviewer_required
@require_POST
def assign(request, claim_id: int):
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    try:
        services.claim_assign(claim=claim, reviewer=request.user)
    except ClaimError as exc:
        messages.error(request, exc.message)
    return redirect("review_claim", claim_id=claim.pk)


def _buyer_files(claim, files=None) -> list:
    """The buyer's (and the platform's) files of the claim: what the decision form asks
    a verdict on and an evidence request may name. ``files``: the claim's files when the
    caller has them."""
    if files is None:
        files = evidence_selectors.evidence_for_claim(claim_id=claim.pk)
    return [f for f in files if f.submitted_by != "merchant"]


# The decision form's fields the decision service takes as they are.
DECISION_FIELDS = (
    "outcome",
    "rationale",
    "refund_amount",
    "confirmed_forgery",
    "template",
    "findings_relied_on",
)


def _submit(request, claim, form, act, done: str, **page):
    """A reviewer's form: valid, the service (``act``, called after validation) runs and
    the reviewer goes back to the queues with ``done``; refused or invalid, the review
    page again with the form and its errors (``page``: which form it is)."""
    if form.is_valid():
        try:
            act()
        except ClaimError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, done)
            return redirect("review_queues")
    return _render_review(request, claim, **page)


@reviewer_required
@require_POST
def decide(request, claim_id: int):
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    form = DecisionForm(
        request.POST,
        findings=evidence_selectors.findings_for_claim(claim_id=claim.pk),
        buyer_files=_buyer_files(claim),
    )

    def act():
        services.claim_decide(
            claim=claim,
            reviewer=request.user,
            photo_verdicts=form.photo_verdicts(),
            **{name: form.cleaned_data[name] for name in DECISION_FIELDS},
        )

    return _submit(request, claim, form, act, _("Decision recorded."), decision_form=form)


@reviewer_required
@require_POST
def request_evidence(request, claim_id: int):
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    buyer_files = _buyer_files(claim)
    form = RequestEvidenceForm(request.POST, files_to_name=buyer_files)

    def act():
        chosen = form.cleaned_data["evidence"]
        services.claim_request_buyer_evidence(
            claim=claim,
            reviewer=request.user,
            evidence=next((f for f in buyer_files if f.pk == chosen), None),
            **{name: form.cleaned_data[name] for name in ("message", "challenge", "hours")},
        )

    done = _("The buyer was asked for more evidence.")
    return _submit(request, claim, form, act, done, request_form=form)


def _let_go(request, claim_id: int, act, done: str):
    """The holder gives the claim up (back to its queue, or to the legal queue): done,
    back to the queues with ``done``; refused, the review page with the reason."""
    claim = selectors.claim_for_reviewer(user=request.user, claim_id=claim_id)
    try:
        act(claim=claim, reviewer=request.user)
    except ClaimError as exc:
        messages.error(request, exc.message)
        return redirect("review_claim", claim_id=claim.pk)
    messages.info(request, done)
    return redirect("review_queues")


@reviewer_required
@require_POST
def release(request, claim_id: int):
    return _let_go(request, claim_id, services.claim_release, _("The claim is back in its queue."))


@reviewer_required
@require_POST
def escalate_legal(request, claim_id: int):
    return _let_go(
        request, claim_id, services.claim_escalate_to_legal, _("The claim is in the legal queue.")
    )


BULK_PREVIEW = 100


@reviewer_required
def bulk(request):
    """A bulk decision on a filtered list of waiting claims: filter, preview (ticked),
    then each claim decided in its own transaction; the result list says which were
    decided and why the others were refused."""
    filters = BulkFilterForm(request.GET or None, reviewer=request.user)
    claims = []
    if filters.is_valid() and any(filters.cleaned_data.values()):
        data = filters.cleaned_data
        claims = selectors.claims_for_bulk(
            reviewer=request.user,
            queue_id=data["queue"].pk if data["queue"] else None,
            buyer_platform_id=data["buyer"],
            finding_code=data["finding"],
            limit=BULK_PREVIEW,
        )
    # What was ticked in the preview is decided as previewed: a claim somebody took in
    # the meantime is refused by the service (and said so), not silently dropped.
    posted = [int(pk) for pk in request.POST.getlist("claims") if pk.isdigit()]
    form = BulkDecisionForm(
        request.POST or None,
        claim_ids=posted if request.method == "POST" else [c.pk for c in claims],
        initial={"claims": [c.pk for c in claims]},
    )
    results = None
    if request.method == "POST" and form.is_valid():
        results = services.claims_decide_bulk(
            reviewer=request.user,
            claim_ids=form.cleaned_data["claims"],
            outcome=form.cleaned_data["outcome"],
            rationale=form.cleaned_data["rationale"],
            confirmed_forgery=form.cleaned_data["confirmed_forgery"],
        )
    return render(
        request,
        "refunds/review_bulk.html",
        {
            "filters": filters,
            "claims": claims,
            "form": form,
            "results": results,
            "risk_thresholds": risk_thresholds(),
            "show_review_nav": True,
        },
    )
