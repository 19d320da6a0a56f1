"""The webhook delivery log: one row per attempt written by the delivery task (status,
latency, a bounded excerpt of the answer, the error), shown read-only in the admin, and
the admin's "re-send" action, which goes through ``webhooks.webhook_delivery_resend``."""

from __future__ import annotations

import pytest
from django.urls import reverse

from refunds import webhooks
from refunds.exceptions import IllegalTransition, NotAllowed
from refunds.models import WebhookAttempt, WebhookDelivery
from tests.refunds import test_webhooks_delivery as delivery_tests

# The real receiver on loopback and its fixtures, shared with the delivery tests.
_delivery = delivery_tests._delivery
allow_local = delivery_tests.allow_local
receiver = delivery_tests.receiver
platform = delivery_tests.platform
endpoint_for = delivery_tests.endpoint_for

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:refunds_webhookdelivery_changelist"


def _log(delivery):
    return list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))


def test_a_delivered_attempt_is_logged_with_status_latency_and_excerpt(receiver, endpoint_for):
    endpoint, _ = endpoint_for(receiver.url())
    receiver.reply = {"status": 200, "body": b'{"ok": true}'}
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk)
    [attempt] = _log(delivery)
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert attempt.latency_ms is not None and attempt.latency_ms >= 0
    assert attempt.response_excerpt == '{"ok": true}'


def test_failed_attempts_are_each_logged_and_the_excerpt_is_bounded(receiver, endpoint_for):
    endpoint, _ = endpoint_for(receiver.url())
    receiver.reply = {"status": 500, "body": b"E" * 5000}
    delivery = _delivery(endpoint)
    assert not webhooks.deliver(delivery.pk)
    assert not webhooks.deliver(delivery.pk)
    attempts = _log(delivery)
    assert [a.number for a in attempts] == [1, 2]
    assert all(a.status_code == 500 for a in attempts)
    assert len(attempts[0].response_excerpt) == WebhookAttempt.EXCERPT_CHARS
    assert attempts[0].error.startswith("HTTP 500: EEE")
    assert "webhook-signature" not in attempts[0].response_excerpt


def test_an_unreachable_receiver_is_logged_with_the_error(allow_local, endpoint_for, dead_port):
    endpoint, _ = endpoint_for(f"http://127.0.0.1:{dead_port}/hooks")
    delivery = _delivery(endpoint)
    assert not webhooks.deliver(delivery.pk)
    [attempt] = _log(delivery)
    assert attempt.status_code is None and attempt.error
    assert attempt.latency_ms is not None


def test_a_refused_target_is_logged_without_a_request(endpoint_for, receiver, settings):
    endpoint, _ = endpoint_for(receiver.url())
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk)
    [attempt] = _log(delivery)
    assert attempt.latency_ms is None and attempt.status_code is None and attempt.error
    assert receiver.requests == []
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "failed"


def test_the_admin_shows_the_log_read_only(admin_client, receiver, endpoint_for):
    endpoint, _ = endpoint_for(receiver.url())
    receiver.reply = {"status": 503, "body": b"try later, maintenance"}
    delivery = _delivery(endpoint)
    webhooks.deliver(delivery.pk)
    page = admin_client.get(reverse("admin:refunds_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "try later, maintenance" in body and "503" in body
    assert 'name="attempt_log-0-error"' not in body  # shown, not editable


def test_re_send_from_the_admin_sends_the_same_event_again(
    admin_client, receiver, endpoint_for, django_capture_on_commit_callbacks
):
    endpoint, _ = endpoint_for(receiver.url())
    receiver.reply = {"status": 500}
    delivery = _delivery(endpoint)
    for _ in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver(delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "failed"
    receiver.reply = {"status": 204}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(CHANGELIST), {"action": "resend", "_selected_action": [delivery.pk]}
        )

    assert response.status_code == 302
    fresh = WebhookDelivery.objects.get(pk=delivery.pk)
    assert fresh.status == "delivered" and fresh.last_status_code == 204
    attempts = _log(delivery)
    assert len(attempts) == webhooks.MAX_ATTEMPTS + 1 and attempts[-1].status_code == 204
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {str(delivery.pk)}  # the same event: the receiver can deduplicate it


def test_re_send_is_refused_while_pending_for_an_inactive_endpoint_and_without_the_right(
    admin_user, django_user_model, receiver, endpoint_for
):
    endpoint, _ = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    with pytest.raises(IllegalTransition):
        webhooks.webhook_delivery_resend(delivery=delivery, user=admin_user)
    webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123")
    viewer.is_staff = True
    viewer.save()
    with pytest.raises(NotAllowed):
        webhooks.webhook_delivery_resend(delivery=delivery, user=viewer)
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active"])
    delivery.refresh_from_db()
    with pytest.raises(IllegalTransition):
        webhooks.webhook_delivery_resend(delivery=delivery, user=admin_user)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered"
