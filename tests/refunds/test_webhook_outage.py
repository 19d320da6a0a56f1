"""A webhook receiver that is down when events happen gets each of them once it is back
(the fault suite's last scenario, small): a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from bench.private_services import Receiver, free_port


@pytest.fixture
def receiver():
    receiver = Receiver(free_port())
    yield receiver
    receiver.stop()


def test_events_sent_while_the_receiver_is_down_arrive_once_it_is_up(
    receiver, shop_a, make_order, django_capture_on_commit_callbacks
):
    from merchants.services import platform_client_create
    from refunds.audit import Actor
    from refunds.models import WebhookDelivery
    from refunds.services import claim_submit, webhook_endpoint_create
    from refunds.tasks import enforce_deadlines_task

    client, _token = platform_client_create(name="platform-a", merchants=[shop_a])
    webhook_endpoint_create(client=client, url=f"http://127.0.0.1:{receiver.port}/hook")

    # given: events happen while nothing listens on the receiver's port
    with django_capture_on_commit_callbacks(execute=True):
        claim_submit(
            order=make_order(shop_a),
            amount=Decimal("10"),
            reason="damaged",
            actor=Actor.platform("test"),
        )
    deliveries = WebhookDelivery.objects.all()
    assert deliveries.count() == 3  # received, checks started, checks completed
    assert set(deliveries.values_list("status", "attempts")) == {("pending", 1)}

    # when: the receiver is up and the retry time has come
    receiver.start()
    deliveries.update(next_attempt_at=timezone.now())
    enforce_deadlines_task.apply(throw=True)

    # then: each event arrived exactly once
    assert set(deliveries.values_list("status", flat=True)) == {"delivered"}
    assert receiver.received == Counter(
        {str(pk): 1 for pk in deliveries.values_list("pk", flat=True)}
    )
