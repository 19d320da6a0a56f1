"""A real Celery worker process consumes tasks from the real broker (the file-system
broker by default, Redis in CI's second run) and writes to the real test database."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
# Transactional: the worker process must see committed rows. pytest-django runs
# these after the other database tests; what they need of the seeded data (the
# default queue, scoring weights) is recreated on demand after a flush.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}"


class Worker:
    """A worker process on its own queue, so no other worker steals the test's tasks."""

    def __init__(self, queue: str, *, pool: str = "solo", env: dict[str, str] | None = None):
        self.queue = queue
        self.pool = pool
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self.log = ROOT / "var" / f"worker-{queue}.log"

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            **self.env,
        }
        self.log.parent.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={self.pool}",
                "--concurrency=1",
                "-Q",
                self.queue,
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                f"--hostname=test-{self.queue}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Beat:
    """A real ``celery beat`` sending the periodic tasks to one test worker's queue, with
    the schedule's intervals it is given (e.g. ``LEASE_SWEEP_SECONDS``)."""

    def __init__(self, queue: str, tmp_path: Path, env: dict[str, str]):
        self.queue, self.env = queue, env
        self.schedule = tmp_path / "celerybeat-schedule"
        self.log = ROOT / "var" / f"beat-{queue}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": self.queue, **self.env}
        self.log.parent.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                f"--schedule={self.schedule}",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    stop = Worker.stop
    output = Worker.output


@pytest.fixture
def worker():
    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = (celery_app.conf.task_default_queue, celery_app.conf.task_always_eager)
    celery_app.conf.task_default_queue = queue
    celery_app.conf.task_always_eager = False
    process = Worker(queue)
    process.start()
    yield process
    process.stop()
    celery_app.conf.task_default_queue, celery_app.conf.task_always_eager = previous


def wait_for(predicate, worker: Worker, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{worker.output()}")
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for the worker:\n{worker.output()}")


def _submit(shop, make_order, photo_bytes):
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.services import claim_submit

    order = make_order(shop)
    claim = claim_submit(
        order=order, amount=Decimal("20"), reason="damaged", actor=Actor.platform("test")
    )
    evidence = evidence_add(
        upload=photo_bytes(7), submitted_by="buyer", claim=claim, original_name="photo.jpg"
    )
    return claim, evidence


def test_worker_checks_evidence_and_moves_the_claim(worker, shop_a, make_order, photo_bytes):
    from evidence.models import CheckRun, EvidenceFile
    from refunds.models import RefundClaim

    claim, evidence = _submit(shop_a, make_order, photo_bytes)

    wait_for(lambda: RefundClaim.objects.get(pk=claim.pk).status == "awaiting_merchant", worker)
    evidence = EvidenceFile.objects.get(pk=evidence.pk)
    assert evidence.status == "checked" and evidence.display and evidence.phash is not None
    assert CheckRun.objects.filter(evidence=evidence, status="done").count() >= 5
    claim.refresh_from_db()
    assert claim.risk_score is not None and claim.merchant_deadline is not None
    assert list(claim.audit_events.values_list("action", flat=True))[-1] == "checks_completed"


def test_work_left_by_a_killed_worker_is_finished_by_the_reconciler(
    worker, shop_a, make_order, photo_bytes, settings
):
    """A worker killed mid-check leaves the file 'checking' and its message gone. The
    reconciler re-enqueues it and a live worker finishes it: nothing is lost."""
    from evidence.models import EvidenceFile
    from evidence.tasks import reconcile_checks_task
    from refunds.models import RefundClaim

    worker.stop()  # nobody consumes: the upload's message waits in the broker
    claim, evidence = _submit(shop_a, make_order, photo_bytes)
    # What a worker killed mid-check leaves behind: the file claimed, half-done, stale.
    EvidenceFile.objects.filter(pk=evidence.pk).update(
        status="checking",
        check_attempts=1,
        checking_since=evidence.created_at - dt.timedelta(hours=1),
    )
    settings.CLAIMLENS = {**settings.CLAIMLENS, "CHECK_STUCK_MINUTES": 10}

    result = reconcile_checks_task.apply().get()
    assert result == {"requeued": 1, "failed": 0, "claims": 0}
    worker.start()

    wait_for(lambda: EvidenceFile.objects.get(pk=evidence.pk).status == "checked", worker)
    wait_for(lambda: RefundClaim.objects.get(pk=claim.pk).status == "awaiting_merchant", worker)
    assert EvidenceFile.objects.get(pk=evidence.pk).findings.filter(code="check_error").count() == 0


def _redis_port() -> int:
    from urllib.parse import urlparse

    return urlparse(os.environ["CELERY_BROKER_URL"]).port or 6379


def _redis_config(port: str, name: str) -> str:
    answer = subprocess.run(
        ["redis-cli", "-p", port, "config", "get", name],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout.splitlines()
    return answer[1] if len(answer) > 1 else ""


def _restart_redis() -> None:
    """Shut the broker's Redis down, losing everything, and start it again with the
    settings it ran with (a private Redis with more databases keeps them)."""
    port = str(_redis_port())
    kept = {name: _redis_config(port, name) for name in ("databases", "dir", "logfile", "bind")}
    subprocess.run(
        ["redis-cli", "-p", port, "shutdown", "nosave"],
        check=False,
        capture_output=True,
        timeout=20,
    )
    time.sleep(1)
    command = ["redis-server", "--daemonize", "yes", "--port", port, "--save", ""]
    command += ["--appendonly", "no", "--databases", kept["databases"] or "16"]
    command += ["--bind", *(kept["bind"] or "127.0.0.1").split()]
    command += ["--dir", kept["dir"] or "/var/lib/redis"]
    if kept["logfile"]:
        command += ["--logfile", kept["logfile"]]
    subprocess.run(command, check=True, timeout=20)
    for _ in range(50):
        if (
            subprocess.run(
                ["redis-cli", "-p", port, "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        ):
            return
        time.sleep(0.2)
    raise AssertionError("Redis did not come back")


@pytest.mark.redis
def test_worker_survives_a_redis_restart(worker, shop_a, make_order, photo_bytes):
    """Redis restarts (losing everything: it keeps nothing on disk); the worker reconnects,
    the reconciler re-enqueues what was lost, and new work flows again."""
    from evidence.models import EvidenceFile
    from evidence.tasks import reconcile_checks_task
    from refunds.models import RefundClaim

    first, _ = _submit(shop_a, make_order, photo_bytes)
    wait_for(lambda: RefundClaim.objects.get(pk=first.pk).status == "awaiting_merchant", worker)

    _restart_redis()

    second, evidence = _submit(shop_a, make_order, photo_bytes)
    wait_for(
        lambda: RefundClaim.objects.get(pk=second.pk).status == "awaiting_merchant",
        worker,
        timeout=120,
    )
    assert EvidenceFile.objects.get(pk=evidence.pk).status == "checked"
    assert reconcile_checks_task.apply().get() == {"requeued": 0, "failed": 0, "claims": 0}
