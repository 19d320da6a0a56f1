"""Faults that used to lose data (issue 9), on real processes: a worker child killed by
the file it checks, and a broker that is down while the platform uploads evidence.

The broker outage runs gunicorn against a private redis-server on its own port (never
the machine's Redis), which the test keeps down and then starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from bench.api_integration import multipart
from bench.private_services import RedisServer, free_port
from tests.integration.test_worker import ROOT, Worker, _database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _live_children(pid: int) -> list[int]:
    """The worker's pool processes (any thread may have forked them), zombies left out."""
    children: set[int] = set()
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        children.update(int(child) for child in path.read_text().split())
    live = []
    for child in children:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            live.append(child)
    return live


@pytest.fixture
def prefork_worker(worker_queue):
    """A prefork worker with one child: a child that dies is replaced, and its task is
    delivered again (acks_late, reject_on_worker_lost)."""
    process = Worker(worker_queue, pool="prefork")
    yield process
    process.stop()


@pytest.fixture
def worker_queue():
    import uuid

    from config.celery import app as celery_app

    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = (celery_app.conf.task_default_queue, celery_app.conf.task_always_eager)
    celery_app.conf.task_default_queue = queue
    celery_app.conf.task_always_eager = False
    yield queue
    celery_app.conf.task_default_queue, celery_app.conf.task_always_eager = previous


def test_a_check_that_kills_its_worker_child_is_given_up_at_the_cap(
    prefork_worker, shop_a, make_order, photo_bytes
):
    """The file's check never finishes: each time it starts, its worker child is
    SIGKILLed (what a decoder crash or the OOM killer does). The message comes back each
    time; after MAX_CHECK_ATTEMPTS the next delivery fails the file with a clear message
    and the claim moves on, instead of the file being delivered forever."""
    from evidence.models import EvidenceFile
    from evidence.pipeline import MAX_CHECK_ATTEMPTS
    from evidence.services import evidence_add
    from refunds.audit import Actor
    from refunds.models import RefundClaim
    from refunds.services import claim_submit

    # given: a photo whose reading blocks (its original replaced by a FIFO nobody
    # writes), so the check is caught mid-way every time
    claim = claim_submit(
        order=make_order(shop_a), amount=Decimal("20"), reason="damaged", actor=Actor.platform("t")
    )
    evidence = evidence_add(upload=photo_bytes(11), submitted_by="buyer", claim=claim)
    original = Path(evidence.original.path)
    original.unlink()
    os.mkfifo(original)
    prefork_worker.start()

    def file_state():
        return EvidenceFile.objects.values_list("status", "check_attempts").get(pk=evidence.pk)

    try:
        # when: every started attempt is killed
        for attempt in range(1, MAX_CHECK_ATTEMPTS + 1):
            wait_for(lambda a=attempt: file_state() == ("checking", a), prefork_worker)
            children = wait_for(lambda: _live_children(prefork_worker.process.pid), prefork_worker)
            for child in children:
                os.kill(child, signal.SIGKILL)

        # then: the next delivery gives up instead of checking a fourth time
        wait_for(
            lambda: file_state()[0] == "failed" or file_state()[1] > MAX_CHECK_ATTEMPTS,
            prefork_worker,
        )
        assert file_state() == ("failed", MAX_CHECK_ATTEMPTS)
        evidence.refresh_from_db()
        assert evidence.rejection_code == "checks_gave_up"
        assert str(original) not in evidence.rejection_message
        wait_for(
            lambda: RefundClaim.objects.get(pk=claim.pk).status == "awaiting_merchant",
            prefork_worker,
        )
    finally:
        _release_fifo(original)


def _release_fifo(path: Path) -> None:
    """Unblock a reader still waiting on the FIFO (it reads an empty file), remove it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader left
    path.unlink(missing_ok=True)


# --- the broker is down while the platform uploads ---------------------------------------


class Gunicorn:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = env
        self.log = ROOT / "var" / f"gunicorn-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _call(base: str, token: str, method: str, path: str, *, body=None, files=None):
    headers = {"Authorization": f"Token {token}", "Accept-Language": "en"}
    data = None
    if files is not None:
        data, headers["Content-Type"] = multipart({"submitted_by": "buyer"}, files)
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        base + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.mark.redis
def test_uploads_while_the_broker_is_down_are_kept_and_checked_once_it_is_back(
    tmp_path, shop_a, make_order, photo_bytes
):
    from evidence.models import EvidenceFile
    from merchants.services import platform_client_create
    from refunds.models import RefundClaim, WebhookDelivery
    from refunds.services import webhook_endpoint_create

    # given: the broker's port, with nothing listening on it
    redis = RedisServer(free_port(), tmp_path / "redis")
    env = {
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": redis.url(0),
        "CACHE_URL": "locmemcache://",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CHECK_STUCK_MINUTES": "0",
        "DEBUG": "0",
    }
    client, token = platform_client_create(name="platform-a", merchants=[shop_a])
    webhook_endpoint_create(client=client, url="https://platform.example/claimlens")
    order = make_order(shop_a)
    server = Gunicorn(env)
    server.start()
    worker = Worker("celery", env=env)
    try:
        wait_for(lambda: _ready(server.base), server)

        # when: the platform submits a claim and the buyer's photo
        status, claim = _call(
            server.base,
            token,
            "POST",
            "/api/v1/claims/",
            body={"order": order.pk, "amount": "20.00", "reason": "damaged"},
        )
        assert status == 201, claim
        photo = photo_bytes(21)
        status, upload = _call(
            server.base,
            token,
            "POST",
            f"/api/v1/claims/{claim['id']}/evidence/",
            files=[("file", "photo.jpg", photo, "image/jpeg")],
        )

        # then: both are accepted and kept, the file waiting for its checks
        assert status == 201, upload
        evidence = EvidenceFile.objects.get(pk=upload["files"][0]["id"])
        assert evidence.status == "pending"
        with evidence.original.open("rb") as handle:
            assert handle.read() == photo
        assert RefundClaim.objects.get(pk=claim["id"]).status == "received"
        # the claim.received webhook waits in its outbox row for the sweep
        assert WebhookDelivery.objects.get(event_type="claim.received").status == "pending"

        # and when the broker is back, the reconciler sends what the outage held back
        redis.start()
        worker.start()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "call",
                "evidence.tasks.reconcile_checks_task",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(lambda: EvidenceFile.objects.get(pk=evidence.pk).status == "checked", worker)
        wait_for(
            lambda: RefundClaim.objects.get(pk=claim["id"]).status == "awaiting_merchant", worker
        )
    finally:
        worker.stop()
        server.stop()
        redis.stop()


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/api/schema/", timeout=5):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
