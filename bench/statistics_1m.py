"""The statistics page at 1M claims, from the daily rollups (docs/statistics.md; issue 13:
"statistics for any range ≤ 150 ms at 1M claims").

On a copy of the 1M-claim benchmark database (``make bench-scale`` seeds
``claimlens_scale_1m``; this never writes into it): ``CREATE DATABASE claimlens_stats_1m
TEMPLATE claimlens_scale_1m`` when the copy does not exist (only while nobody is
connected to the template), ``migrate``, then

* ``rebuild_rollups`` timed (wall and this process' CPU), and the rollup tables' sizes;
* the incremental refresh after the ``--touch`` newest claims were updated (the beat's
  work);
* the page for the last 7, 90 and 365 days, all shops and the large shop, with Django's
  test client (DEBUG off, no HTTP server: the view, its queries and the template),
  ``--repeat`` times serially (wall p50/p95 and CPU per request) and from ``--clients``
  threads at once; the query count of each page and the CSV export once.

``--drop`` drops the copy at the end. Results: ``bench/out/statistics.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, summary_ms, write_json, write_text  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/claimlens_stats_1m"
TEMPLATE = "claimlens_scale_1m"
REVIEWER = "bench-stats-reviewer"
RANGES = (7, 90, 365)


def _admin(url: str):
    import psycopg

    return psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True)


def copy_database(url: str, template: str) -> bool:
    """Create the copy from the template unless it exists; True when created."""
    name = urlsplit(url).path.lstrip("/")
    with _admin(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [template]
        ).fetchone()[0]
        if busy:
            raise SystemExit(f"{template} has {busy} connections: not copying it now")
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return True


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("AUDIT_CHECKPOINT_EVERY", "0")
    import django

    django.setup()


def _reviewer():
    """A reviewer working for the platform that holds the most claims (the seeded one)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models import Count

    from merchants.models import Platform
    from merchants.services import platform_staff_assign

    user, _created = get_user_model().objects.get_or_create(username=REVIEWER)
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    platform = Platform.objects.annotate(n=Count("merchants__claims")).order_by("-n").first()
    platform_staff_assign(user=user, platform=platform)
    return user


def _timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def table_sizes() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables"
            " WHERE relname LIKE 'reporting_%%' ORDER BY relname"
        )
        return {name: {"rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()}


def refresh_after_touching(count: int) -> dict:
    """The beat's refresh after the ``count`` newest claims were updated (a day's
    activity touches mostly recent claims), after a first refresh that settles the
    watermark."""
    from django.db import connection
    from django.utils import timezone

    from reporting.services import rollups_refresh

    rollups_refresh()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE refunds_refundclaim SET updated_at = %s WHERE id IN"
            " (SELECT id FROM refunds_refundclaim ORDER BY created_at DESC LIMIT %s)",
            [timezone.now(), count],
        )
    touched, wall, cpu = _timed(rollups_refresh)
    return {
        "touched_claims": count,
        "days_recomputed": touched.days,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
    }


def measure_pages(repeat: int, clients: int) -> dict:
    from django.db import connection, connections
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from refunds.models import RefundClaim

    user = _reviewer()
    # The large shop: the one with most claims.
    big_shop = (
        RefundClaim.objects.values("merchant_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("merchant_id", flat=True)
        .first()
    )
    today = timezone.localdate()
    pages = []
    for days in RANGES:
        start = (today - dt.timedelta(days=days - 1)).isoformat()
        pages.append((f"{days} days, all shops", f"/review/stats/?start={start}&end={today}"))
        pages.append(
            (
                f"{days} days, one shop",
                f"/review/stats/?start={start}&end={today}&merchant={big_shop}",
            )
        )
    pages.append(
        (
            "CSV 365 days",
            f"/review/stats/export.csv?start={today - dt.timedelta(days=364)}&end={today}",
        )
    )

    def get(client, url) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        return time.perf_counter() - wall, time.process_time() - cpu

    results = {}
    for name, url in pages:
        client = Client()
        client.force_login(user)
        get(client, url)  # warm-up
        sql_times: list[float] = []

        def timed_sql(execute, sql, params, many, context, sql_times=sql_times):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                sql_times.append(time.perf_counter() - started)

        with connection.execute_wrapper(timed_sql):
            get(client, url)
        serial = [get(client, url) for _ in range(repeat)]
        concurrent: list[float] = []
        lock = threading.Lock()

        def worker(url=url, concurrent=concurrent, lock=lock):
            own = Client()
            own.force_login(user)
            times = [get(own, url)[0] for _ in range(repeat)]
            with lock:
                concurrent.extend(times)
            connections.close_all()

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results[name] = {
            "queries": len(sql_times),
            "sql_ms": round(1000 * sum(sql_times), 1),
            "serial": summary_ms([w for w, _c in serial]),
            "serial_cpu": summary_ms([c for _w, c in serial]),
            f"{clients}_clients": summary_ms(concurrent),
            "load": [round(v, 2) for v in os.getloadavg()],
        }
        row = results[name]
        print(
            f"  {name}: {row['queries']} queries, serial p50 {row['serial']['median']} ms "
            f"(min {row['serial']['min']}, CPU p50 {row['serial_cpu']['median']} ms), "
            f"{clients} clients p50 {row[f'{clients}_clients']['median']} / p95 "
            f"{row[f'{clients}_clients']['p95']} ms, load {row['load']}",
            flush=True,
        )
    return results


def explain_rollup_queries(url: str) -> dict:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the page's queries over the rollup tables: the
    server's execution time, which the machine's load inflates less than a wall clock."""
    from django.db import connection, transaction
    from django.test import Client

    client = Client()
    client.force_login(_reviewer())
    captured: list[tuple[str, tuple]] = []

    def keep(execute, sql, params, many, context):
        if "reporting_" in sql and sql.lstrip().upper().startswith("SELECT"):
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    plans = {}
    for sql, params in captured:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
        table = sql.split("FROM", 1)[1].split()[0].strip('"')
        execution = next(line for line in plan if line.startswith("Execution Time"))
        plans[f"{table} #{len(plans) + 1}"] = {"execution": execution, "plan": plan}
        print(f"    {table}: {execution}", flush=True)
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_STATS_DATABASE", DEFAULT_URL))
    parser.add_argument("--template", default=TEMPLATE)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--touch", type=int, default=1000)
    parser.add_argument("--no-rebuild", action="store_true", help="keep the rollups as they are")
    parser.add_argument("--drop", action="store_true", help="drop the copy at the end")
    args = parser.parse_args()

    created = copy_database(args.database, args.template)
    print(f"database {args.database} ({'copied' if created else 'reused'})", flush=True)
    setup(args.database)
    from django.conf import settings
    from django.core.management import call_command

    assert not settings.DEBUG
    call_command("migrate", verbosity=0)
    from refunds.models import Decision, RefundClaim
    from reporting.services import rollups_rebuild

    report: dict = {
        "claims": RefundClaim.objects.count(),
        "decisions": Decision.objects.count(),
        "load_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    print(f"  {report['claims']} claims, {report['decisions']} decisions", flush=True)
    if not args.no_rebuild:
        days, wall, cpu = _timed(rollups_rebuild)
        report["rebuild"] = {"days": days, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
        print(f"  rebuild: {days} days in {wall:.1f} s (CPU here {cpu:.1f} s)", flush=True)
    report["tables"] = table_sizes()
    report["refresh"] = refresh_after_touching(args.touch)
    print(f"  refresh: {report['refresh']}", flush=True)
    report["pages"] = measure_pages(args.repeat, args.clients)
    from django.utils import timezone

    today = timezone.localdate()
    year = f"/review/stats/?start={today - dt.timedelta(days=364)}&end={today}"
    print("  EXPLAIN ANALYZE, 365 days, all shops:", flush=True)
    report["explain_365_all_shops"] = explain_rollup_queries(year)
    write_json("statistics.json", report)
    rows = [
        [
            name,
            r["queries"],
            r["sql_ms"],
            r["serial"]["median"],
            r["serial"]["p95"],
            r["serial"]["min"],
            r["serial_cpu"]["median"],
            r[f"{args.clients}_clients"]["median"],
            r[f"{args.clients}_clients"]["p95"],
            " / ".join(str(v) for v in r["load"]),
        ]
        for name, r in report["pages"].items()
    ]
    header = ["page", "queries", "SQL ms", "p50 ms", "p95 ms", "min ms", "CPU p50 ms"]
    header += [f"{args.clients} clients p50", f"{args.clients} clients p95", "load"]
    write_text("statistics.md", md_table(header, rows))
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(args.database)
        print(f"dropped {args.database}", flush=True)


if __name__ == "__main__":
    main()
