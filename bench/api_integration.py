"""The whole platform integration, seen from the platform's side, against a running server.

    python bench/api_integration.py --base-url http://127.0.0.1:8000 --token cl_...

The token belongs to a client allowed to create merchants (``manage.py
create_platform_client marketplace``). The script

1. starts a tiny webhook receiver on 127.0.0.1 and registers it (the secret comes back once),
2. creates a merchant, a product and uploads two listing photos,
3. records an order (buyer inline) and submits a claim — twice with one Idempotency-Key,
   proving the second call replays the first,
4. uploads the buyer's photo as evidence, polls the claim until its checks are done,
5. reads the findings (messages in the Accept-Language language) and downloads an
   artifact through its signed URL,
6. waits for a webhook and verifies its HMAC signature with
   ``refunds.webhooks.verify_signature``.

It exits non-zero at the first step that does not behave as documented in docs/api.md.
Only the standard library and Pillow (to draw the photos) are used on the client side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --- a minimal HTTP client ------------------------------------------------------------------


class Api:
    def __init__(self, base_url: str, token: str, language: str = "en") -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Token {token}", "Accept-Language": language}

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        files=None,
        fields=None,
        headers=None,
        expect=(200, 201),
    ):
        url = path if path.startswith("http") else self.base_url + path
        all_headers = {**self.headers, **(headers or {})}
        data = None
        if files is not None:
            data, content_type = multipart(fields or {}, files)
            all_headers["Content-Type"] = content_type
        elif body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the operator chooses the URL
            url, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, raw, got = exc.code, exc.read(), exc.headers
        if status not in expect:
            fail(f"{method} {path}: HTTP {status} {raw[:500]!r}")
        is_json = got.get("Content-Type", "").split(";")[0].endswith("json")
        return status, (json.loads(raw) if is_json and raw else raw), got


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes, str]]):
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, filename, content, content_type in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        )
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def step(message: str) -> None:
    print(f"-> {message}", flush=True)


def photo(seed: int) -> bytes:
    """A product-like JPEG (gradient, noise, a block) different for each seed."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640]
    base = np.stack(
        [xx * 255 / 640, yy * 255 / 480, np.full((480, 640), rng.integers(0, 255))], axis=-1
    )
    arr = np.clip(base + rng.normal(0, 12, (480, 640, 3)), 0, 255).astype("uint8")
    arr[200:280, 260:380] = rng.integers(0, 255, 3)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "JPEG", quality=90)
    return out.getvalue()


# --- the webhook receiver -------------------------------------------------------------------


def start_receiver() -> tuple[ThreadingHTTPServer, queue.Queue]:
    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.put((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


# --- the integration ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("CLAIMLENS_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--token", default=os.environ.get("CLAIMLENS_TOKEN"))
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if not args.token:
        fail("pass --token (or CLAIMLENS_TOKEN): a client made by create_platform_client")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from refunds.webhooks import verify_signature

    api = Api(args.base_url, args.token)
    run = uuid.uuid4().hex[:8]
    server, received = start_receiver()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/claimlens"

    step(f"register webhook endpoint {hook_url}")
    _, endpoint, _ = api.call("POST", "/api/v1/webhook-endpoints/", {"url": hook_url})
    secret = endpoint["secret"]

    step("create merchant")
    _, merchant, _ = api.call(
        "POST",
        "/api/v1/merchants/",
        {"platform_id": f"shop-{run}", "name": f"Shop {run} 家居"},
        headers={"Idempotency-Key": f"merchant-{run}"},
    )
    step("create product and upload two listing photos")
    _, product, _ = api.call(
        "POST",
        "/api/v1/products/",
        {"merchant": merchant["id"], "platform_id": f"mug-{run}", "title": "陶瓷杯 Ceramic mug"},
    )
    _, photos, _ = api.call(
        "POST",
        f"/api/v1/products/{product['id']}/photos/",
        expect=(201,),
        files=[
            ("file", "listing-1.jpg", photo(1), "image/jpeg"),
            ("file", "listing-2.jpg", photo(2), "image/jpeg"),
        ],
        fields={"submitted_by": "merchant"},
    )
    if len(photos["files"]) != 2:
        fail(f"expected two accepted photos, got {photos}")

    step("record order with buyer inline")
    paid = datetime.now(UTC) - timedelta(days=5)
    _, order, _ = api.call(
        "POST",
        "/api/v1/orders/",
        {
            "merchant": merchant["id"],
            "platform_id": f"order-{run}",
            "buyer": {
                "platform_id": f"buyer-{run}",
                "display_name": "张三",
                "phone": "13800000000",
            },
            "items": [
                {
                    "title": "陶瓷杯 Ceramic mug",
                    "quantity": 1,
                    "unit_price": "199.00",
                    "product": product["id"],
                }
            ],
            "paid_at": paid.isoformat(),
            "shipped_at": (paid + timedelta(days=1)).isoformat(),
            "delivered_at": (paid + timedelta(days=3)).isoformat(),
            "shipping_address": "上海市浦东新区 XX 路 1 号",
        },
    )

    step("submit claim twice with one Idempotency-Key")
    claim_body = {
        "order": order["id"],
        "amount": "199.00",
        "reason": "damaged",
        "description": "杯子到货有裂痕",
        "platform_id": f"claim-{run}",
    }
    key = {"Idempotency-Key": f"claim-{run}"}
    _, claim, _ = api.call("POST", "/api/v1/claims/", claim_body, headers=key, expect=(201,))
    _, again, replay_headers = api.call(
        "POST", "/api/v1/claims/", claim_body, headers=key, expect=(201,)
    )
    if again["id"] != claim["id"] or replay_headers.get("Idempotent-Replayed") != "true":
        fail("the repeated POST was not a replay")
    status, conflict, _ = api.call(
        "POST", "/api/v1/claims/", {**claim_body, "amount": "1.00"}, headers=key, expect=(409,)
    )
    print(f"   same key, other body -> {status} {conflict['code']}")

    step("upload the buyer's photo as evidence")
    api.call(
        "POST",
        f"/api/v1/claims/{claim['id']}/evidence/",
        expect=(201,),
        files=[("file", "buyer.jpg", photo(1), "image/jpeg")],
        fields={"submitted_by": "buyer"},
    )

    step("poll until the evidence is checked")
    deadline = time.monotonic() + args.timeout
    while True:
        _, claim, _ = api.call("GET", f"/api/v1/claims/{claim['id']}/")
        if claim["status"] not in ("received", "checking"):
            break
        if time.monotonic() > deadline:
            fail(f"claim still {claim['status']} after {args.timeout}s (is a worker running?)")
        time.sleep(1)
    print(
        f"   status={claim['status']} risk_score={claim['risk_score']} "
        f"queue={claim['queue']} merchant deadline={claim['deadlines']['merchant']}"
    )

    step("read findings")
    _, findings, _ = api.call("GET", f"/api/v1/claims/{claim['id']}/findings/")
    for finding in findings:
        print(f"   [{finding['severity']}] {finding['code']}: {finding['message']}")
    artifacts = [a for f in findings for a in f["artifacts"]]
    if artifacts:
        status, image, got = api.call("GET", artifacts[0]["url"])
        print(
            f"   artifact {artifacts[0]['name']}: {len(image)} bytes, "
            f"Cache-Control: {got.get('Cache-Control')}"
        )

    step("wait for a signed webhook")
    try:
        headers, body = received.get(timeout=args.timeout)
    except queue.Empty:
        fail("no webhook arrived (is a worker running?)")
    signature = {k.lower(): v for k, v in headers.items()}.get("claimlens-signature", "")
    if not verify_signature(secret, signature, body):
        fail("webhook signature did not verify")
    event = json.loads(body)
    print(f"   {event['type']} for claim {event['claim']['id']}: signature verified")
    server.shutdown()
    print("OK: the whole integration works")


if __name__ == "__main__":
    main()
