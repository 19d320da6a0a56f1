"""The decision: templates with placeholders, the findings relied on, the verdict per
file, and what the reuse check makes of a file confirmed forged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from refunds import services
from refunds.exceptions import ClaimValidationError
from refunds.models import Decision, RationaleTemplate, ReviewerPhotoVerdict
from tests.refunds.test_routing import add_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    return RationaleTemplate.objects.create(
        name="Listing copy",
        outcome="refund_denied",
        text_en="Claim {claim} for {amount} rests on a copy of the listing ({findings}).",
        text_zh="申请 {claim}（{amount}）的照片是商品图的复制（{findings}）。",
    )


@pytest.fixture
def held(shop_a, make_claim, alice, charlie):
    claim = make_claim(shop_a, evaluate=False)
    finding = add_finding(claim, "reference_copy", weight=90, severity="critical")
    services.claim_evaluate(claim_id=claim.pk)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="this is our listing photo"
    )
    services.claim_assign(claim=claim, reviewer=charlie)
    claim.refresh_from_db()
    return claim, finding


def test_decision_with_template_findings_and_photo_verdicts(held, charlie, template):
    claim, finding = held
    services.claim_decide(
        claim=claim,
        reviewer=charlie,
        outcome="refund_denied",
        rationale="The crack is painted on.",
        template=template,
        findings_relied_on=[finding.pk],
        photo_verdicts={finding.evidence_id: "confirmed_forged"},
    )
    decision = Decision.objects.get(claim=claim)
    assert decision.rationale == (
        f"Claim #{claim.pk} for ¥{claim.amount} rests on a copy of the listing "
        "(reference_copy).\n\nThe crack is painted on."
    )
    assert decision.findings_relied_on == [finding.pk]
    verdict = ReviewerPhotoVerdict.objects.get(decision=decision)
    assert (verdict.evidence_id, verdict.verdict) == (finding.evidence_id, "confirmed_forged")
    # A file confirmed forged is a confirmed forgery of the claim.
    assert decision.confirmed_forgery
    claim.refresh_from_db()
    assert claim.confirmed_forgery


def test_template_in_chinese_and_unknown_placeholders_kept(held, template):
    claim, finding = held
    template.text_zh = "申请 {claim}：{unknown}"
    with translation.override("zh-hans"):
        text = services.rationale_render(
            template, claim=claim, refund=Decimal("0"), finding_ids=[finding.pk]
        )
    assert text == f"申请 #{claim.pk}：{{unknown}}"


def test_findings_and_files_of_another_claim_are_refused(held, charlie, shop_a, make_claim):
    claim, _finding = held
    other = make_claim(shop_a, evaluate=False)
    foreign = add_finding(other, "reference_copy", weight=90)
    with pytest.raises(ClaimValidationError):
        services.claim_decide(
            claim=claim,
            reviewer=charlie,
            outcome="refund_denied",
            rationale="relying on another claim",
            findings_relied_on=[foreign.pk],
        )
    with pytest.raises(ClaimValidationError):
        services.claim_decide(
            claim=claim,
            reviewer=charlie,
            outcome="refund_denied",
            rationale="a verdict on another claim's file",
            photo_verdicts={foreign.evidence_id: "genuine"},
        )
    assert not Decision.objects.filter(claim=claim).exists()


def test_reuse_check_reads_the_files_verdict_not_the_claims_flag(held, charlie):
    from evidence.checks.base import SimilarImage
    from evidence.pipeline import _with_reviewer_verdicts

    claim, finding = held
    services.claim_decide(
        claim=claim,
        reviewer=charlie,
        outcome="refund_denied",
        rationale="The photo is genuine but the damage is not covered.",
        photo_verdicts={finding.evidence_id: "genuine"},
        confirmed_forgery=True,  # the claim is flagged, this file was found genuine
    )
    candidate = SimilarImage(
        evidence_id=finding.evidence_id,
        claim_id=claim.pk,
        buyer_id=claim.buyer_id,
        order_id=claim.order_id,
        distance=0,
        confirmed_forgery=True,
    )
    assert _with_reviewer_verdicts([candidate])[0].confirmed_forgery is False


def test_decision_form_has_no_default_outcome(client, held, charlie, template):
    claim, finding = held
    client.force_login(charlie)
    page = client.get(reverse("review_claim", args=[claim.pk]), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert 'name="outcome"' in html and "checked" not in html.split('name="outcome"')[1][:80]
    refused = client.post(
        reverse("review_decide", args=[claim.pk]),
        {"rationale": "no outcome chosen here"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 200
    assert not Decision.objects.filter(claim=claim).exists()
    done = client.post(
        reverse("review_decide", args=[claim.pk]),
        {
            "outcome": "refund_denied",
            "template": str(template.pk),
            "findings_relied_on": [str(finding.pk)],
            f"verdict_{finding.evidence_id}": "confirmed_forged",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert done.status_code == 302
    decision = Decision.objects.get(claim=claim)
    assert decision.findings_relied_on == [finding.pk]
    assert decision.photo_verdicts.get().verdict == "confirmed_forged"


def test_holder_escalates_to_legal_and_lets_go(held, charlie, erin):
    from refunds.exceptions import NotAllowed

    claim, _finding = held
    with pytest.raises(NotAllowed):
        services.claim_escalate_to_legal(claim=claim, reviewer=erin)
    services.claim_escalate_to_legal(claim=claim, reviewer=charlie, reason="past a fraud tier")
    claim.refresh_from_db()
    assert claim.queue.slug == "legal"
    assert claim.held_by is None
    event = claim.audit_events.get(action="escalated_to_legal")
    assert event.data["to"] == "legal"
