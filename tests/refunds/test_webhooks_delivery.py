"""Webhook delivery against a real HTTP receiver on 127.0.0.1.

The receiver is a plain ``http.server`` in a thread; it verifies what a platform would,
with the ``standardwebhooks`` library. Private targets are allowed here (the receiver is
on loopback) except in the tests that prove the send-time refusal.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from refunds import outbound, services, webhooks
from refunds.models import WebhookDelivery, WebhookEndpoint

PAYLOAD = {"type": "claim.decided", "claim": {"id": 7, "status": "decided"}, "data": {}}


class Receiver:
    """Records every request; answers as ``reply`` says (status, headers, body, stall)."""

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.reply: dict = {"status": 204}
        self.release = threading.Event()
        self.sent_body_bytes = 0
        self.body_finished = threading.Event()
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                reply = receiver.reply
                if reply.get("stall"):
                    receiver.release.wait(timeout=30)
                    return
                self.send_response(reply["status"])
                for name, value in reply.get("headers", {}).items():
                    self.send_header(name, value)
                if reply.get("endless_body"):
                    self.send_header("Content-Length", str(1 << 40))
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        while receiver.sent_body_bytes < (1 << 28):
                            self.wfile.write(chunk)
                            receiver.sent_body_bytes += len(chunk)
                    except OSError:
                        pass  # the client hung up: what a bounded reader does
                    receiver.body_finished.set()
                    return
                body = reply.get("body", b"")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # a followed redirect would arrive as a GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:

            def remember_name(_sock, name, _context):
                self.server_names.append(name)

            tls_context.sni_callback = remember_name
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hooks", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def allow_local(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


@pytest.fixture
def receiver(allow_local):
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def platform(shop_a):
    from merchants.services import platform_client_create

    client, _token = platform_client_create(name="platform-a", merchants=[shop_a])
    return client


@pytest.fixture
def endpoint_for(platform):
    def _make(url: str, **kwargs) -> tuple[WebhookEndpoint, str]:
        return services.webhook_endpoint_create(client=platform, url=url, **kwargs)

    return _make


def _delivery(endpoint: WebhookEndpoint) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="claim.decided",
        payload=PAYLOAD,
        next_attempt_at=timezone.now(),
    )


# --- signatures -------------------------------------------------------------------------


def test_a_submitted_claim_reaches_the_receiver_and_verifies_as_standard_webhooks(
    receiver, endpoint_for, make_claim, shop_a
):
    # given an endpoint registered through the service (the secret is shown once)
    _endpoint, secret = endpoint_for(receiver.url())
    # when a claim is submitted (the webhook is queued after commit and sent eagerly)
    claim = make_claim(shop_a, evaluate=True)
    # then the receiver got claim.received, and the off-the-shelf verifier accepts it
    received = [r for r in receiver.requests if b'"claim.received"' in r["body"]]
    assert len(received) == 1
    request = received[0]
    event = Webhook(secret).verify(request["body"], request["headers"])
    assert event["type"] == "claim.received" and event["claim"]["id"] == claim.pk
    delivery = WebhookDelivery.objects.get(event_type="claim.received")
    assert request["headers"]["webhook-id"] == str(delivery.pk)
    assert delivery.status == "delivered" and delivery.last_status_code == 204


def test_the_signature_covers_the_delivery_id(receiver, endpoint_for):
    _endpoint, secret = endpoint_for(receiver.url())
    assert webhooks.deliver(_delivery(_endpoint).pk)
    request = receiver.requests[0]
    forged = {**request["headers"], "webhook-id": str(int(request["headers"]["webhook-id"]) + 1)}
    Webhook(secret).verify(request["body"], request["headers"])
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(request["body"], forged)


def test_the_claimlens_signature_is_still_sent_and_verifies(receiver, endpoint_for):
    endpoint, secret = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk)
    headers = receiver.requests[0]["headers"]
    assert headers["Claimlens-Delivery"] == str(delivery.pk)
    assert headers["Claimlens-Event"] == "claim.decided"
    assert webhooks.verify_signature(
        secret, headers["Claimlens-Signature"], receiver.requests[0]["body"]
    )
    assert not webhooks.verify_signature(
        "whsec_other", headers["Claimlens-Signature"], receiver.requests[0]["body"]
    )


def test_an_endpoint_with_an_old_format_secret_gets_the_claimlens_signature_only(
    receiver, endpoint_for
):
    # Secrets made before the Standard Webhooks headers were url-safe base64 without
    # padding, which off-the-shelf verifiers do not all read; they keep the old header.
    endpoint, _ = endpoint_for(receiver.url())
    old_secret = "whsec_" + secrets.token_urlsafe(32)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=old_secret)
    assert webhooks.deliver(_delivery(endpoint).pk)
    request = receiver.requests[0]
    assert "webhook-signature" not in request["headers"]
    assert webhooks.verify_signature(
        old_secret, request["headers"]["Claimlens-Signature"], request["body"]
    )


# --- where the request goes ---------------------------------------------------------------


def test_an_internal_target_is_refused_at_send_time_and_nothing_is_sent(
    receiver, endpoint_for, settings
):
    # given an endpoint saved while private targets were allowed
    endpoint, _ = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    # when they no longer are (production), the send refuses it
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    assert webhooks.deliver(delivery.pk) is True  # nothing left to do: no retry
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("private_address:")
    assert receiver.requests == []


def test_a_localhost_name_is_refused_at_send_time(receiver, endpoint_for, settings):
    endpoint, _ = endpoint_for(receiver.url(host="localhost"))
    delivery = _delivery(endpoint)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_error.startswith("local_name:")
    assert receiver.requests == []


def test_plain_http_is_refused_at_send_time_when_https_is_required(
    receiver, endpoint_for, settings
):
    endpoint, _ = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    settings.WEBHOOK_REQUIRE_HTTPS = True
    webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_error.startswith("https_required:")
    assert receiver.requests == []


def test_the_name_is_resolved_once_and_the_host_header_keeps_it(
    receiver, endpoint_for, monkeypatch
):
    # The connection goes to the address that was vetted: a second lookup (which a
    # rebinding DNS server could answer with 127.0.0.1) never happens.
    real_getaddrinfo = socket.getaddrinfo
    looked_up: list[str] = []

    def recording_getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    endpoint, _ = endpoint_for(receiver.url(host="localhost", path="/hooks?shop=a"))
    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    assert webhooks.deliver(_delivery(endpoint).pk)
    assert looked_up.count("localhost") == 1
    request = receiver.requests[0]
    assert request["headers"]["Host"] == f"localhost:{receiver.port}"
    assert request["path"] == "/hooks?shop=a"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(receiver, endpoint_for, status):
    elsewhere = Receiver()
    try:
        receiver.reply = {"status": status, "headers": {"Location": elsewhere.url("/stolen")}}
        endpoint, _ = endpoint_for(receiver.url())
        delivery = _delivery(endpoint)
        assert webhooks.deliver(delivery.pk) is False  # retried later, as any non-2xx
        delivery.refresh_from_db()
        assert delivery.last_status_code == status and "redirect" in delivery.last_error
        assert len(receiver.requests) == 1 and elsewhere.requests == []
    finally:
        elsewhere.close()


def test_the_response_body_is_read_bounded(receiver, endpoint_for):
    receiver.reply = {"status": 200, "endless_body": True}
    endpoint, _ = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    # The receiver stopped writing because the client hung up, not at its own cap.
    assert receiver.body_finished.wait(timeout=60)
    assert receiver.sent_body_bytes < (1 << 28)


def test_an_error_answer_is_recorded_with_the_start_of_its_body(receiver, endpoint_for):
    receiver.reply = {"status": 400, "body": b"bad signature" + b"!" * 10_000}
    endpoint, _ = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error.startswith("HTTP 400: bad signature")
    assert len(delivery.last_error) < 500


def test_a_silent_receiver_times_out_and_is_retried(receiver, endpoint_for, monkeypatch):
    monkeypatch.setattr(outbound, "READ_TIMEOUT_SECONDS", 0.2)
    receiver.reply = {"stall": True}
    endpoint, _ = endpoint_for(receiver.url())
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert "timed out" in delivery.last_error


def test_nothing_listening_is_a_retried_failure(allow_local, endpoint_for):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint, _ = endpoint_for(f"http://127.0.0.1:{port}/hooks")
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "refused" in delivery.last_error.lower()


# --- HTTPS: the address is pinned, the name still drives SNI and the certificate check ---


def _self_signed(tmp_path, name: str):
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert),
            "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


@pytest.fixture
def tls_receiver(allow_local, tmp_path, monkeypatch):
    def _start(certificate_name: str) -> Receiver:
        context, cert = _self_signed(tmp_path, certificate_name)
        # Trust this certificate as the system's CA bundle would trust a real one.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        server = Receiver(tls_context=context)
        started.append(server)
        return server

    started: list[Receiver] = []
    yield _start
    for server in started:
        server.close()


def test_https_goes_to_the_vetted_address_with_the_name_for_sni_and_host(
    tls_receiver, endpoint_for
):
    server = tls_receiver("localhost")
    endpoint, secret = endpoint_for(server.url(scheme="https", host="localhost"))
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk), WebhookDelivery.objects.get().last_error
    assert server.server_names == ["localhost"]
    request = server.requests[0]
    assert request["headers"]["Host"] == f"localhost:{server.port}"
    Webhook(secret).verify(request["body"], request["headers"])


def test_https_with_a_certificate_for_another_name_is_not_delivered(tls_receiver, endpoint_for):
    server = tls_receiver("other.test")
    endpoint, _ = endpoint_for(server.url(scheme="https", host="localhost"))
    delivery = _delivery(endpoint)
    assert webhooks.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert "certificate" in delivery.last_error.lower()
    assert server.requests == []
