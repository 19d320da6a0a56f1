"""Take next on a realistic review queue, on PostgreSQL.

Seeds a throw-away database with ``--claims`` claims (default 200,000), ``--waiting``
of them waiting for a reviewer (50,000: in review or appealed, nobody holding them,
spread over the seeded queues), 80 held by other reviewers and the rest decided, closed
or with the merchant, each with its order, and a released assignment for every closed
claim. Then:

1. ``EXPLAIN (ANALYZE, BUFFERS)`` of every query one ``claim_take_next`` sends (run in a
   transaction that is rolled back), and of the queue page's reads;
2. ``--reviewers`` (8) processes, started at once, each taking the next claim and
   deciding it, ``--takes`` (40) times: the latency of every ``claim_take_next`` and how
   many answered "nothing to review".

Works on this tree's code and on an older one (no ``held_by`` column, no leases): copy
this file into the other tree's ``bench/`` and run it there with another database.
Results: ``bench/out/seed_queue-<label>.json``, the plans in
``bench/out/seed_queue-<label>-plans.txt``.

It **drops and re-creates** ``--database-url`` (default
``postgres://postgres@127.0.0.1:5432/claimlens_queue_bench``) when seeding: never point
it at a real database. ``--measure-only`` reuses a seeded database.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, percentile, summary_ms, write_json, write_text  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/claimlens_queue_bench"
HELD = 80
OTHER_HOLDERS = 20
MERCHANTS = 20
BUYERS = 10_000
RATIONALE = "Benchmark decision: the buyer's photo is an edited listing photo."


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("AUDIT_CHECKPOINT_EVERY", "0")
    import django

    django.setup()


def has_column(table: str, column: str) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [table, column],
        )
        return cursor.fetchone() is not None


def reviewer_users(reviewers: int):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    users = []
    for n in range(reviewers):
        # Every fourth reviewer is a senior (appeals are theirs only).
        group = "senior reviewers" if n % 4 == 3 else "reviewers"
        user, _ = get_user_model().objects.get_or_create(username=f"bench-reviewer-{n}")
        user.groups.add(Group.objects.get_or_create(name=group)[0])
        users.append(user)
    return users


def seed(url: str, claims: int, waiting: int, reviewers: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from merchants.models import Merchant
    from refunds.models import ReviewQueue

    started = time.perf_counter()
    recreate_database(url)
    connection.close()
    call_command("migrate", verbosity=0)
    merchants = [
        Merchant.objects.create(platform_id=f"bench-shop-{n}", name=f"Bench shop {n}").pk
        for n in range(MERCHANTS)
    ]
    holders = []
    for n in range(OTHER_HOLDERS):
        user = get_user_model().objects.create(username=f"bench-holder-{n}")
        user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
        holders.append(user.pk)
    reviewer_users(reviewers)
    queue = {q.slug: q.pk for q in ReviewQueue.objects.all()}
    leases = has_column("refunds_assignment", "expires_at")
    held_by = has_column("refunds_refundclaim", "held_by_id")
    params = {
        "claims": claims,
        "waiting": waiting,
        "held_end": waiting + HELD,
        "forgery": queue["forensic"],
        "high": queue["high-value"],
        "standard": queue["standard"],
        "merchants": merchants,
        "holders": holders,
        "buyers": BUYERS,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO refunds_buyer (platform_id, display_name, phone, created_at)
            SELECT 'bench-buyer-' || b, 'Buyer ' || b, '', now()
            FROM generate_series(1, %(buyers)s) AS b
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO refunds_order (merchant_id, buyer_id, platform_id, total_amount,
                shipping_address, paid_at, created_at)
            SELECT (%(merchants)s::int[])[1 + i %% cardinality(%(merchants)s::int[])],
                   (SELECT min(id) FROM refunds_buyer) + i %% %(buyers)s,
                   'bench-order-' || i, 199.00, '',
                   now() - make_interval(days => 5 + i %% 40), now()
            FROM generate_series(1, %(claims)s) AS i
            """,
            params,
        )
        # One claim per order: 1..waiting wait for a reviewer (every 17th appealed), the
        # next HELD are held, the rest are with the merchant (10 %), decided (5 %) or closed.
        cursor.execute(
            f"""
            INSERT INTO refunds_refundclaim (order_id, merchant_id, buyer_id, platform_id,
                amount, order_total, reason, description, status, risk_reasons, queue_id,
                merchant_response, merchant_statement, merchant_deadline, review_deadline,
                appeal_deadline, outcome, refund_amount, confirmed_forgery, created_at,
                updated_at, decided_at{", held_by_id" if held_by else ""})
            SELECT o.id, o.merchant_id, o.buyer_id, '', 99.00, 199.00, 'damaged',
                   CASE WHEN n > %(waiting)s AND n <= %(held_end)s THEN 'held' ELSE '' END,
                   CASE WHEN n <= %(waiting)s AND n %% 17 = 0 THEN 'appealed'
                        WHEN n <= %(held_end)s THEN 'in_review'
                        WHEN n %% 10 = 0 THEN 'awaiting_merchant'
                        WHEN n %% 20 = 1 THEN 'decided'
                        ELSE 'closed' END,
                   '[]'::jsonb,
                   CASE WHEN n %% 10 = 2 THEN %(forgery)s WHEN n %% 10 = 3 THEN %(high)s
                        ELSE %(standard)s END,
                   CASE WHEN n <= %(held_end)s THEN 'contest' ELSE '' END,
                   CASE WHEN n <= %(held_end)s THEN 'painted cracks' ELSE '' END,
                   CASE WHEN n > %(held_end)s AND n %% 10 = 0
                        THEN now() + interval '24 hours' END,
                   CASE WHEN n <= %(held_end)s
                        THEN now() + make_interval(hours => (n * 7919) %% 72 - 24,
                                                   secs => n %% 3600) END,
                   CASE WHEN n > %(held_end)s AND n %% 20 = 1
                        THEN now() + interval '7 days' END,
                   CASE WHEN n > %(held_end)s AND n %% 10 <> 0 THEN 'refund_denied'
                        ELSE '' END,
                   CASE WHEN n > %(held_end)s AND n %% 10 <> 0 THEN 0 END,
                   false,
                   now() - make_interval(days => (n * 31) %% 30, secs => n %% 86400),
                   now(),
                   CASE WHEN n > %(held_end)s AND n %% 10 <> 0 THEN now() END
                   {", NULL" if held_by else ""}
            FROM (SELECT id, merchant_id, buyer_id,
                         row_number() OVER (ORDER BY id)::int AS n FROM refunds_order) AS o
            """,  # noqa: S608 - the optional column is the schema's, nothing from outside
            params,
        )
        lease_columns = ", last_activity_at, expires_at" if leases else ""
        lease_values = ", now() - interval '10 minutes', now() + interval '50 minutes'"
        cursor.execute(
            f"""
            INSERT INTO refunds_assignment (claim_id, reviewer_id, for_appeal, assigned_at,
                released_at{lease_columns})
            SELECT id, (%(holders)s::int[])[1 + id %% cardinality(%(holders)s::int[])],
                   false, now() - interval '10 minutes',
                   CASE WHEN description = 'held' THEN NULL ELSE now() - interval '1 day' END
                   {lease_values if leases else ""}
            FROM refunds_refundclaim WHERE description = 'held' OR status = 'closed'
            """,  # noqa: S608 - the optional columns are the schema's, nothing from outside
            params,
        )
        if held_by:
            cursor.execute(
                """
                UPDATE refunds_refundclaim c SET held_by_id = a.reviewer_id
                FROM refunds_assignment a
                WHERE a.claim_id = c.id AND a.released_at IS NULL
                """
            )
        cursor.execute("ANALYZE")
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status IN ('in_review', 'appealed')),"
            " count(*) FROM refunds_refundclaim"
        )
        in_review, total = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM refunds_assignment WHERE released_at IS NULL")
        (held,) = cursor.fetchone()
    return {
        "claims": total,
        "in_review_or_appealed": in_review,
        "held": held,
        "waiting": in_review - held,
        "seconds": round(time.perf_counter() - started, 1),
        "schema": {"held_by": held_by, "leases": leases},
    }


def explain(reviewer) -> tuple[str, list[dict]]:
    """The plans of every query of one take-next (rolled back), and of the queue page's
    reads."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from refunds import selectors, services

    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            services.claim_take_next(reviewer=reviewer)
        transaction.set_rollback(True)
    statements = [
        ("take next", q["sql"])
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT")
        and ("refunds_refundclaim" in q["sql"] or "refunds_reviewqueue" in q["sql"])
    ]
    with CaptureQueriesContext(connection) as page:
        list(selectors.claims_awaiting_review().select_related("merchant")[:25])
        selectors.review_queue_overview()
    statements += [("queue page", q["sql"]) for q in page.captured_queries]
    if hasattr(services, "leases_expire"):
        from django.utils import timezone

        from refunds.models import Assignment

        due = (
            Assignment.objects.filter(released_at__isnull=True, expires_at__lte=timezone.now())
            .order_by("expires_at")
            .values_list("pk", "claim_id")[:500]
        )
        with CaptureQueriesContext(connection) as sweep:
            list(due)
        statements += [("lease sweep", q["sql"]) for q in sweep.captured_queries]
    text, summary = [], []
    for what, sql in statements:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
        execution = next((line for line in plan if line.startswith("Execution Time")), "")
        summary.append({"what": what, "sql": sql[:160], "execution": execution})
        text.append(f"-- {what}\n{sql}\n\n" + "\n".join(plan) + "\n")
    return "\n".join(text), summary


def _take_and_decide(username: str, takes: int, barrier, results) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from refunds import services
    from refunds.exceptions import NothingToReview

    reviewer = get_user_model().objects.get(username=username)
    timings = []
    barrier.wait()
    for _ in range(takes):
        started = time.perf_counter()
        try:
            claim = services.claim_take_next(reviewer=reviewer)
        except NothingToReview:
            timings.append((time.perf_counter() - started, False))
            continue
        timings.append((time.perf_counter() - started, True))
        services.claim_decide(
            claim=claim, reviewer=reviewer, outcome="refund_denied", rationale=RATIONALE
        )
    connection.close()
    results.put((username, timings))


def _take_and_release(username: str, takes: int, barrier, results) -> None:
    """``takes`` times: take the next claim and give it back (``--latency``), so that
    every run, before or after a change, meets the same waiting claims."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from refunds import services

    reviewer = get_user_model().objects.get(username=username)
    claim = services.claim_take_next(reviewer=reviewer)  # roles read once per user object
    services.claim_release(claim=claim, reviewer=reviewer)
    timings = []
    if barrier is not None:
        barrier.wait()
    for _ in range(takes):
        started = time.perf_counter()
        claim = services.claim_take_next(reviewer=reviewer)
        timings.append(time.perf_counter() - started)
        services.claim_release(claim=claim, reviewer=reviewer)
    connection.close()
    results.put(timings)


def measure_latency(usernames: list[str], serial: int, takes: int) -> dict:
    """One reviewer taking (and releasing) ``serial`` times alone, then every reviewer of
    ``usernames`` at once, in processes, ``takes`` times each; the statements of one take
    counted. Works on any seeded database with those reviewers (``bench/scale.py``'s
    ``scale-reviewer-<n>``: docs/performance.md, "take-next's Python")."""
    from django.contrib.auth import get_user_model
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from refunds import services

    reviewer = get_user_model().objects.get(username=usernames[0])
    services.claim_release(claim=services.claim_take_next(reviewer=reviewer), reviewer=reviewer)
    with CaptureQueriesContext(connection) as captured:
        claim = services.claim_take_next(reviewer=reviewer)
    services.claim_release(claim=claim, reviewer=reviewer)
    connections.close_all()  # every process opens its own
    context = multiprocessing.get_context("fork")
    runs: dict = {"statements_per_take": len(captured)}
    for label, names, count in (
        ("1 reviewer", usernames[:1], serial),
        ("together", usernames, takes),
    ):
        results = context.Queue()
        barrier = context.Barrier(len(names)) if len(names) > 1 else None
        load_before = os.getloadavg()
        processes = [
            context.Process(target=_take_and_release, args=(name, count, barrier, results))
            for name in names
        ]
        for process in processes:
            process.start()
        seconds = [t for _ in processes for t in results.get()]
        for process in processes:
            process.join()
        runs[label] = {
            "reviewers": len(names),
            "takes": len(seconds),
            "take_next_ms": summary_ms(seconds),
            "p95_ms": round(1000 * percentile(seconds, 95), 2),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        }
    return runs


def measure(reviewers: int, takes: int) -> dict:
    from django.db import connections

    usernames = [user.username for user in reviewer_users(reviewers)]
    connections.close_all()  # every process opens its own
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(reviewers)
    results = context.Queue()
    load_before = os.getloadavg()
    started = time.perf_counter()
    processes = [
        context.Process(target=_take_and_decide, args=(name, takes, barrier, results))
        for name in usernames
    ]
    for process in processes:
        process.start()
    collected = [results.get() for _ in processes]
    for process in processes:
        process.join()
    wall = time.perf_counter() - started
    timings = [t for _name, rows in collected for t in rows]
    seconds = [t for t, _took in timings]
    nothing = sum(1 for _t, took in timings if not took)
    return {
        "reviewers": reviewers,
        "takes": len(timings),
        "nothing_to_review": nothing,
        "nothing_share_percent": round(100 * nothing / len(timings), 1),
        "take_next_ms": summary_ms(seconds),
        "p95_ms": round(1000 * percentile(seconds, 95), 2),
        "wall_seconds": round(wall, 1),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_QUEUE_DATABASE_URL"))
    parser.add_argument("--claims", type=int, default=200_000)
    parser.add_argument("--waiting", type=int, default=50_000)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--takes", type=int, default=40)
    parser.add_argument("--label", default="now")
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument(
        "--latency",
        help="comma-separated reviewers of an already seeded database: time take next alone "
        "(--serial takes) and with all of them at once (--takes each), taking and releasing",
    )
    parser.add_argument("--serial", type=int, default=300)
    args = parser.parse_args()
    url = args.database_url or DEFAULT_URL
    django_setup(url)
    if args.latency:
        runs = measure_latency(args.latency.split(","), args.serial, args.takes)
        import refunds

        runs["code"] = str(Path(refunds.__file__).resolve().parent.parent)
        print("code:", runs["code"])
        path = write_json(f"seed_queue-latency-{args.label}.json", runs)
        print(f"{args.label}: {runs['statements_per_take']} statements per take")
        print(
            md_table(
                ["run", "takes", "min ms", "median ms", "p95 ms", "load before"],
                [
                    [
                        f"{args.label}, {label}",
                        run["takes"],
                        run["take_next_ms"]["min"],
                        run["take_next_ms"]["median"],
                        run["p95_ms"],
                        run["load_average_before"],
                    ]
                    for label, run in runs.items()
                    if isinstance(run, dict)
                ],
            )
        )
        print("written:", path)
        return 0

    payload: dict = {"label": args.label, "database": urlsplit(url).path.lstrip("/")}
    if not args.measure_only:
        payload["seed"] = seed(url, args.claims, args.waiting, args.reviewers)
        print("seeded:", payload["seed"])
    plans, payload["plans"] = explain(reviewer_users(args.reviewers)[0])
    write_text(f"seed_queue-{args.label}-plans.txt", plans)
    payload["run"] = measure(args.reviewers, args.takes)
    path = write_json(f"seed_queue-{args.label}.json", payload)
    run = payload["run"]
    print(
        md_table(
            ["label", "takes", "nothing", "p50 ms", "p95 ms", "min ms", "max ms", "load before"],
            [
                [
                    args.label,
                    run["takes"],
                    f"{run['nothing_to_review']} ({run['nothing_share_percent']} %)",
                    run["take_next_ms"]["median"],
                    run["take_next_ms"]["p95"],
                    run["take_next_ms"]["min"],
                    run["take_next_ms"]["max"],
                    run["load_average_before"],
                ]
            ],
        )
    )
    for row in payload["plans"]:
        print(f"{row['what']}: {row['execution']}  {row['sql'][:90]}")
    print("written:", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
