"""Idempotency-Key: replay, conflict, in-progress, purge; concurrency on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import IdempotencyRecord


def _claim_body(order):
    return {"order": order.pk, "amount": "50.00", "reason": "damaged", "description": "x"}


def test_same_key_same_body_replays_first_response(api_a, make_order, shop_a):
    from refunds.models import RefundClaim

    order = make_order(shop_a)
    first = api_a.post(
        "/api/v1/claims/", _claim_body(order), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    second = api_a.post(
        "/api/v1/claims/", _claim_body(order), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert RefundClaim.objects.count() == 1


def test_same_key_different_body_is_409(api_a, make_order, shop_a):
    order = make_order(shop_a)
    api_a.post("/api/v1/claims/", _claim_body(order), format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = {**_claim_body(order), "amount": "51.00"}
    response = api_a.post("/api/v1/claims/", other, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"


def test_same_key_on_another_endpoint_is_409(api_a, shop_a):
    api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    response = api_a.post(
        "/api/v1/products/",
        {"merchant": shop_a.pk, "platform_id": "p", "title": "t"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert response.status_code == 409


def test_keys_are_per_client(api_a, api_b):
    a = api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    b = api_b.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_errors_are_replayed_too(api_a, make_order, shop_a):
    order = make_order(shop_a)
    body = {**_claim_body(order), "amount": "99999.00"}
    first = api_a.post("/api/v1/claims/", body, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    second = api_a.post("/api/v1/claims/", body, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()
    assert second["Content-Type"] == "application/problem+json"


def test_request_in_progress_is_409(api_a, client_a, make_order, shop_a):
    order = make_order(shop_a)
    first = api_a.post(
        "/api/v1/claims/", _claim_body(order), format="json", HTTP_IDEMPOTENCY_KEY="busy"
    )
    IdempotencyRecord.objects.filter(key="busy").update(
        status=IdempotencyRecord.Status.IN_PROGRESS, response_body=None
    )
    response = api_a.post(
        "/api/v1/claims/", _claim_body(order), format="json", HTTP_IDEMPOTENCY_KEY="busy"
    )
    assert first.status_code == 201
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"


def test_multipart_bodies_are_compared_by_file_content(api_a, product_a, photo_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def post(data):
        return api_a.post(
            f"/api/v1/products/{product_a.pk}/photos/",
            {"file": SimpleUploadedFile("a.jpg", data, "image/jpeg")},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    assert post(photo_bytes(1)).status_code == 201
    assert post(photo_bytes(1)).status_code == 201
    assert post(photo_bytes(2)).status_code == 409
    assert product_a.photos.count() == 1


def test_invalid_key_is_400(api_a):
    response = api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="x" * 256,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"


def test_without_key_each_post_is_new(api_a):
    for _ in range(2):
        api_a.post("/api/v1/webhook-endpoints/", {"url": "https://a.example/h"}, format="json")
    assert api_a.get("/api/v1/webhook-endpoints/").json()["count"] == 2
    assert not IdempotencyRecord.objects.exists()


def test_purge_task_keeps_keys_24_hours(api_a):
    from api.tasks import purge_idempotency_records_task

    api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="old",
    )
    api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/i"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="new",
    )
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    IdempotencyRecord.objects.filter(key="new").update(
        created_at=timezone.now() - dt.timedelta(hours=23)
    )
    assert purge_idempotency_records_task.delay().get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_purge_is_scheduled():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "api.tasks.purge_idempotency_records_task" in tasks


def test_server_error_releases_the_key(api_a, monkeypatch):
    from refunds import services

    def boom(**kwargs):
        raise RuntimeError("database fell over")

    monkeypatch.setattr(services, "webhook_endpoint_create", boom)
    api_a.raise_request_exception = False
    response = api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-me",
    )
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert not IdempotencyRecord.objects.filter(key="retry-me").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_object(client_a, shop_a, make_order):
    """Eight threads send the same key and body at once: one claim, the rest replay or
    are told the request is in progress."""
    from refunds.models import RefundClaim

    order = make_order(shop_a)
    body = _claim_body(order)
    barrier = threading.Barrier(8)
    results: list[int] = []
    lock = threading.Lock()

    def send():
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {client_a.token}")
        try:
            barrier.wait()
            response = api.post("/api/v1/claims/", body, format="json", HTTP_IDEMPOTENCY_KEY="race")
            with lock:
                results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert RefundClaim.objects.filter(order=order).count() == 1
    assert results.count(201) >= 1
    assert set(results) <= {201, 409}
    assert IdempotencyRecord.objects.filter(key="race").count() == 1


# --- the lease of an in-progress key (issue 9) -------------------------------------------


def _left_in_progress(key: str, *, age_seconds: float) -> None:
    """What a request that died (or lost its database) before releasing its key leaves:
    the record in progress, nothing of its work committed."""
    from refunds.models import WebhookEndpoint

    IdempotencyRecord.objects.filter(key=key).update(
        status=IdempotencyRecord.Status.IN_PROGRESS,
        response_status=None,
        response_body=None,
        completed_at=None,
        created_at=timezone.now() - dt.timedelta(seconds=age_seconds),
    )
    WebhookEndpoint.objects.all().delete()


def _post_endpoint(api, key):
    return api.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://a.example/h"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_key_stuck_in_progress_is_taken_over_once_its_lease_ran_out(api_a, settings):
    from refunds.models import WebhookEndpoint

    settings.API_IDEMPOTENCY_LEASE_SECONDS = 120
    _post_endpoint(api_a, "stuck")
    _left_in_progress("stuck", age_seconds=121)

    response = _post_endpoint(api_a, "stuck")

    assert response.status_code == 201
    assert WebhookEndpoint.objects.count() == 1
    record = IdempotencyRecord.objects.get(key="stuck")
    assert record.status == IdempotencyRecord.Status.COMPLETED
    assert _post_endpoint(api_a, "stuck")["Idempotent-Replayed"] == "true"


def test_a_key_in_progress_within_its_lease_is_409_with_retry_after(api_a, settings):
    settings.API_IDEMPOTENCY_LEASE_SECONDS = 120
    _post_endpoint(api_a, "busy-lease")
    _left_in_progress("busy-lease", age_seconds=20)

    response = _post_endpoint(api_a, "busy-lease")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert 90 <= int(response["Retry-After"]) <= 100


def test_only_one_retry_takes_over_an_expired_lease(api_a, settings):
    """Two retries read the same stale record; the compare-and-set lets one of them in."""
    from api import idempotency

    settings.API_IDEMPOTENCY_LEASE_SECONDS = 120
    _post_endpoint(api_a, "contended")
    _left_in_progress("contended", age_seconds=600)
    first_look = IdempotencyRecord.objects.get(key="contended")
    second_look = IdempotencyRecord.objects.get(key="contended")

    assert idempotency.take_over(first_look) is True
    assert idempotency.take_over(second_look) is False


def test_a_holder_that_lost_its_lease_does_not_overwrite_the_new_holders_result(api_a, settings):
    from api import idempotency

    settings.API_IDEMPOTENCY_LEASE_SECONDS = 120
    _post_endpoint(api_a, "late")
    _left_in_progress("late", age_seconds=600)
    old_holder = IdempotencyRecord.objects.get(key="late")
    assert _post_endpoint(api_a, "late").status_code == 201  # the retry took it over

    idempotency.release(old_holder)  # the old request finally gives up

    assert IdempotencyRecord.objects.get(key="late").status == IdempotencyRecord.Status.COMPLETED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_a_stuck_key_run_the_request_once(client_a, settings):
    """Eight retries of a key whose lease ran out arrive at once: one runs the request."""
    from refunds.models import WebhookEndpoint

    settings.API_IDEMPOTENCY_LEASE_SECONDS = 120
    first = APIClient()
    first.credentials(HTTP_AUTHORIZATION=f"Token {client_a.token}")
    _post_endpoint(first, "stuck-race")
    _left_in_progress("stuck-race", age_seconds=600)
    barrier = threading.Barrier(8)
    results: list[int] = []
    lock = threading.Lock()

    def send():
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {client_a.token}")
        try:
            barrier.wait()
            response = _post_endpoint(api, "stuck-race")
            with lock:
                results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert WebhookEndpoint.objects.count() == 1
    assert results.count(201) >= 1
    assert set(results) <= {201, 409}
