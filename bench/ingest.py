"""Claim ingestion through the API on the production-like stack (issue 13).

    make bench-ingest        # or: .venv/bin/python bench/ingest.py [--pairs 400] [--batches 50,100]

A throw-away PostgreSQL database (``BENCH_INGEST_DATABASE_URL``, default
``claimlens_ingest_bench``: dropped and re-created), the Redis cache the rate limits
need (``BENCH_INGEST_CACHE_URL``) and a Redis broker (``BENCH_INGEST_BROKER_URL``; no
worker runs: the evaluation messages wait in it), gunicorn serving ``config.wsgi`` with
``--web-workers`` (4) sync workers, DEBUG off. Then, through HTTP only, ``--clients``
threads (8) send:

1. **single**: ``--pairs`` orders, each followed by its claim (``POST /orders/`` then
   ``POST /claims/``, no photo): what a platform does today, two requests a claim;
2. **batch N** for each N of ``--batches``: ``POST /claims/batch/`` with N orders, each
   with its claim, until ``--batch-claims`` claims are written.

Each phase reports claims per second (wall clock), the request latencies, and the CPU
seconds the gunicorn workers and the PostgreSQL backends serving them spent
(``/proc/<pid>/stat``) per claim: what ingestion costs whatever else runs on the machine,
and the claims/s two idle cores could carry at that cost (``2 / (web + db CPU)``: an
upper bound, without the WAL writer, the kernel and the client). ``os.getloadavg()``
before and after each phase.
Results: ``bench/out/ingest.json`` and ``bench/out/ingest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Stack, machine, md_table, percentile, write_json, write_text  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
DATABASE_URL = os.environ.get(
    "BENCH_INGEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/claimlens_ingest_bench"
)
BROKER_URL = os.environ.get("BENCH_INGEST_BROKER_URL", "redis://127.0.0.1:6380/4")
CACHE_URL = os.environ.get("BENCH_INGEST_CACHE_URL", "rediscache://127.0.0.1:6380/5")
VAR_DIR = ROOT / "var" / "bench-ingest"


STACK = Stack(
    database_url=DATABASE_URL,
    broker_url=BROKER_URL,
    cache_url=CACHE_URL,
    var_dir=VAR_DIR,
    extra={
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Capacity, not the throttles (which stay on: their cache round trips are measured).
        "API_RATE": "1000000/min",
        "API_BATCH_RATE": "1000000/min",
        # Every worker keeps its connection through a phase, so its backend's CPU is counted.
        "CONN_MAX_AGE": "600",
    },
)


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (and their waited-for children), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def backend_pids() -> list[int]:
    """The PostgreSQL backends serving this database (the web workers' connections)."""
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [row[0] for row in rows]


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    ).stdout
    return [int(pid) for pid in out.split()]


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    def post(self, name: str, path: str, body: dict) -> dict | None:
        request = urllib.request.Request(  # noqa: S310 - our own server
            self.base_url + path, data=json.dumps(body).encode(), headers=self.headers
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
            self.times.setdefault(name, []).append(elapsed)
            if status not in (200, 201):
                what = f"{name} HTTP {status}"
                self.errors[what] = self.errors.get(what, 0) + 1
        return json.loads(raw) if status in (200, 201) else None


def order_body(shop: int, run: str, n: int) -> dict:
    return {
        "merchant": shop,
        "platform_id": f"order-{run}-{n}",
        "buyer": {"platform_id": f"buyer-{n % 500}", "display_name": "买家"},
        "items": [{"title": "陶瓷杯", "unit_price": "99.00"}],
        "paid_at": "2026-11-20T10:00:00+08:00",
    }


CLAIM = {"amount": "99.00", "reason": "damaged", "description": "到货破损"}


def run_phase(base_url: str, token: str, master: int, clients: int, work) -> dict:
    """``work(api, index)`` in ``clients`` threads; returns the phase's figures."""
    api = Api(base_url, token)
    written = [0] * clients
    pids = worker_pids(master)
    backends = backend_pids()
    load_before = os.getloadavg()
    cpu_before, db_before = cpu_seconds(pids), cpu_seconds(backends)

    def client(index: int) -> None:
        written[index] = work(api, index)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    claims = sum(written)
    web_cpu = cpu_seconds(pids) - cpu_before
    db_cpu = cpu_seconds(backends) - db_before
    both = (web_cpu + db_cpu) / max(claims, 1)
    return {
        "claims": claims,
        "seconds": round(wall, 2),
        "claims_per_second": round(claims / wall, 1),
        "web_cpu_ms_per_claim": round(1000 * web_cpu / max(claims, 1), 2),
        "web_cpu_seconds": round(web_cpu, 2),
        # The database backends that served the workers (not WAL writer, checkpointer).
        "db_cpu_ms_per_claim": round(1000 * db_cpu / max(claims, 1), 2),
        "backends": len(backends),
        # What two idle cores could carry at this CPU cost per claim (no other work).
        "two_core_ceiling_claims_per_second": round(2 / both) if both else None,
        "requests": {name: stats(values) for name, values in api.times.items()},
        "errors": api.errors,
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }


def stats(values: list[float]) -> dict:
    ms = sorted(1000 * v for v in values)
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "max": round(ms[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=400, help="order + claim pairs, single")
    parser.add_argument("--batches", default="50,100", help="batch sizes")
    parser.add_argument("--batch-claims", type=int, default=4000, help="claims per batch size")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    STACK.reset()
    STACK.manage("migrate", "--no-input")
    token = STACK.manage("create_platform_client", "ingest-bench").split("token: ")[1].split()[0]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    log = open(VAR_DIR / "gunicorn.log", "w")  # noqa: SIM115 - as long as the server
    web = subprocess.Popen(  # noqa: S603
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
        cwd=ROOT,
        env=STACK.env(),
        stdout=log,
        stderr=log,
    )
    result: dict = {
        "machine": machine(),
        "settings": vars(args),
        "stack": f"gunicorn {args.web_workers} sync workers, DEBUG off, PostgreSQL, Redis cache",
    }
    try:
        deadline = time.monotonic() + 60
        setup = Api(base_url, token)
        shop = None
        while shop is None and time.monotonic() < deadline:
            shop = setup.post("setup", "/api/v1/merchants/", {"platform_id": "s", "name": "店"})
            if shop is None:
                time.sleep(0.5)
        if shop is None:
            raise SystemExit("gunicorn did not come up: see var/bench-ingest/gunicorn.log")
        shop_id = shop["id"]
        # Warm every worker (imports, connections) before measuring.
        warm = str(uuid.uuid4())[:8]
        for n in range(8 * args.web_workers):
            order = setup.post("warm", "/api/v1/orders/", order_body(shop_id, warm, n))
            setup.post("warm", "/api/v1/claims/", {"order": order["id"], **CLAIM})
            setup.post(
                "warm",
                "/api/v1/claims/batch/",
                {"items": [{"order": order_body(shop_id, warm + "b", n), "claim": CLAIM}]},
            )
        phases: dict = {}
        run = uuid.uuid4().hex[:8]
        per_client = args.pairs // args.clients

        def single(api: Api, index: int) -> int:
            done = 0
            for n in range(per_client):
                order = api.post(
                    "POST /orders/",
                    "/api/v1/orders/",
                    order_body(shop_id, f"{run}-{index}", n),
                )
                if order and api.post(
                    "POST /claims/", "/api/v1/claims/", {"order": order["id"], **CLAIM}
                ):
                    done += 1
            return done

        print(f"single: {args.pairs} order + claim pairs from {args.clients} clients", flush=True)
        phases["single"] = run_phase(base_url, token, web.pid, args.clients, single)
        print(f"  {phases['single']['claims_per_second']}/s", flush=True)
        for size in [int(v) for v in args.batches.split(",") if v]:
            batches = max(1, args.batch_claims // size // args.clients)

            def batch(api: Api, index: int, size=size, batches=batches) -> int:
                done = 0
                for b in range(batches):
                    body = {
                        "items": [
                            {
                                "order": order_body(shop_id, f"{run}-{size}-{index}-{b}", n),
                                "claim": CLAIM,
                            }
                            for n in range(size)
                        ]
                    }
                    name = f"POST /claims/batch/ ({size})"
                    answer = api.post(name, "/api/v1/claims/batch/", body)
                    done += answer["created"] if answer else 0
                return done

            print(f"batch {size}: {batches * args.clients} batches", flush=True)
            phases[f"batch_{size}"] = run_phase(base_url, token, web.pid, args.clients, batch)
            print(f"  {phases[f'batch_{size}']['claims_per_second']}/s", flush=True)
        result["phases"] = phases
    finally:
        web.terminate()
        web.wait(timeout=30)
    label = f"-{args.label}" if args.label else ""
    write_json(f"ingest{label}.json", result)
    write_text(f"ingest{label}.md", report(result))
    print(report(result))


def report(result: dict) -> str:
    rows = []
    for name, phase in result.get("phases", {}).items():
        request = next(iter(phase["requests"].values()), {})
        rows.append(
            [
                name,
                phase["claims"],
                phase["claims_per_second"],
                phase["web_cpu_ms_per_claim"],
                phase["db_cpu_ms_per_claim"],
                phase["two_core_ceiling_claims_per_second"],
                f"{request.get('p50')} / {request.get('p95')}",
                f"{phase['load_before'][0]} → {phase['load_after'][0]}",
                sum(phase["errors"].values()),
            ]
        )
    header = [
        "phase",
        "claims",
        "claims/s",
        "web CPU ms/claim",
        "db CPU ms/claim",
        "2-core ceiling/s",
        "first request p50 / p95 ms",
        "load (1 min)",
        "errors",
    ]
    return f"# Ingestion ({result['stack']})\n\n" + md_table(header, rows) + "\n"


if __name__ == "__main__":
    main()
