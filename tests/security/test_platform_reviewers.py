"""A reviewer works for one platform: another platform's claims, queues and files do not
exist for them (404 on every reviewer page, nothing in the queues overview, never handed
out by "take next"), and the policy refuses them in the services too."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.platforms import claim_in_review, platform_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha(django_user_model):
    return platform_world("alpha", django_user_model=django_user_model)


@pytest.fixture
def beta(django_user_model):
    return platform_world("beta", django_user_model=django_user_model)


@pytest.fixture
def alpha_claim(alpha, beta):
    return claim_in_review(alpha, 1)


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _state(claim):
    from refunds.models import Assignment, AuditEvent, Decision

    claim.refresh_from_db()
    return (
        claim.status,
        claim.held_by_id,
        Assignment.objects.filter(claim=claim).count(),
        Decision.objects.filter(claim=claim).count(),
        AuditEvent.objects.filter(claim=claim).count(),
    )


@pytest.mark.parametrize(
    "method,name,data",
    [
        ("get", "review_claim", None),
        ("post", "review_evidence_pack", {}),
        ("post", "review_assign", {}),
        ("post", "review_release", {}),
        ("post", "review_request_evidence", {"message": "more photos"}),
        (
            "post",
            "review_decide",
            {"outcome": "refund_denied", "rationale": "forged", "refund_amount": "0"},
        ),
    ],
)
def test_reviewer_pages_of_another_platforms_claim_are_404(
    alpha, beta, alpha_claim, method, name, data
):
    from refunds import services

    services.claim_take_next(reviewer=alpha.reviewer)  # held by its own platform's reviewer
    before = _state(alpha_claim)
    url = reverse(name, kwargs={"claim_id": alpha_claim.pk})
    response = getattr(_browser(beta.reviewer), method)(url, data or {})
    assert response.status_code == 404
    assert _state(alpha_claim) == before


def test_queues_overview_shows_only_own_platforms_claims_and_queues(alpha, beta, alpha_claim):
    beta_claim = claim_in_review(beta, 1)  # the same order and shop platform ids
    page = _browser(beta.reviewer).get(reverse("review_queues"))
    assert page.status_code == 200
    queues = page.context["queues"]
    assert {q.tenant_id for q in queues} == {beta.platform.pk}
    assert sum(q.waiting for q in queues) == 1
    assert [c.pk for c in page.context["waiting"]] == [beta_claim.pk]
    assert reverse("review_claim", kwargs={"claim_id": alpha_claim.pk}) not in page.content.decode()


def test_take_next_never_hands_out_another_platforms_claim(alpha, beta, alpha_claim):
    from refunds import services
    from refunds.exceptions import NothingToReview

    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=beta.reviewer)
    response = _browser(beta.reviewer).post(reverse("review_take_next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("review_queues")
    alpha_claim.refresh_from_db()
    assert alpha_claim.held_by_id is None
    assert services.claim_take_next(reviewer=alpha.reviewer).pk == alpha_claim.pk


def test_take_next_from_another_platforms_queue_is_404(alpha, beta, alpha_claim):
    response = _browser(beta.reviewer).post(
        reverse("review_take_next"), {"queue": alpha_claim.queue_id}
    )
    assert response.status_code == 404
    alpha_claim.refresh_from_db()
    assert alpha_claim.held_by_id is None


def test_claims_are_routed_into_their_own_platforms_queue(alpha, beta, alpha_claim):
    assert alpha_claim.queue.tenant_id == alpha.platform.pk
    assert alpha_claim.tenant_id == alpha.platform.pk
    assert claim_in_review(beta, 1).queue.tenant_id == beta.platform.pk


def test_policy_refuses_another_platforms_reviewer(alpha, beta, alpha_claim):
    from refunds import policy, services
    from refunds.exceptions import NotAllowed

    assert not policy.can_take(beta.reviewer, alpha_claim)
    assert policy.can_take(alpha.reviewer, alpha_claim)
    with pytest.raises(NotAllowed):
        services.claim_assign(claim=alpha_claim, reviewer=beta.reviewer)
    services.claim_assign(claim=alpha_claim, reviewer=alpha.reviewer)
    alpha_claim.refresh_from_db()
    assert not policy.can_release(beta.reviewer, alpha_claim)  # a senior, of another platform
    assert not policy.can_decide(beta.reviewer, alpha_claim)
    assert policy.evidence_pack_audience(beta.reviewer, alpha_claim) is None


def test_claim_moves_only_to_a_queue_of_its_platform(alpha, beta, alpha_claim):
    from refunds import services
    from refunds.exceptions import NotAllowed
    from refunds.routing import default_queue

    with pytest.raises(NotAllowed):
        services.claim_move_queue(
            claim=alpha_claim,
            queue=default_queue(tenant_id=beta.platform.pk),
            user=alpha.reviewer,
        )


def test_reviewer_without_platform_works_for_the_default_platform(
    charlie, make_claim, shop_a, alpha
):
    from merchants.models import default_platform_pk
    from refunds import policy

    claim = make_claim(shop_a)
    assert claim.tenant_id == default_platform_pk()
    assert policy.reviewer_platform_id(charlie) == default_platform_pk()
    assert policy.reviews_platform_of(charlie, claim)
    assert not policy.reviews_platform_of(alpha.reviewer, claim)


def test_evidence_files_of_another_platform_are_404(
    alpha, beta, alpha_claim, photo_bytes, media_in_tmp
):
    from evidence.services import evidence_add

    file = evidence_add(upload=photo_bytes(3), submitted_by="buyer", claim=alpha_claim)
    url = reverse("evidence:original", kwargs={"file_uuid": file.uuid})
    assert _browser(beta.reviewer).get(url).status_code == 404
    assert _browser(alpha.reviewer).get(url).status_code == 200


def test_admin_listings_show_a_platforms_staff_only_its_platform(alpha, beta, alpha_claim):
    from django.contrib.auth.models import Permission

    beta_claim = claim_in_review(beta, 1)
    staff = beta.reviewer
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_refundclaim", "view_buyer", "view_merchant", "view_order"]
        )
    )
    browser = _browser(staff)
    listing = browser.get(reverse("admin:refunds_refundclaim_changelist"))
    assert [c.pk for c in listing.context["cl"].result_list] == [beta_claim.pk]
    for model, own in [("buyer", beta.buyer), ("merchant", beta.shop)]:
        app = "merchants" if model == "merchant" else "refunds"
        rows = browser.get(reverse(f"admin:{app}_{model}_changelist")).context["cl"].result_list
        assert [row.pk for row in rows] == [own.pk]
    other = reverse("admin:refunds_refundclaim_change", args=[alpha_claim.pk])
    assert browser.get(other).status_code in (302, 404)  # "does not exist" for them


def test_the_admin_refuses_to_bind_a_client_to_another_platforms_shop(admin_client, alpha, beta):
    from merchants.models import PlatformClient

    def add(name, shop):
        return admin_client.post(
            reverse("admin:merchants_platformclient_add"),
            {"tenant": alpha.platform.pk, "name": name, "merchants": [shop.pk], "is_active": "on"},
        )

    assert add("mixed", beta.shop).status_code == 200  # the form again, with the error
    assert add("own", alpha.shop).status_code == 302
    names = set(PlatformClient.objects.values_list("name", flat=True))
    assert "own" in names and "mixed" not in names


def test_the_bulk_page_previews_only_its_own_platforms_claims_and_queues(alpha, beta, alpha_claim):
    # given a claim waiting on each platform, by buyers with the same platform id
    beta_claim = claim_in_review(beta, 1)
    browser = _browser(beta.reviewer)

    preview = browser.get(
        reverse("review_bulk") + f"?buyer={beta.buyer.platform_id}", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert preview.status_code == 200
    assert [c.pk for c in preview.context["claims"]] == [beta_claim.pk]
    queues = preview.context["filters"].fields["queue"].queryset
    assert {q.tenant_id for q in queues} == {beta.platform.pk}
    # another platform's queue is no choice at all (the form refuses it)
    other = browser.get(reverse("review_bulk") + f"?queue={alpha_claim.queue_id}")
    assert other.context["claims"] == []


def test_a_bulk_decision_refuses_another_platforms_claim(alpha, beta, alpha_claim):
    from refunds import services

    before = _state(alpha_claim)

    results = services.claims_decide_bulk(
        reviewer=beta.reviewer,
        claim_ids=[alpha_claim.pk],
        outcome="refund_denied",
        rationale="forged",
        confirmed_forgery=False,
    )

    assert [r.done for r in results] == [False]
    assert _state(alpha_claim) == before


def test_an_appeal_waits_in_its_own_platforms_appeals_queue(alpha, beta):
    from refunds import services
    from refunds.models import ReviewQueue

    # every platform has an appeals queue of its own (refunds.seed)
    assert ReviewQueue.objects.filter(slug="appeals", tenant=alpha.platform).exists()
    claim = claim_in_review(beta, 1)
    services.claim_assign(claim=claim, reviewer=beta.reviewer)
    services.claim_decide(
        claim=claim, reviewer=beta.reviewer, outcome="refund_denied", rationale="painted crack"
    )

    services.claim_appeal(
        claim=claim, filed_by="buyer", reason="The crack is real, see the courier's note."
    )

    claim.refresh_from_db()
    assert claim.status == "appealed"
    assert (claim.queue.tenant_id, claim.queue.slug) == (beta.platform.pk, "appeals")


def test_an_escalation_to_legal_goes_to_its_own_platforms_legal_queue(alpha, beta):
    from refunds import services
    from refunds.exceptions import ClaimValidationError
    from refunds.models import ReviewQueue

    claim = claim_in_review(beta, 1)
    services.claim_assign(claim=claim, reviewer=beta.reviewer)
    legal = ReviewQueue.objects.filter(tenant=beta.platform, slug="legal")
    legal.update(is_active=False)
    assert ReviewQueue.objects.get(tenant=alpha.platform, slug="legal").is_active
    # only another platform has an active legal queue: refused, the claim stays held
    with pytest.raises(ClaimValidationError):
        services.claim_escalate_to_legal(claim=claim, reviewer=beta.reviewer, reason="fraud ring")
    claim.refresh_from_db()
    assert claim.held_by_id == beta.reviewer.pk and claim.queue.slug != "legal"

    legal.update(is_active=True)
    services.claim_escalate_to_legal(claim=claim, reviewer=beta.reviewer, reason="fraud ring")

    claim.refresh_from_db()
    assert (claim.queue.tenant_id, claim.queue.slug) == (beta.platform.pk, "legal")
    assert claim.held_by_id is None
