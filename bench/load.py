"""Queue and API load: the production stack on this machine, driven by concurrent clients.

    make bench-load          # or: .venv/bin/python bench/load.py [--clients 8] [--claims 120]

It builds a throw-away production-like deployment: PostgreSQL database
``claimlens_load`` (dropped and re-created: never point it at real data), Redis db 14 as
the broker, gunicorn serving ``config.wsgi`` and a real Celery worker, media in
``var/bench-load``. Then, through the public API only:

1. **API write load** (no worker running, so the web tier has the cores): ``--clients``
   threads each record orders, submit claims and upload one 3 MP buyer photo per claim
   (the platform's busiest path): 5 requests per claim incl. two reads.
2. **API read load**: the same threads read claims and findings for ``--read-seconds``.
3. **Queue drain**: the worker starts with the backlog of every uploaded photo; files
   per second until the last one is checked, and each file's upload-to-checked time.
4. **Steady state**: claims arrive at ``--rate`` per second for ``--steady-seconds``
   while the worker runs (web and worker share the cores, as on a small production box);
   upload-to-checked latency and API latency under that load.

Results: ``bench/out/load.json`` and ``bench/out/load.md``; docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_integration import multipart  # noqa: E402
from bench.common import ROOT, Stack, machine, md_table, percentile, write_json, write_text  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get(
    "BENCH_LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/claimlens_load"
)
BROKER_URL = os.environ.get("BENCH_LOAD_BROKER_URL", "redis://127.0.0.1:6379/14")
VAR_DIR = ROOT / "var" / "bench-load"


# --- the stack ------------------------------------------------------------------------------


STACK = Stack(
    database_url=DATABASE_URL,
    broker_url=BROKER_URL,
    var_dir=VAR_DIR,
    extra={"API_RATE": "1000000/min"},  # measure capacity, not the throttle
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], log: str) -> subprocess.Popen:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(VAR_DIR / log, "w")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(command, cwd=ROOT, env=STACK.env(), stdout=handle, stderr=handle)


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the client -----------------------------------------------------------------------------


class Client:
    """A thread-safe recorder of request latencies around urllib."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Token {token}", "Accept-Language": "zh-hans"}
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def call(
        self,
        name: str,
        method: str,
        path: str,
        body=None,
        files=None,
        submitted_by="buyer",
        expect=(200, 201),
    ):
        headers = dict(self.headers)
        data = None
        if files is not None:
            data, headers["Content-Type"] = multipart(
                {"submitted_by": submitted_by},
                [(name, filename, content, "image/jpeg") for name, filename, content in files],
            )
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(  # noqa: S310 - our own server
            self.base_url + path, data=data, method=method, headers=headers
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            status, raw = 0, str(exc).encode()
        elapsed = time.perf_counter() - started
        with self.lock:
            self.timings[name].append(elapsed)
            if status not in expect:
                self.errors[f"{name} HTTP {status}"] += 1
        if status not in expect:
            return None
        return json.loads(raw) if raw else None


def photos() -> tuple[list[bytes], list[bytes]]:
    """Listing photos and a pool of 3 MP buyer photos (forged copies and genuine shots)."""
    import numpy as np

    from testing import synthetic

    size = (2000, 1500)
    listings, buyers = [], []
    rng = np.random.default_rng(7)
    for seed in range(2):
        listing = synthetic.render_product_photo(seed, size=size)
        listings.append(synthetic.encode_jpeg(listing.image, quality=92))
        for shot in range(6):
            if shot % 2:
                image = synthetic.paint_damage(listing, shot).image
            else:
                image = synthetic.render_other_shot(seed, shot, size=size).image
            noisy = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
            buyers.append(synthetic.encode_jpeg(noisy, quality=90, exif=True))
    return listings, buyers


def submit_claim(client: Client, merchant: dict, product: dict, photo: bytes) -> int | None:
    """The platform's path for one refund-only claim: order, claim, evidence, two reads."""
    run = uuid.uuid4().hex[:12]
    paid = datetime.now(UTC) - timedelta(days=4)
    order = client.call(
        "POST /orders/",
        "POST",
        "/api/v1/orders/",
        {
            "merchant": merchant["id"],
            "platform_id": f"order-{run}",
            "buyer": {"platform_id": f"buyer-{run}", "display_name": "买家"},
            "items": [
                {"title": "商品", "quantity": 1, "unit_price": "59.00", "product": product["id"]}
            ],
            "paid_at": paid.isoformat(),
            "shipped_at": (paid + timedelta(days=1)).isoformat(),
            "delivered_at": (paid + timedelta(days=3)).isoformat(),
        },
    )
    if order is None:
        return None
    claim = client.call(
        "POST /claims/",
        "POST",
        "/api/v1/claims/",
        {"order": order["id"], "amount": "59.00", "reason": "damaged", "description": "破损"},
    )
    if claim is None:
        return None
    client.call(
        "POST /claims/{id}/evidence/ (3 MP)",
        "POST",
        f"/api/v1/claims/{claim['id']}/evidence/",
        files=[("file", "buyer.jpg", photo)],
    )
    client.call("GET /claims/{id}/", "GET", f"/api/v1/claims/{claim['id']}/")
    client.call("GET /claims/{id}/findings/", "GET", f"/api/v1/claims/{claim['id']}/findings/")
    return claim["id"]


def wait_until_up(base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url + "/api/schema/", timeout=5):  # noqa: S310
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not come up: see var/bench-load/gunicorn.log")


def evidence_times(since: datetime | None = None) -> list[tuple[datetime, datetime | None, str]]:
    import psycopg

    query = (
        "SELECT created_at, checked_at, status FROM evidence_evidencefile "
        "WHERE attached_to = 'claim'"
    )
    params: tuple = ()
    if since is not None:
        query += " AND created_at >= %s"
        params = (since,)
    with psycopg.connect(DATABASE_URL) as conn:
        return list(conn.execute(query, params).fetchall())


def wait_for_checks(since: datetime | None, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = evidence_times(since)
        if all(status not in ("pending", "checking") for _c, _k, status in rows):
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def stats(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "median": round(statistics.median(ms), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


def run_threads(count: int, target) -> float:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# --- the benchmark --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--claims", type=int, default=120, help="claims in the write phase")
    parser.add_argument("--read-seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=1.0, help="claims/s in the steady phase")
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    args = parser.parse_args()

    print("preparing photos and a fresh database...", flush=True)
    listings, buyer_photos = photos()
    STACK.reset()
    STACK.manage("migrate", "--no-input")
    token = STACK.manage("create_platform_client", "load-bench").split("token: ")[1].split()[0]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    web = start(
        [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi",
            "--workers",
            str(args.web_workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
        ],
        "gunicorn.log",
    )
    worker = None
    result: dict = {
        "machine": machine(),
        "settings": vars(args),
        "stack": {
            "database": "PostgreSQL (" + DATABASE_URL.rsplit("@", 1)[-1] + ")",
            "broker": "Redis (" + BROKER_URL.rsplit("@", 1)[-1] + ")",
            "web": f"gunicorn, {args.web_workers} sync workers",
            "worker": f"celery prefork, concurrency {args.worker_concurrency}",
        },
    }
    try:
        wait_until_up(base_url)
        setup = Client(base_url, token)
        merchant = setup.call(
            "setup", "POST", "/api/v1/merchants/", {"platform_id": "load", "name": "压测店铺"}
        )
        product = setup.call(
            "setup",
            "POST",
            "/api/v1/products/",
            {"merchant": merchant["id"], "platform_id": "p1", "title": "陶瓷杯"},
        )
        setup.call(
            "setup",
            "POST",
            f"/api/v1/products/{product['id']}/photos/",
            files=[("file", f"listing-{i}.jpg", data) for i, data in enumerate(listings)],
            submitted_by="merchant",
        )
        # The listing photos need their features before claims can be matched against them.
        worker = start_worker(args.worker_concurrency)
        wait_for_listing_features()
        stop(worker)
        worker = None

        # 1. write load
        print(f"1/4 write load: {args.claims} claims by {args.clients} clients...", flush=True)
        writes = Client(base_url, token)
        claim_ids: list[int] = []
        per_client = args.claims // args.clients

        def write(index: int) -> None:
            for n in range(per_client):
                photo = buyer_photos[(index * per_client + n) % len(buyer_photos)]
                claim_id = submit_claim(writes, merchant, product, photo)
                if claim_id:
                    claim_ids.append(claim_id)

        write_seconds = run_threads(args.clients, write)
        requests = sum(len(v) for v in writes.timings.values())
        result["write"] = {
            "claims": len(claim_ids),
            "seconds": round(write_seconds, 1),
            "claims_per_second": round(len(claim_ids) / write_seconds, 2),
            "requests_per_second": round(requests / write_seconds, 1),
            "endpoints": {name: stats(v) for name, v in writes.timings.items()},
            "errors": dict(writes.errors),
        }

        # 2. read load
        print(f"2/4 read load for {args.read_seconds:.0f} s...", flush=True)
        reads = Client(base_url, token)
        stop_at = time.monotonic() + args.read_seconds

        def read(index: int) -> None:
            n = index
            while time.monotonic() < stop_at:
                claim_id = claim_ids[n % len(claim_ids)]
                reads.call("GET /claims/{id}/", "GET", f"/api/v1/claims/{claim_id}/")
                reads.call(
                    "GET /claims/{id}/findings/", "GET", f"/api/v1/claims/{claim_id}/findings/"
                )
                reads.call("GET /claims/?status=received", "GET", "/api/v1/claims/?status=received")
                n += args.clients

        read_seconds = run_threads(args.clients, read)
        requests = sum(len(v) for v in reads.timings.values())
        result["read"] = {
            "seconds": round(read_seconds, 1),
            "requests_per_second": round(requests / read_seconds, 1),
            "endpoints": {name: stats(v) for name, v in reads.timings.items()},
            "errors": dict(reads.errors),
        }

        # 3. queue drain
        print(f"3/4 queue drain of {len(claim_ids)} photos...", flush=True)
        backlog_started = datetime.now(UTC)
        worker = start_worker(args.worker_concurrency)
        rows = wait_for_checks(None, timeout=1800)
        checked = [r for r in rows if r[1] is not None]
        first, last = min(r[1] for r in checked), max(r[1] for r in checked)
        drain_seconds = (last - backlog_started).total_seconds()
        # Without the worker's start-up: from the first file checked to the last.
        working_seconds = (last - first).total_seconds()
        result["drain"] = {
            "files": len(rows),
            "checked": len(checked),
            "not_checked": [r[2] for r in rows if r[1] is None],
            "seconds": round(drain_seconds, 1),
            "files_per_second": round(len(checked) / drain_seconds, 2),
            "files_per_second_after_start": round(
                (len(checked) - 1) / working_seconds if working_seconds > 0 else 0, 2
            ),
        }

        # 4. steady state
        print(f"4/4 steady state: {args.rate}/s for {args.steady_seconds:.0f} s...", flush=True)
        steady = Client(base_url, token)
        steady_started = datetime.now(UTC)
        interval = 1 / args.rate
        total = int(args.rate * args.steady_seconds)
        lock = threading.Lock()
        next_slot = [time.monotonic()]
        count = [0]

        def arrive(index: int) -> None:
            while True:
                with lock:
                    if count[0] >= total:
                        return
                    count[0] += 1
                    slot = next_slot[0]
                    next_slot[0] += interval
                    n = count[0]
                time.sleep(max(0.0, slot - time.monotonic()))
                submit_claim(steady, merchant, product, buyer_photos[n % len(buyer_photos)])

        run_threads(args.clients, arrive)
        rows = wait_for_checks(steady_started, timeout=600)
        latencies = [(k - c).total_seconds() for c, k, _s in rows if k is not None]
        result["steady"] = {
            "claims": total,
            "rate_per_second": args.rate,
            "upload_to_checked": stats(latencies),
            "not_checked": sum(1 for r in rows if r[1] is None),
            "endpoints": {name: stats(v) for name, v in steady.timings.items()},
            "errors": dict(steady.errors),
        }
    finally:
        stop(worker)
        stop(web)
    write_json("load.json", result)
    write_text("load.md", report(result))
    print(report(result))
    failures = sum(
        sum(result.get(p, {}).get("errors", {}).values()) for p in ("write", "read", "steady")
    )
    if failures or result.get("drain", {}).get("not_checked"):
        raise SystemExit(f"{failures} failed requests or unchecked files: see bench/out/load.json")


def start_worker(concurrency: int) -> subprocess.Popen:
    return start(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel=WARNING",
            f"--concurrency={concurrency}",
            f"--hostname=load-{uuid.uuid4().hex[:6]}@%h",
        ],
        "worker.log",
    )


def wait_for_listing_features(timeout: float = 120) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(DATABASE_URL) as conn:
            waiting = conn.execute(
                "SELECT count(*) FROM evidence_evidencefile "
                "WHERE attached_to = 'product' AND features IS NULL"
            ).fetchone()[0]
        if waiting == 0:
            return
        time.sleep(0.5)
    raise SystemExit("the listing photos were not checked: see var/bench-load/worker.log")


def report(result: dict) -> str:
    def endpoint_rows(phase: dict) -> list[list[object]]:
        return [
            [f"`{name}`", s["n"], s["median"], s["p95"], s["p99"], s["max"]]
            for name, s in phase["endpoints"].items()
        ]

    header = ["endpoint", "requests", "median ms", "p95 ms", "p99 ms", "max ms"]
    w, r, d, s = (result.get(k, {}) for k in ("write", "read", "drain", "steady"))
    lines = [
        "# Queue and API load\n",
        f"Stack: {', '.join(result['stack'].values())}. "
        f"Clients: {result['settings']['clients']} threads. "
        f"Load average at start: {result['machine']['load_average_at_start']}.\n",
    ]
    if w:
        lines += [
            f"## 1. Write load (no worker): {w['claims']} claims in {w['seconds']} s = "
            f"{w['claims_per_second']} claims/s, {w['requests_per_second']} requests/s, "
            f"errors: {w['errors'] or 'none'}\n",
            md_table(header, endpoint_rows(w)),
        ]
    if r:
        lines += [
            f"## 2. Read load: {r['requests_per_second']} requests/s for {r['seconds']} s, "
            f"errors: {r['errors'] or 'none'}\n",
            md_table(header, endpoint_rows(r)),
        ]
    if d:
        lines.append(
            f"## 3. Queue drain: {d['checked']}/{d['files']} photos checked in {d['seconds']} s "
            f"= {d['files_per_second']} photos/s including the worker's start-up, "
            f"{d['files_per_second_after_start']} photos/s from the first check to the last\n"
        )
    if s:
        u = s["upload_to_checked"]
        lines += [
            f"## 4. Steady state: {s['claims']} claims at {s['rate_per_second']}/s, "
            f"upload-to-checked median {u.get('median')} ms, p95 {u.get('p95')} ms, "
            f"max {u.get('max')} ms; not checked: {s['not_checked']}; "
            f"errors: {s['errors'] or 'none'}\n",
            md_table(header, endpoint_rows(s)),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
