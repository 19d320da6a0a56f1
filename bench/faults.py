"""Fault suite: the production stack on this machine, hurt on purpose, checked for loss.

    make bench-faults        # or: .venv/bin/python bench/faults.py [--claims 16]

Everything it starts is private and on loopback: a throw-away PostgreSQL cluster
(``initdb`` in a temporary directory, its own port, database ``claimlens_faults``), a
redis-server without persistence on its own port (never the machine's 6379), gunicorn
serving ``config.wsgi`` and a prefork Celery worker (2 children), media in
``var/bench-faults``. The bench process itself plays Celery beat: every few seconds it
runs the evidence reconciler and the deadline/webhook sweep (production: every 120 s and
60 s), with ``CHECK_STUCK_MINUTES=1`` (production: 10).

Scenarios, each on its own batch of claims, each claim one order, one claim and one
buyer photo pushed through the public API (clients retry on 503, 409 in progress and
refused connections, with the same ``Idempotency-Key``):

1. worker SIGKILL mid-batch (the whole process group, twice), then restarted;
2. broker restart without persistence while the queue is full (every message lost);
3. broker down during the uploads, back afterwards;
4. database down (crash stop) during the API calls, back after a few seconds;
5. webhook receiver (an HTTP server on 127.0.0.1) down while events are sent, then up.

For each: the kills/restarts, claims and files accepted, how many ended stuck (claim not
routed / file not checked by the deadline), lost (accepted but missing, or a file whose
check was given up), duplicated (one platform id twice, one file twice on a claim, a
claim routed twice, a webhook delivered twice); all must be 0. The time to recover runs
from the end of the fault to the last claim routed (or webhook delivered).

Results: ``bench/out/faults.json`` and ``bench/out/faults.md``; docs/reliability.md
quotes them. Every wait is bounded; the script stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_integration import multipart  # noqa: E402
from bench.common import ROOT, machine, md_table, write_json, write_text  # noqa: E402
from bench.private_services import PostgresCluster, Receiver, RedisServer, free_port  # noqa: E402

VAR_DIR = ROOT / "var" / "bench-faults"
DATABASE = "claimlens_faults"
SETTLE_TIMEOUT = 300.0  # seconds a scenario may take to recover before it counts as stuck
SWEEP_SECONDS = 5.0
RECONCILE_SECONDS = 10.0


# --- the stack ------------------------------------------------------------------------------


class Stack:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="claimlens-faults-"))
        os.chmod(self.tmp, 0o755)  # noqa: S103 - the postgres user must reach its cluster
        self.postgres = PostgresCluster(free_port(), self.tmp / "pg")
        self.redis = RedisServer(free_port(), self.tmp / "redis")
        self.web_port = free_port()
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.postgres.url(DATABASE),
            "CELERY_BROKER_URL": self.redis.url(0),
            "CACHE_URL": "locmemcache://",
            "CLAIMLENS_VAR_DIR": str(VAR_DIR),
            "MEDIA_ROOT": str(VAR_DIR / "media"),
            "DEBUG": "0",
            "API_RATE": "1000000/min",
            "CHECK_STUCK_MINUTES": "1",
            "API_IDEMPOTENCY_LEASE_SECONDS": "5",
            "RETRY_AFTER_SECONDS": "1",
            "CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
        }

    def up(self) -> None:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        self.postgres.init()
        self.postgres.start()
        import psycopg

        with psycopg.connect(self.postgres.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.redis.start()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input"],
            cwd=ROOT,
            env=self.env(),
            check=True,
            capture_output=True,
            timeout=600,
        )
        self.web = self._spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--timeout",
                "120",
            ],
            "gunicorn.log",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if http_call(self.base, "", "GET", "/api/v1/claims/")[0] == 401:
                break
            time.sleep(0.3)
        else:
            raise SystemExit(f"gunicorn did not come up: see {VAR_DIR / 'gunicorn.log'}")
        self.start_worker()

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen:
        handle = open(VAR_DIR / log, "a")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes the children too
        )

    def start_worker(self) -> None:
        self.worker = self._spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
                f"--hostname=faults-{uuid.uuid4().hex[:6]}@%h",
            ],
            "worker.log",
        )

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool children at once (a machine losing power)."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=30)

    def stop_worker(self) -> None:
        """Warm shutdown: the main process lets its children finish their tasks."""
        if self.worker is not None and self.worker.poll() is None:
            os.kill(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill_worker()

    def down(self) -> None:
        self.stop_worker()
        if self.web is not None and self.web.poll() is None:
            os.killpg(self.web.pid, signal.SIGTERM)
            try:
                self.web.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.web.pid, signal.SIGKILL)
        self.redis.stop()
        try:
            self.postgres.remove()
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"could not remove the private PostgreSQL cluster: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- the client -----------------------------------------------------------------------------


def http_call(base: str, token: str, method: str, path: str, *, body=None, files=None, key=None):
    """(status, headers, parsed body); status 0 when the connection failed."""
    headers = {"Accept-Language": "en"}
    if token:
        headers["Authorization"] = f"Token {token}"
    if key:
        headers["Idempotency-Key"] = key
    data = None
    if files is not None:
        data, headers["Content-Type"] = multipart({"submitted_by": "buyer"}, files)
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        base + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            raw, status, head = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, head = exc.read(), exc.code, dict(exc.headers)
    except OSError:
        return 0, {}, None
    try:
        return status, head, json.loads(raw) if raw else None
    except ValueError:
        return status, head, raw.decode(errors="replace")


def db_retry(read, attempts: int = 60):
    """``read()`` from the database, waiting for it to come back (bounded)."""
    from django.db import DatabaseError, connection

    for _attempt in range(attempts - 1):
        try:
            return read()
        except DatabaseError:
            connection.close()
            time.sleep(1.0)
    return read()


class Tally:
    """Every API answer of a scenario, by status (and 409 code)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def add(self, status: int, body) -> None:
        name = str(status)
        if status == 409 and isinstance(body, dict):
            name = f"409 {body.get('code')}"
        with self.lock:
            self.counts[name] += 1


RETRYABLE = {0, 429, 500, 502, 503}


def call_until_answered(base, token, tally, method, path, *, key, deadline, **kwargs):
    """Retry one request with the same Idempotency-Key until it gets a final answer."""
    while True:
        status, headers, body = http_call(base, token, method, path, key=key, **kwargs)
        tally.add(status, body)
        in_progress = status == 409 and (body or {}).get("code") == "idempotency_in_progress"
        if (status not in RETRYABLE and not in_progress) or time.monotonic() > deadline:
            return status, body
        wait = float(headers.get("Retry-After") or 1)
        time.sleep(min(max(wait, 0.2), 2.0))


def photo(seed: int) -> bytes:
    """A small plausible photo, different for each seed."""
    import numpy as np

    from testing import synthetic

    rng = np.random.default_rng(seed)
    image = synthetic.render_other_shot(seed % 7, seed, size=(800, 600)).image
    noisy = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    return synthetic.encode_jpeg(noisy, quality=88, exif=True)


class Batch:
    """The claims of one scenario: orders made directly, claims and photos via the API."""

    def __init__(self, name: str, size: int, merchant, token: str) -> None:
        import datetime as dt

        from django.utils import timezone

        from refunds.services import ItemInput, buyer_upsert, order_create

        self.name = name
        self.token = token
        self.run = uuid.uuid4().hex[:8]
        self.tally = Tally()
        buyer = buyer_upsert(platform_id=f"buyer-{self.run}", display_name="Faults")
        paid = timezone.now() - dt.timedelta(days=4)
        self.orders = [
            order_create(
                merchant=merchant,
                buyer=buyer,
                platform_id=f"order-{self.run}-{i}",
                items=[ItemInput(title="mug", unit_price=Decimal("80.00"))],
                paid_at=paid,
                shipped_at=paid + dt.timedelta(days=1),
                delivered_at=paid + dt.timedelta(days=2),
            )
            for i in range(size)
        ]
        first_seed = int(self.run[:4], 16)
        self.photos = [photo(first_seed + i) for i in range(size)]
        self.accepted_claims: dict[str, int] = {}  # platform id -> claim id
        self.accepted_files: dict[str, int] = {}  # platform id -> file id
        self.unanswered = 0
        self.lock = threading.Lock()

    def platform_id(self, index: int) -> str:
        return f"claim-{self.run}-{index}"

    def submit(self, base: str, index: int, *, deadline: float) -> None:
        from refunds.models import RefundClaim

        pid = self.platform_id(index)
        status, body = call_until_answered(
            base,
            self.token,
            self.tally,
            "POST",
            "/api/v1/claims/",
            key=f"{pid}-claim",
            deadline=deadline,
            body={
                "order": self.orders[index].pk,
                "amount": "50.00",
                "reason": "damaged",
                "platform_id": pid,
            },
        )
        if status == 201:
            claim_id = body["id"]
        elif status == 409 and body.get("code") == "already_exists":
            # Done before, its answer lost (the key's lease was taken over): look it up.
            merchant_id = self.orders[0].merchant_id
            claim_id = db_retry(
                lambda: RefundClaim.objects.get(platform_id=pid, merchant_id=merchant_id).pk
            )
        else:
            with self.lock:
                self.unanswered += 1
            return
        with self.lock:
            self.accepted_claims[pid] = claim_id
        status, body = call_until_answered(
            base,
            self.token,
            self.tally,
            "POST",
            f"/api/v1/claims/{claim_id}/evidence/",
            key=f"{pid}-photo",
            deadline=deadline,
            files=[("file", "photo.jpg", self.photos[index], "image/jpeg")],
        )
        if status == 201:
            with self.lock:
                self.accepted_files[pid] = body["files"][0]["id"]
        elif status == 409 and body.get("code") == "duplicate_file":
            from evidence.models import EvidenceFile

            file_id = db_retry(lambda: EvidenceFile.objects.get(claim_id=claim_id).pk)
            with self.lock:
                self.accepted_files[pid] = file_id
        else:
            with self.lock:
                self.unanswered += 1

    def submit_all(self, base: str, *, threads: int = 4, on_progress=None) -> None:
        from django.db import connection

        indexes = list(range(len(self.orders)))
        lock = threading.Lock()
        deadline = time.monotonic() + SETTLE_TIMEOUT

        def run() -> None:
            try:
                while True:
                    with lock:
                        if not indexes:
                            return
                        index = indexes.pop(0)
                    self.submit(base, index, deadline=deadline)
                    if on_progress is not None:
                        on_progress(self)
            finally:
                connection.close()

        workers = [threading.Thread(target=run) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

    # --- what became of it ------------------------------------------------------------

    def settled_counts(self) -> tuple[int, int]:
        """(claims routed, files checked) of the accepted ones."""
        from evidence.models import EvidenceFile
        from refunds.models import RefundClaim

        routed = (
            RefundClaim.objects.filter(pk__in=self.accepted_claims.values())
            .exclude(status__in=("received", "checking"))
            .count()
        )
        checked = EvidenceFile.objects.filter(
            pk__in=self.accepted_files.values(), status="checked"
        ).count()
        return routed, checked

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT) -> float | None:
        """Seconds until every accepted claim is routed and file checked (None: never)."""
        from django.db import DatabaseError, connection

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                routed, checked = self.settled_counts()
                if routed == len(self.accepted_claims) and checked == len(self.accepted_files):
                    return round(time.monotonic() - started, 1)
            except DatabaseError:
                connection.close()
            time.sleep(1.0)
        return None

    def report(self, **extra) -> dict:
        from django.db.models import Count

        from evidence.models import EvidenceFile
        from refunds.models import AuditEvent, RefundClaim

        claims = RefundClaim.objects.filter(platform_id__startswith=f"claim-{self.run}-")
        files = EvidenceFile.objects.filter(claim__in=claims)
        found_claims = set(claims.values_list("pk", flat=True))
        found_files = {
            pk: (status, name) for pk, status, name in files.values_list("pk", "status", "original")
        }
        storage = EvidenceFile._meta.get_field("original").storage
        missing_claims = [pk for pk in self.accepted_claims.values() if pk not in found_claims]
        missing_files = [pk for pk in self.accepted_files.values() if pk not in found_files]
        failed_files = [
            pk for pk in self.accepted_files.values() if found_files.get(pk, ("",))[0] == "failed"
        ]
        missing_originals = [
            pk
            for pk in self.accepted_files.values()
            if pk in found_files and not storage.exists(found_files[pk][1])
        ]
        lost = len(missing_claims) + len(missing_files) + len(failed_files)
        lost += len(missing_originals)
        lost_detail = {
            "claims_missing": missing_claims,
            "files_missing": missing_files,
            "files_failed": failed_files,
            "originals_missing": missing_originals,
            "files_by_status": dict(Counter(status for status, _name in found_files.values())),
        }
        stuck = claims.filter(status__in=("received", "checking")).count()
        stuck += files.filter(status__in=("pending", "checking")).count()
        duplicated = (
            claims.order_by().values("platform_id").annotate(n=Count("pk")).filter(n__gt=1).count()
            + files.order_by()
            .values("claim_id", "sha256")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
            + AuditEvent.objects.filter(claim__in=claims, action="checks_completed")
            .order_by()
            .values("claim_id")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
        return {
            "scenario": self.name,
            "claims": len(self.accepted_claims),
            "files": len(self.accepted_files),
            "unanswered": self.unanswered,
            "stuck": stuck,
            "lost": lost,
            "duplicated": duplicated + extra.pop("duplicated_extra", 0),
            "http": dict(sorted(self.tally.counts.items())),
            "http_500": self.tally.counts.get("500", 0),
            "detail": lost_detail,
            **extra,
        }


# --- the beat stand-in ------------------------------------------------------------------------


class Sweeper(threading.Thread):
    """What Celery beat does in production, more often: the evidence reconciler and the
    deadline/webhook sweep, each surviving a database or broker outage."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.runs: Counter[str] = Counter()

    def run(self) -> None:
        from django.db import connection

        from evidence.tasks import reconcile_checks_task
        from refunds.tasks import enforce_deadlines_task

        last_reconcile = 0.0
        while not self.stopping.wait(SWEEP_SECONDS):
            try:
                enforce_deadlines_task.apply(throw=True)
                self.runs["sweep"] += 1
                if time.monotonic() - last_reconcile >= RECONCILE_SECONDS:
                    reconcile_checks_task.apply(throw=True)
                    self.runs["reconcile"] += 1
                    last_reconcile = time.monotonic()
            except Exception:  # noqa: BLE001 - an outage: try again at the next tick
                self.runs["failed"] += 1
                connection.close()
        connection.close()


# --- scenarios ------------------------------------------------------------------------------


def wait_checked(batch: Batch, at_least: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and batch.settled_counts()[1] < at_least:
        time.sleep(0.3)


def scenario_worker_kill(stack: Stack, batch: Batch) -> dict:
    stack.stop_worker()  # the whole batch waits in the queue, so the kill is mid-batch
    batch.submit_all(stack.base)
    stack.start_worker()
    kills = 0
    for fraction in (4, 2):
        wait_checked(batch, len(batch.orders) // fraction)
        stack.kill_worker()
        kills += 1
        time.sleep(1)
        stack.start_worker()
    recover = batch.wait_settled()
    return batch.report(kills=kills, restarts=kills, recover_seconds=recover)


def scenario_broker_restart(stack: Stack, batch: Batch) -> dict:
    stack.stop_worker()
    batch.submit_all(stack.base)
    stack.start_worker()
    wait_checked(batch, len(batch.orders) // 4)
    stack.redis.restart()  # no persistence: every queued and unacknowledged message is gone
    recover = batch.wait_settled()
    return batch.report(kills=0, restarts=1, recover_seconds=recover)


def scenario_broker_down_during_uploads(stack: Stack, batch: Batch) -> dict:
    stack.redis.stop()
    down = time.monotonic()
    batch.submit_all(stack.base)
    outage = round(time.monotonic() - down, 1)
    stack.redis.start()
    recover = batch.wait_settled()
    return batch.report(kills=0, restarts=1, outage_seconds=outage, recover_seconds=recover)


def scenario_database_down(stack: Stack, batch: Batch) -> dict:
    """The cluster crashes (immediate stop) once a quarter of the claims are in, and
    comes back 8 s later while the clients keep retrying."""
    from django.db import connections

    state = {"stopped": False, "up_at": None}
    lock = threading.Lock()

    def outage(current: Batch) -> None:
        with lock:
            if state["stopped"] or len(current.accepted_claims) < len(current.orders) // 4:
                return
            state["stopped"] = True
        stack.postgres.stop("immediate")
        time.sleep(8)
        stack.postgres.start()
        state["up_at"] = time.monotonic()

    batch.submit_all(stack.base, on_progress=outage)
    connections.close_all()
    settled = batch.wait_settled()
    recover = None
    if settled is not None and state["up_at"] is not None:
        recover = round(time.monotonic() - state["up_at"], 1)
    return batch.report(kills=1, restarts=1, outage_seconds=8, recover_seconds=recover)


def scenario_webhook_receiver(stack: Stack, batch: Batch, client) -> dict:
    from refunds.models import WebhookDelivery
    from refunds.services import webhook_endpoint_create

    receiver = Receiver(free_port())
    endpoint, _secret = webhook_endpoint_create(
        client=client, url=f"http://127.0.0.1:{receiver.port}/claimlens"
    )
    down = time.monotonic()
    batch.submit_all(stack.base)
    batch.wait_settled()  # every event of the batch has been sent to the dead receiver
    time.sleep(max(0.0, 20 - (time.monotonic() - down)))
    outage = round(time.monotonic() - down, 1)
    receiver.start()
    up = time.monotonic()
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    recover = None
    while time.monotonic() - up < SETTLE_TIMEOUT:
        if not deliveries.filter(status=WebhookDelivery.Status.PENDING).exists():
            recover = round(time.monotonic() - up, 1)
            break
        time.sleep(1.0)
    time.sleep(2 * SWEEP_SECONDS)  # anything sent twice arrives meanwhile
    receiver.stop()
    ids = {str(pk) for pk in deliveries.values_list("pk", flat=True)}
    report = batch.report(
        kills=0,
        restarts=1,
        outage_seconds=outage,
        recover_seconds=recover,
        webhooks=len(ids),
        webhooks_delivered=deliveries.filter(status=WebhookDelivery.Status.DELIVERED).count(),
        webhook_attempts_max=max(deliveries.values_list("attempts", flat=True), default=0),
        duplicated_extra=sum(1 for pk in ids if receiver.received[pk] > 1),
    )
    report["stuck"] += deliveries.filter(status=WebhookDelivery.Status.PENDING).count()
    report["lost"] += sum(1 for pk in ids if receiver.received[pk] == 0)
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active"])
    return report


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=16, help="claims per scenario")
    parser.add_argument(
        "--only", action="append", default=[], help="run the scenarios whose name contains this"
    )
    args = parser.parse_args()
    facts = machine()
    stack = Stack()
    os.environ.update(stack.env())
    results: list[dict] = []
    sweeper: Sweeper | None = None
    started = time.monotonic()
    try:
        print(f"stack: PostgreSQL :{stack.postgres.port}, Redis :{stack.redis.port}", flush=True)
        stack.up()
        import django

        django.setup()
        from merchants.models import Merchant
        from merchants.services import platform_client_create

        merchant = Merchant.objects.create(platform_id="faults-shop", name="Faults shop")
        client, token = platform_client_create(name="faults", merchants=[merchant])
        sweeper = Sweeper()
        sweeper.start()
        scenarios = [
            ("worker SIGKILL mid-batch", scenario_worker_kill),
            ("broker restart without persistence", scenario_broker_restart),
            ("broker down during uploads", scenario_broker_down_during_uploads),
            ("database down during API calls", scenario_database_down),
            ("webhook receiver down, then up", None),
        ]
        for name, run in scenarios:
            if args.only and not any(part in name for part in args.only):
                continue
            print(f"-> {name}", flush=True)
            batch = Batch(name, args.claims, merchant, token)
            t0 = time.monotonic()
            if run is None:
                result = scenario_webhook_receiver(stack, batch, client)
            else:
                result = run(stack, batch)
            result["seconds"] = round(time.monotonic() - t0, 1)
            print("   " + json.dumps({k: v for k, v in result.items() if k != "http"}), flush=True)
            results.append(result)
        facts["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        facts["nproc"] = os.cpu_count()
        facts["sweeper"] = dict(sweeper.runs)
    finally:
        if sweeper is not None:
            sweeper.stopping.set()
            sweeper.join(timeout=30)
        stack.down()
    total = round(time.monotonic() - started, 1)
    write_json("faults.json", {"machine": facts, "seconds": total, "scenarios": results})
    header = [
        "scenario",
        "kills",
        "restarts",
        "claims",
        "files",
        "stuck",
        "lost",
        "duplicated",
        "HTTP 500",
        "recover (s)",
    ]
    rows = [
        [
            r["scenario"],
            r["kills"],
            r["restarts"],
            r["claims"],
            r["files"],
            r["stuck"],
            r["lost"],
            r["duplicated"],
            r["http_500"],
            r["recover_seconds"] if r["recover_seconds"] is not None else "never",
        ]
        for r in results
    ]
    answers = "\n".join(f"- {r['scenario']}: {r['http']}" for r in results)
    text = (
        f"# Fault suite ({facts['when']})\n\n"
        f"nproc {facts['nproc']}, load average {facts['load_average_at_start']} at the start, "
        f"{facts['load_average_at_end']} at the end; {total} s in all.\n\n"
        + md_table(header, rows)
        + "\nAPI answers (every attempt, retries included):\n\n"
        + answers
        + "\n"
    )
    write_text("faults.md", text)
    print(text)
    bad = [r["scenario"] for r in results if r["stuck"] or r["lost"] or r["duplicated"]]
    bad += [r["scenario"] for r in results if r["http_500"] or r["unanswered"]]
    if bad:
        raise SystemExit(f"faults lost, stuck or duplicated work in: {sorted(set(bad))}")


if __name__ == "__main__":
    main()
