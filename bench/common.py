"""Shared plumbing of the benchmarks: Django set-up, one-core pinning, a throw-away stack,
machine facts, stats.

The benchmarks are run as scripts (``python bench/quality.py``), so this module also puts
the project root on ``sys.path`` before anything imports Django or the project's apps.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PINNED_ENV = "CLAIMLENS_BENCH_PINNED"
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pin_to_one_core(cpu: int | None = None) -> int | None:
    """Re-exec the script under ``taskset -c <cpu>`` with every BLAS pool at one thread.

    Must be called before numpy or cv2 is imported (their thread pools read the
    environment once). Returns the CPU the process is pinned to (None when pinning is
    impossible on this platform).
    """
    if os.environ.get(PINNED_ENV):
        cpu = int(os.environ[PINNED_ENV])
    else:
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if not available:
            return None
        cpu = available[-1] if cpu is None else cpu
        env = dict(os.environ, **{name: "1" for name in THREAD_ENV}, **{PINNED_ENV: str(cpu)})
        if shutil.which("taskset"):
            os.execvpe(  # noqa: S606 - re-run this very script pinned to one CPU
                "taskset",
                ["taskset", "-c", str(cpu), sys.executable, *sys.argv],
                env,
            )
        os.environ.update(env)
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    return cpu


def django_setup(database_url: str | None = None) -> None:
    """``django.setup()`` on config.settings; ``database_url`` overrides DATABASE_URL."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


class Stack:
    """A throw-away PostgreSQL database (+ Redis broker and cache databases) a benchmark
    runs the product against in subprocesses (gunicorn, Celery, ``manage.py``)."""

    def __init__(self, *, database_url, broker_url, var_dir, cache_url=None, extra=None):
        self.database_url = database_url
        self.broker_url = broker_url
        self.cache_url = cache_url
        self.var_dir = Path(var_dir)
        self.extra = dict(extra or {})

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CACHE_URL": self.cache_url or "locmemcache://",
            "CLAIMLENS_VAR_DIR": str(self.var_dir),
            "DEBUG": "0",
            **self.extra,
        }

    def reset(self) -> None:
        """Drop and create the database; empty the broker's (and the cache's) Redis db."""
        import psycopg
        import redis

        server, name = self.database_url.rsplit("/", 1)
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(self.broker_url).flushdb()
        if self.cache_url:
            redis.Redis.from_url(self.cache_url.replace("rediscache://", "redis://")).flushdb()

    def manage(self, *args: str) -> str:
        """``manage.py`` against the stack; its standard output."""
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def machine() -> dict:
    """What the numbers were measured on."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    fields = {}
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in (
            "Architecture",
            "CPU(s)",
            "Model name",
            "Thread(s) per core",
            "Core(s) per socket",
            "Hypervisor vendor",
            "L2 cache",
            "L3 cache",
        ):
            fields[key.strip()] = value.strip()
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    import cv2
    import numpy as np
    import PIL

    return {
        "lscpu": fields,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "load_average_at_start": [round(v, 2) for v in load],
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cv2_threads": cv2.getNumThreads(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (0-100) of ``values``."""
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def summary_ms(values_s: list[float]) -> dict:
    """Median, p95, p99, mean, min, max in milliseconds of timings given in seconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "median": round(statistics.median(ms), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "mean": round(statistics.fmean(ms), 2),
        "min": round(min(ms), 2),
        "max": round(max(ms), 2),
    }


def write_json(name: str, payload: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def write_text(name: str, text: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(text)
    return path


def md_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
