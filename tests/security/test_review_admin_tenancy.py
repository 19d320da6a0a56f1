"""The admin shows a platform's staff only their platform's rows (docs/tenancy.md): the
audit trail, evidence files, check runs and findings too, and the rule form offers only
their platform's queues and shops. Deployment-wide settings (scoring weights and
thresholds, rationale templates) are the operator's: a platform's staff may read them,
only a superuser changes them. Superusers without a platform see everything."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.platforms import claim_in_review, platform_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def worlds(django_user_model):
    """Platforms alpha and beta, each with a shop, a buyer and a reviewer."""
    return tuple(platform_world(s, django_user_model=django_user_model) for s in ("alpha", "beta"))


@pytest.fixture
def alpha(worlds):
    return worlds[0]


@pytest.fixture
def beta(worlds):
    return worlds[1]


@pytest.fixture
def claims(alpha, beta):
    """One claim in review on each platform (alpha's, beta's)."""
    return claim_in_review(alpha, 1), claim_in_review(beta, 1)


def _staff(world, *codenames) -> Client:
    user = world.reviewer
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    browser = Client()
    browser.force_login(user)
    return browser


def _listed(browser, name) -> list:
    response = browser.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200, name
    return list(response.context["cl"].queryset)


def test_audit_trail_admin_lists_only_the_staffs_platform(
    claims, alpha, beta, admin_client, photo_bytes, media_in_tmp
):
    from evidence.services import evidence_add
    from merchants.services import product_create
    from refunds.audit import Actor, record
    from refunds.models import AuditEvent

    alpha_claim, beta_claim = claims
    record(action="platform_note", actor=Actor.platform("ops"), reason="no claim")
    listing = {}
    for world in (alpha, beta):  # a listing photo's upload: an event about no claim
        product = product_create(
            merchant=world.shop, platform_id="p-1", title="Mug", by=world.owner
        )
        listing[world.platform.slug] = evidence_add(
            upload=photo_bytes(seed=world.platform.pk),
            submitted_by="merchant",
            original_name="listing.jpg",
            product=product,
            actor=Actor.platform("test"),
        )
    browser = _staff(beta, "view_auditevent")

    events = _listed(browser, "refunds_auditevent")

    assert events and {event.claim_id for event in events} == {beta_claim.pk, None}
    custody = {event.evidence_id for event in events if event.claim_id is None}
    assert custody == {listing["beta"].pk}  # their shop's photo, not alpha's
    # Another platform's event does not exist for them; nor one about no claim.
    other = AuditEvent.objects.filter(claim=alpha_claim).first()
    no_claim = AuditEvent.objects.get(action="platform_note")
    for event in (other, no_claim):
        page = browser.get(reverse("admin:refunds_auditevent_change", args=[event.pk]))
        assert page.status_code in (302, 404)
    # The operator sees every event.
    everything = _listed(admin_client, "refunds_auditevent")
    assert {alpha_claim.pk, beta_claim.pk, None} <= {event.claim_id for event in everything}


def test_evidence_admin_lists_only_the_staffs_platform(
    claims, alpha, beta, admin_client, photo_bytes, media_in_tmp, django_capture_on_commit_callbacks
):
    from evidence.models import CheckRun, EvidenceFile, Finding
    from evidence.services import evidence_add
    from refunds.audit import Actor

    alpha_claim, beta_claim = claims
    for claim in claims:
        with django_capture_on_commit_callbacks(execute=True):  # the checks run
            evidence_add(
                upload=photo_bytes(seed=claim.pk),
                submitted_by="buyer",
                original_name="photo.jpg",
                claim=claim,
                actor=Actor.platform("test"),
            )
    assert Finding.objects.filter(claim=alpha_claim).exists()
    browser = _staff(beta, "view_evidencefile", "view_checkrun", "view_finding")

    files = _listed(browser, "evidence_evidencefile")
    runs = _listed(browser, "evidence_checkrun")
    findings = _listed(browser, "evidence_finding")

    assert files and {f.claim_id for f in files} == {beta_claim.pk}
    assert runs and {run.evidence.claim_id for run in runs} == {beta_claim.pk}
    assert findings and {f.claim_id for f in findings} == {beta_claim.pk}
    alpha_file = EvidenceFile.objects.get(claim=alpha_claim)
    page = browser.get(reverse("admin:evidence_evidencefile_change", args=[alpha_file.pk]))
    assert page.status_code in (302, 404)
    assert len(_listed(admin_client, "evidence_checkrun")) == CheckRun.objects.count()


def test_rule_form_offers_only_the_staffs_queues_and_shops(alpha, beta):
    from refunds.models import ReviewQueue

    ReviewQueue.objects.get_or_create(tenant=beta.platform, slug="standard")
    browser = _staff(beta, "view_routingrule", "add_routingrule", "change_routingrule")

    form = browser.get(reverse("admin:refunds_routingrule_add")).context["adminform"].form

    assert {q.tenant_id for q in form.fields["queue"].queryset} == {beta.platform.pk}
    assert set(form.fields["merchants"].queryset) == {beta.shop}
    # A queue of another platform posted anyway is refused.
    alpha_queue = ReviewQueue.objects.filter(tenant=alpha.platform).first() or (
        ReviewQueue.objects.create(tenant=alpha.platform, slug="standard", name="Standard")
    )
    response = browser.post(
        reverse("admin:refunds_routingrule_add"),
        {"position": "1", "name": "sneaky", "queue": str(alpha_queue.pk), "is_active": "on"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert not alpha_queue.rules.filter(name="sneaky").exists()


def test_move_to_queue_offers_only_the_staffs_queues(claims, alpha, beta):
    from refunds.models import ReviewQueue

    _alpha_claim, beta_claim = claims
    theirs = ReviewQueue.objects.create(tenant=alpha.platform, slug="alpha-legal", name="Legal A")
    browser = _staff(beta, "view_refundclaim", "change_refundclaim")

    page = browser.get(reverse("admin:refunds_refundclaim_changelist"))
    offered = set(page.context["action_form"].fields["queue"].queryset)

    assert offered and {queue.tenant_id for queue in offered} == {beta.platform.pk}
    browser.post(
        reverse("admin:refunds_refundclaim_changelist"),
        {"action": "move_to_queue", "_selected_action": [beta_claim.pk], "queue": theirs.pk},
    )
    beta_claim.refresh_from_db()
    assert beta_claim.queue.tenant_id == beta.platform.pk


@pytest.mark.parametrize(
    "model,codename",
    [
        ("evidence_scoringweight", "scoringweight"),
        ("evidence_scoringthreshold", "scoringthreshold"),
        ("refunds_rationaletemplate", "rationaletemplate"),
    ],
)
def test_deployment_settings_are_changed_by_superusers_only(beta, admin_client, model, codename):
    from evidence.scoring import ensure_defaults

    ensure_defaults()
    browser = _staff(beta, f"view_{codename}", f"change_{codename}", f"add_{codename}")
    rows = _listed(browser, model)
    assert rows  # they read them

    change = browser.get(reverse(f"admin:{model}_change", args=[rows[0].pk]))
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert browser.get(reverse(f"admin:{model}_add")).status_code == 403

    operator = admin_client.get(reverse(f"admin:{model}_change", args=[rows[0].pk]))
    assert operator.context["has_change_permission"] is True
