"""Settings every platform shares (scoring weights, scoring thresholds, rationale
templates) are written through services that validate them and enforce
``policy.can_change_deployment_settings``; the admin's forms (add, change, list edits)
show the same problems as field errors and write nothing.

A rationale template is filled in at the moment a reviewer decides: a stray brace or a
placeholder nobody fills in used to be saved and then broke (``str.format``) or leaked
into every decision made with it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from evidence import services as evidence_services
from evidence.models import ScoringThreshold, ScoringWeight
from evidence.scoring import ensure_defaults, threshold, weight_table
from refunds import services
from refunds.exceptions import NotAllowed
from refunds.models import Decision, RationaleTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


def _template_post(**fields) -> dict:
    return {
        "name": "Copy of the listing",
        "outcome": "refund_denied",
        "text_en": "Claim {claim}: the photo is the shop's listing.",
        "text_zh": "申请 {claim}：照片是商品图。",
        "is_active": "on",
        **fields,
    }


# --- rationale templates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Refund of {amount for the scratch.", "brace"),
        ("Refund of amount} for the scratch.", "brace"),
        ("Refund of {refnd} for the scratch.", "{refnd}"),
        ("Shop {shop.__class__} was right.", "{shop.__class__}"),
        ("Refund of {amount:>12} for the scratch.", "{amount:>12}"),
        ("Refund of {} for the scratch.", "{}"),
    ],
)
def test_a_template_with_a_stray_brace_or_an_unknown_placeholder_is_refused(
    admin_client, text, problem
):
    response = admin_client.post(
        reverse("admin:refunds_rationaletemplate_add"), _template_post(text_en=text)
    )

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert problem in errors["text_en"][0]
    assert not RationaleTemplate.objects.filter(name="Copy of the listing").exists()
    with pytest.raises(ValidationError) as refused:
        services.rationale_template_save(
            template=RationaleTemplate(name="x", text_en=text, text_zh="申请 {claim}"),
            user=response.wsgi_request.user,
        )
    assert "text_en" in refused.value.message_dict


def test_a_template_with_known_placeholders_and_literal_braces_is_saved(admin_client):
    text = "Claim {claim} ({amount}, {refund}, {shop}, {findings}) {{as written}}."
    response = admin_client.post(
        reverse("admin:refunds_rationaletemplate_add"), _template_post(text_en=text)
    )

    assert response.status_code == 302
    assert RationaleTemplate.objects.get(name="Copy of the listing").text_en == text


def test_a_list_edit_goes_through_the_same_rules(admin_client):
    template = RationaleTemplate.objects.create(name="Old", text_en="Claim {claim}.", text_zh="x")
    response = admin_client.post(
        reverse("admin:refunds_rationaletemplate_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(template.pk),
            "form-0-is_active": "",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.is_active is False


@pytest.fixture
def held(shop_a, make_claim, alice, charlie):
    claim = make_claim(shop_a)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="this is our listing photo"
    )
    services.claim_assign(claim=claim, reviewer=charlie)
    claim.refresh_from_db()
    return claim


def test_a_template_stored_before_the_rules_still_decides_with_its_text_as_written(held, charlie):
    # Written around the service, as rows saved before this rule may be.
    template = RationaleTemplate.objects.create(
        name="Broken",
        text_en="Claim {claim}: refund {amount for {shop.__class__}.",
        text_zh="申请 {claim}",
    )

    with translation.override("en"):
        services.claim_decide(
            claim=held,
            reviewer=charlie,
            outcome="refund_denied",
            rationale="The photo is our listing.",
            template=template,
        )

    rationale = Decision.objects.get(claim=held).rationale
    assert rationale.startswith(f"Claim #{held.pk}: refund {{amount for {{shop.__class__}}.")
    assert "The photo is our listing." in rationale


def test_only_the_deployments_operator_saves_a_template(charlie):
    with pytest.raises(NotAllowed):
        services.rationale_template_save(
            template=RationaleTemplate(name="x", text_en="Claim {claim}.", text_zh="申请"),
            user=charlie,
        )
    assert not RationaleTemplate.objects.filter(name="x").exists()


# --- scoring weights ------------------------------------------------------------------------


def test_a_weight_for_a_code_no_check_reports_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:evidence_scoringweight_add"),
        {"code": "refrence_copy", "weight": "90", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert not ScoringWeight.objects.filter(code="refrence_copy").exists()


def test_a_weights_code_is_fixed_and_its_weight_is_edited_in_the_list(admin_client):
    ensure_defaults()
    weight = ScoringWeight.objects.get(code="reference_copy")
    change = admin_client.get(reverse("admin:evidence_scoringweight_change", args=[weight.pk]))
    assert "code" not in change.context["adminform"].form.fields

    rows = list(ScoringWeight.objects.order_by("code"))
    index = rows.index(weight)
    post = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows))}
    for n, row in enumerate(rows):
        post |= {
            f"form-{n}-id": str(row.pk),
            f"form-{n}-weight": str(row.weight),
            f"form-{n}-is_active": "on" if row.is_active else "",
        }
    for edited, status, stored in (("150", 200, 90), ("85", 302, 85)):
        post[f"form-{index}-weight"] = edited
        response = admin_client.post(
            reverse("admin:evidence_scoringweight_changelist"), {**post, "_save": "Save"}
        )
        assert response.status_code == status  # 200: the list again, with the error
        weight.refresh_from_db()
        assert weight.weight == stored


def test_only_the_deployments_operator_changes_a_weight(charlie):
    ensure_defaults()
    weight = ScoringWeight.objects.get(code="reference_copy")
    weight.weight = 1
    with pytest.raises(NotAllowed):
        evidence_services.scoring_weight_save(weight=weight, user=charlie)
    weight.refresh_from_db()
    assert weight.weight == 90


# --- scoring thresholds ---------------------------------------------------------------------


def test_a_threshold_nothing_reads_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:evidence_scoringthreshold_add"), {"name": "very-high", "value": "90"}
    )

    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    assert not ScoringThreshold.objects.filter(name="very-high").exists()


@pytest.mark.parametrize(("name", "value"), [("suspicious", "75"), ("high-risk", "35")])
def test_the_suspicious_threshold_stays_at_or_below_the_high_risk_one(admin_client, name, value):
    ensure_defaults()
    row = ScoringThreshold.objects.get(name=name)
    before = row.value
    response = admin_client.post(
        reverse("admin:evidence_scoringthreshold_change", args=[row.pk]),
        {"value": value, "description": row.description},
    )

    assert response.status_code == 200
    assert "value" in response.context["adminform"].form.errors
    assert threshold(name) == before


def test_a_threshold_is_changed_and_read_at_once(admin_client):
    ensure_defaults()
    row = ScoringThreshold.objects.get(name="suspicious")
    response = admin_client.post(
        reverse("admin:evidence_scoringthreshold_change", args=[row.pk]),
        {"value": "50", "description": row.description},
    )

    assert response.status_code == 302
    assert threshold("suspicious") == 50


def test_deleting_a_weight_puts_the_checks_default_back(admin_client, admin_user):
    ensure_defaults()
    weight = ScoringWeight.objects.get(code="reference_copy")
    weight.weight = 10
    evidence_services.scoring_weight_save(weight=weight, user=admin_user)
    assert weight_table()["reference_copy"] == 10
    response = admin_client.post(
        reverse("admin:evidence_scoringweight_delete", args=[weight.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert weight_table()["reference_copy"] == 90
