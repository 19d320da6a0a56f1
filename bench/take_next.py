"""Take next on a seeded review queue, on PostgreSQL.

Works on a database ``bench/scale.py`` seeded (its reviewers ``scale-reviewer-<n>``;
``--database-url``, default ``claimlens_scale_10k``). Three measures:

- ``--explain``: ``EXPLAIN (ANALYZE, BUFFERS)`` of every read one ``claim_take_next``
  sends (in a transaction rolled back), of the queue page's reads and of the lease sweep's.
- ``--latency``: one reviewer taking and giving back ``--serial`` times alone, then every
  reviewer at once, in processes, ``--takes`` times each. Taking and releasing leaves the
  queue as it was, so a run of the code before a change and one after it meet the same
  waiting claims (copy this file into the other tree's ``bench/`` to run it there).
- default: ``--reviewers`` processes started at once, each taking the next claim and
  deciding it ``--takes`` times: latency, "nothing to review" answers, claims handed to two
  reviewers. ``bench/scale.py --only take`` runs this same measure.

Results: ``bench/out/take_next-<label>.json`` (plans: ``…-plans.txt``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, percentile, summary_ms, write_json, write_text  # noqa: E402

RATIONALE = "Benchmark decision: the buyer's photo is an edited listing photo."


def default_url() -> str:
    from bench.scale import database_url

    return database_url("10k")


def reviewers(count: int) -> list[str]:
    """``count`` of ``bench/scale.py``'s reviewers, those deciding appeals (every fourth
    is senior) last, so the first are plain reviewers as most of a team is."""
    names = [f"scale-reviewer-{n}" for n in range(count) if n % 4 != 3]
    return names + [f"scale-reviewer-{n}" for n in range(8, 8 + count - len(names))]


def explain(reviewer) -> tuple[str, list[dict]]:
    """The plans of every read of one take next (rolled back), of the queue page's reads
    and of the lease sweep's."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from refunds import selectors, services
    from refunds.models import Assignment

    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            services.claim_take_next(reviewer=reviewer)
        transaction.set_rollback(True)
    statements = [
        ("take next", q["sql"]) for q in captured.captured_queries if q["sql"].startswith("SELECT")
    ]
    with CaptureQueriesContext(connection) as page:
        # What the queues page reads (refunds.views.reviewer): the most urgent claims,
        # queue by queue, and the cards.
        selectors.most_urgent_waiting(limit=25, reviewer=reviewer)
        selectors.review_queue_overview(reviewer=reviewer)
    statements += [("queue page", q["sql"]) for q in page.captured_queries]
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


def _taker(username: str, takes: int, decide: bool, barrier, results) -> None:
    """``takes`` times: take the next claim, then decide it (``decide``) or give it back.
    Puts ``[(seconds, claim id or None for "nothing to review", seconds to decide or to
    give it back), …]``."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from refunds import services
    from refunds.exceptions import NothingToReview

    reviewer = get_user_model().objects.get(username=username)
    # A warm process, as a web worker that has served requests before: the reviewer's
    # roles read once per user object, the take's statements compiled once per process.
    try:
        services.claim_release(claim=services.claim_take_next(reviewer=reviewer), reviewer=reviewer)
    except NothingToReview:
        pass
    rows = []
    if barrier is not None:
        barrier.wait()
    for _ in range(takes):
        started = time.perf_counter()
        try:
            claim = services.claim_take_next(reviewer=reviewer)
        except NothingToReview:
            rows.append((time.perf_counter() - started, None, None))
            continue
        took = time.perf_counter() - started
        started = time.perf_counter()
        if decide:
            services.claim_decide(
                claim=claim, reviewer=reviewer, outcome="refund_denied", rationale=RATIONALE
            )
        else:
            services.claim_release(claim=claim, reviewer=reviewer)
        rows.append((took, claim.pk, time.perf_counter() - started))
    connection.close()
    results.put(rows)


def claim_updates() -> tuple[int, int]:
    """The claim table's ``(n_tup_upd, n_tup_hot_upd)`` from ``pg_stat_user_tables``: the
    backends that ran the takes have exited (so flushed their statistics); a fresh
    snapshot is read."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname = 'refunds_refundclaim'"
        )
        row = cursor.fetchone()
    connection.close()  # the takers fork after this: none inherits the connection
    return row[0], row[1]


def _hot_share(before: tuple[int, int], after: tuple[int, int]) -> dict:
    """The claim table's updates between two :func:`claim_updates` readings, and the
    share of them that were HOT (no index entry written)."""
    updates, hot = after[0] - before[0], after[1] - before[1]
    return {
        "updates": updates,
        "hot": hot,
        "hot_share": round(hot / updates, 3) if updates else None,
    }


def take_together(usernames: list[str], takes: int, *, decide: bool = True) -> dict:
    """Every reviewer of ``usernames`` in a process of its own, started at once."""
    from django.db import connections

    connections.close_all()  # every process opens its own
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(usernames)) if len(usernames) > 1 else None
    results = context.Queue()
    load_before = os.getloadavg()
    updates_before = claim_updates()
    started = time.perf_counter()
    processes = [
        context.Process(target=_taker, args=(name, takes, decide, barrier, results))
        for name in usernames
    ]
    for process in processes:
        process.start()
    rows = [row for _ in processes for row in results.get()]
    for process in processes:
        process.join()
    wall = time.perf_counter() - started
    updates = _hot_share(updates_before, claim_updates())
    taken = [pk for _t, pk, _d in rows if pk is not None]
    seconds = [t for t, _pk, _d in rows]
    after = [d for _t, _pk, d in rows if d is not None]
    return {
        "reviewers": len(usernames),
        "takes": len(rows),
        "nothing_to_review": len(rows) - len(taken),
        # Given back, a claim is taken again: only deciding runs can share one.
        "claims_shared": len(taken) - len(set(taken)) if decide else "–",
        "take_next_ms": summary_ms(seconds),
        "p95_ms": round(1000 * percentile(seconds, 95), 1),
        ("decide_ms" if decide else "release_ms"): summary_ms(after) if after else None,
        "claim_table_updates": updates,
        "wall_seconds": round(wall, 1),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def measure_latency(usernames: list[str], serial: int, takes: int) -> dict:
    """One reviewer alone ``serial`` times, then all of them ``takes`` times each, taking
    and releasing; and the statements of one take."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from refunds import services

    reviewer = get_user_model().objects.get(username=usernames[0])
    services.claim_release(claim=services.claim_take_next(reviewer=reviewer), reviewer=reviewer)
    with CaptureQueriesContext(connection) as captured:
        claim = services.claim_take_next(reviewer=reviewer)
    services.claim_release(claim=claim, reviewer=reviewer)
    return {
        "statements_per_take": len(captured),
        "1 reviewer": take_together(usernames[:1], serial, decide=False),
        "together": take_together(usernames, takes, decide=False),
    }


def _after_take(run: dict) -> str:
    summary = run.get("decide_ms") or run.get("release_ms")
    return f"{summary['median']}, {summary['p95']}" if summary else "–"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_TAKE_NEXT_URL"))
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--takes", type=int, default=15)
    parser.add_argument("--label", default="now")
    parser.add_argument("--explain", action="store_true", help="write the plans of one take")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="take and release: --serial takes alone, then --takes each with all reviewers",
    )
    parser.add_argument("--serial", type=int, default=300)
    args = parser.parse_args()
    from bench.scale import django_setup

    django_setup(args.database_url or default_url())
    from django.contrib.auth import get_user_model

    names = reviewers(args.reviewers)
    if args.explain:
        plans, summary = explain(get_user_model().objects.get(username=names[0]))
        print("written:", write_text(f"take_next-{args.label}-plans.txt", plans))
        for row in summary:
            print(f"{row['what']}: {row['execution']}  {row['sql'][:90]}")
        return 0
    if args.latency:
        runs = measure_latency(names, args.serial, args.takes)
        import refunds

        runs["code"] = str(Path(refunds.__file__).resolve().parent.parent)
        print(f"code: {runs['code']}; {runs['statements_per_take']} statements per take")
    else:
        runs = {"together": take_together(names, args.takes)}
    path = write_json(f"take_next-{args.label}.json", runs)
    print(
        md_table(
            [
                "run",
                "takes",
                "nothing",
                "shared",
                "min ms",
                "median ms",
                "p95 ms",
                "then decide/release median, p95 ms",
                "claim updates (HOT)",
                "load",
            ],
            [
                [
                    f"{args.label}, {label}",
                    run["takes"],
                    run["nothing_to_review"],
                    run["claims_shared"],
                    run["take_next_ms"]["min"],
                    run["take_next_ms"]["median"],
                    run["p95_ms"],
                    _after_take(run),
                    "{updates} ({hot}, {hot_share})".format(**run["claim_table_updates"]),
                    run["load_average_before"],
                ]
                for label, run in runs.items()
                if isinstance(run, dict)
            ],
        )
    )
    print("written:", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
