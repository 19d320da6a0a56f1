"""The Django admin, as a superuser: every page opens; nothing in it writes a claim, a
decision, an assignment, an evidence file or an audit event around the services; the
changes it does offer (move a claim to another queue, release an assignment, edit a
webhook endpoint) go through a service; secrets are never shown."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from refunds import services, webhooks
from refunds.audit import Actor
from refunds.models import (
    Assignment,
    AuditEvent,
    ClaimStatus,
    Decision,
    RefundClaim,
    ReviewQueue,
    WebhookEndpoint,
)

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _url(obj_or_model, view="change", *args):
    opts = obj_or_model._meta
    name = f"admin:{opts.app_label}_{opts.model_name}_{view}"
    if view in ("change", "delete"):
        return reverse(name, args=[obj_or_model.pk])
    return reverse(name, args=args)


@pytest.fixture
def everything(
    media_in_tmp,
    shop_a,
    alice,
    charlie,
    listing_product,
    make_order,
    django_capture_on_commit_callbacks,
):
    """A row of every model the admin shows: a checked claim with findings and artifacts,
    contested, decided, appealed and held; a shipment with packing evidence; a platform
    client with a webhook endpoint and a delivery."""
    from evidence.services import evidence_add
    from merchants.services import platform_client_create, platform_staff_assign, shipment_create
    from tests.web.conftest import _forged_claim

    claim = _forged_claim(shop_a, listing_product, make_order, django_capture_on_commit_callbacks)
    services.claim_merchant_respond(
        claim=claim, user=alice, response="contest", statement="裂痕是画上去的 painted cracks"
    )
    services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_decide(
        claim=claim, reviewer=charlie, outcome="refund_approved", rationale="损坏属实 genuine."
    )
    services.claim_appeal(claim=claim, filed_by="merchant", user=alice, reason="伪造的 forged!")
    shipment = shipment_create(
        order=claim.order,
        carrier="SF",
        tracking_number="SF123456789",
        shipped_at=claim.order.shipped_at,
    )
    with django_capture_on_commit_callbacks(execute=True):
        evidence_add(
            upload=_jpeg(3), submitted_by="merchant", original_name="packing.jpg", shipment=shipment
        )
    client, _token = platform_client_create(name="Platform", merchants=[shop_a])
    platform_staff_assign(user=charlie, platform=shop_a.tenant)  # the default platform
    endpoint, secret = services.webhook_endpoint_create(
        client=client, url="https://platform.example/hook"
    )
    webhooks.emit_claim_event(claim, "claim.status_changed", {})  # a delivery, never sent
    # django-axes' lock-out record, from a wrong password on the login page; its access and
    # failure logs are off (settings) but listed by its admin, so one row each by hand.
    Client().post(reverse("login"), {"username": "alice", "password": "wrong-password"})
    from axes.models import AccessFailureLog, AccessLog

    seen = {"user_agent": "test", "ip_address": "127.0.0.1", "username": "alice"}
    AccessLog.objects.create(**seen, http_accept="*/*", path_info="/accounts/login/")
    AccessFailureLog.objects.create(**seen, http_accept="*/*", path_info="/accounts/login/")
    claim.refresh_from_db()
    return {"claim": claim, "endpoint": endpoint, "secret": secret, "client": client}


def _jpeg(seed):
    from testing import synthetic

    return synthetic.encode_jpeg(synthetic.render_other_shot(seed, 1).image, quality=90)


# --- every page opens -------------------------------------------------------------------


def test_every_admin_changelist_and_change_page_opens(admin_client, everything):
    empty, failures = [], []
    for model in admin.site._registry:
        pages = [_url(model, "changelist")]
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            empty.append(model._meta.label)
        else:
            pages.append(_url(obj))
        for url in pages:
            status = admin_client.get(url, **EN).status_code
            if status != 200:
                failures.append((url, status))
    assert failures == []
    assert empty == []  # every change page was opened on a real row


@pytest.mark.parametrize("model_label", ["evidence.EvidenceFile", "merchants.ProductPhoto"])
def test_a_stored_file_shows_its_name_size_hash_and_the_guarded_download(
    admin_client, everything, model_label, settings
):
    from django.apps import apps

    model = apps.get_model(model_label)
    evidence = model._default_manager.order_by("pk").first()

    html = admin_client.get(_url(evidence), **EN).content.decode()

    assert evidence.original.name in html
    assert evidence.sha256 in html
    assert f"{evidence.size:,}" in html or str(evidence.size) in html
    assert reverse("evidence:original", args=[evidence.uuid]) in html
    assert 'href="/media/' not in html and "None/" not in html


# --- claims ---------------------------------------------------------------------------


def test_a_claims_fields_cannot_be_changed_in_the_admin(admin_client, everything):
    claim = everything["claim"]
    other_queue = ReviewQueue.objects.exclude(pk=claim.queue_id).first()
    events = AuditEvent.objects.count()

    response = admin_client.post(
        _url(claim),
        {
            "queue": other_queue.pk,
            "reason": "other",
            "description": "rewritten",
            "merchant_statement": "rewritten",
        },
    )

    assert response.status_code == 403
    fresh = RefundClaim.objects.get(pk=claim.pk)
    assert (fresh.queue_id, fresh.reason, fresh.description, fresh.merchant_statement) == (
        claim.queue_id,
        claim.reason,
        claim.description,
        claim.merchant_statement,
    )
    assert AuditEvent.objects.count() == events


def test_moving_a_claim_to_another_queue_is_a_service_with_an_audit_event(admin_client, everything):
    claim = everything["claim"]
    target = ReviewQueue.objects.get(slug="high-value")
    before = claim.queue.slug

    response = admin_client.post(
        _url(RefundClaim, "changelist"),
        {"action": "move_to_queue", "_selected_action": [claim.pk], "queue": target.pk},
        follow=True,
        **EN,
    )

    assert response.status_code == 200
    assert RefundClaim.objects.get(pk=claim.pk).queue == target
    event = AuditEvent.objects.filter(claim=claim).order_by("-seq").first()
    assert event.action == "queue_changed" and event.actor_label == "user:admin"
    assert event.data == {"from": before, "to": "high-value"}


def test_a_closed_claim_is_not_moved(admin_client, everything, shop_a, make_claim, alice):
    claim = services.claim_merchant_respond(claim=make_claim(shop_a), user=alice, response="accept")
    services.claim_close(claim=claim, actor=Actor.system("test"))
    target = ReviewQueue.objects.exclude(pk=claim.queue_id).first()

    admin_client.post(
        _url(RefundClaim, "changelist"),
        {"action": "move_to_queue", "_selected_action": [claim.pk], "queue": target.pk},
    )

    assert RefundClaim.objects.get(pk=claim.pk).queue_id == claim.queue_id
    assert not AuditEvent.objects.filter(claim=claim, action="queue_changed").exists()


# --- assignments ---------------------------------------------------------------------


def test_an_assignments_release_time_cannot_be_edited(admin_client, everything, charlie):
    held = Assignment.objects.filter(claim=everything["claim"]).first()

    response = admin_client.post(
        _url(held),
        {"released_at_0": "2020-01-01", "released_at_1": "00:00:00", "reviewer": charlie.pk},
    )

    assert response.status_code == 403
    assert Assignment.objects.get(pk=held.pk).released_at == held.released_at


def test_releasing_an_assignment_goes_through_the_service(
    admin_client, shop_a, make_claim, alice, charlie
):
    claim = services.claim_merchant_respond(
        claim=make_claim(shop_a), user=alice, response="contest", statement="painted cracks"
    )
    services.claim_assign(claim=claim, reviewer=charlie)
    held = Assignment.objects.get(claim=claim, released_at__isnull=True)

    admin_client.post(
        _url(Assignment, "changelist"),
        {"action": "release", "_selected_action": [held.pk]},
    )

    assert Assignment.objects.get(pk=held.pk).released_at is not None
    event = AuditEvent.objects.get(claim=claim, action="released")
    assert event.actor_label == "user:admin" and event.data == {"holder": "charlie"}


# --- nothing of the record is deleted ----------------------------------------------------------


def test_nothing_of_the_record_can_be_deleted(admin_client, everything):
    from evidence.models import EvidenceFile

    claim = everything["claim"]
    rows = [
        claim,
        Decision.objects.filter(claim=claim).first(),
        claim.appeals.first(),
        Assignment.objects.filter(claim=claim).first(),
        AuditEvent.objects.filter(claim=claim).first(),
        EvidenceFile.objects.filter(claim=claim).first(),
    ]
    for row in rows:
        assert admin_client.post(_url(row, "delete"), {"post": "yes"}).status_code == 403, row
        assert type(row).objects.filter(pk=row.pk).exists()
        changelist = admin_client.get(_url(type(row), "changelist")).content.decode()
        assert 'value="delete_selected"' not in changelist


def test_the_platforms_records_of_sales_are_read_only(admin_client, everything):
    """Orders, their items, buyers and shipments come from the platform's systems (the
    API's services) and claims are judged against them: the admin shows them only."""
    from merchants.models import Shipment

    order = everything["claim"].order
    rows = [order, order.buyer, Shipment.objects.get(order=order)]
    for row in rows:
        assert admin_client.get(_url(type(row), "add")).status_code == 403, row
        assert admin_client.post(_url(row), {"total_amount": "1.00"}).status_code == 403, row
        assert admin_client.post(_url(row, "delete"), {"post": "yes"}).status_code == 403, row
        assert admin_client.get(_url(row)).status_code == 200, row  # still shown
    fresh = type(order).objects.get(pk=order.pk)
    assert (fresh.total_amount, fresh.buyer_id) == (order.total_amount, order.buyer_id)
    page = admin_client.get(_url(order)).context["inline_admin_formsets"][0]
    assert not page.has_add_permission and not page.has_change_permission


def test_deleting_a_product_would_delete_its_photos_and_is_refused(
    admin_client, media_in_tmp, shop_a
):
    from evidence.services import evidence_add
    from merchants.models import Product
    from merchants.services import product_create

    product = product_create(merchant=shop_a, platform_id="never-sold", title="未售出 unsold")
    evidence_add(upload=_jpeg(4), submitted_by="merchant", product=product)
    photos = product.photos.count()

    page = admin_client.get(_url(product, "delete"), **EN).content.decode()
    admin_client.post(_url(product, "delete"), {"post": "yes"})

    assert "your account doesn't have permission to delete" in page.replace("’", "'")
    assert Product.objects.filter(pk=product.pk).exists()
    assert product.photos.count() == photos > 0


# --- webhook endpoints and platform clients: no secret on a page ------------------------------


def test_a_webhook_endpoints_secret_is_never_shown_nor_editable(admin_client, everything):
    endpoint, secret = everything["endpoint"], everything["secret"]

    change = admin_client.get(_url(endpoint), **EN).content.decode()
    listing = admin_client.get(_url(WebhookEndpoint, "changelist"), **EN).content.decode()
    response = admin_client.post(
        _url(endpoint),
        {
            "url": "https://platform.example/new-hook",
            "event_types": "[]",
            "is_active": "on",
            "secret": "whsec_chosen_by_the_admin",
        },
    )

    assert secret not in change and secret not in listing
    assert 'name="secret"' not in change
    assert response.status_code == 302
    fresh = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert fresh.secret == secret
    assert fresh.url == "https://platform.example/new-hook"


def test_webhook_endpoints_are_registered_through_the_api_not_the_admin(admin_client, everything):
    assert admin_client.get(_url(WebhookEndpoint, "add")).status_code == 403


def test_a_platform_clients_token_is_never_shown(admin_client, everything):
    client = everything["client"]

    html = admin_client.get(_url(client), **EN).content.decode()

    assert client.token_hash not in html
    assert client.token_prefix in html


def test_the_moved_queue_reads_in_the_merchants_timeline(client, alice, admin_user, everything):
    """The new audit action has words on the claim pages."""
    claim = everything["claim"]
    services.claim_move_queue(
        claim=claim, queue=ReviewQueue.objects.get(slug="high-value"), user=admin_user
    )
    client.force_login(alice)

    html = client.get(reverse("merchant_claim", args=[claim.pk]), **EN).content.decode()

    assert "The claim was moved to another review queue" in html


def test_a_reviewer_who_is_not_senior_cannot_move_claims(everything, charlie):
    from refunds.exceptions import NotAllowed

    claim = everything["claim"]
    with pytest.raises(NotAllowed):
        services.claim_move_queue(
            claim=claim, queue=ReviewQueue.objects.get(slug="high-value"), user=charlie
        )
    assert RefundClaim.objects.get(pk=claim.pk).queue_id == claim.queue_id
