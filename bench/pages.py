"""The merchant inbox at a busy shop's scale: 100k claims of one shop on PostgreSQL.

    make bench-pages        # or: .venv/bin/python bench/pages.py [--claims 100000] [--repeats 40]

It creates a private PostgreSQL database (``claimlens_inbox_pages`` by default: dropped
and re-created, never point it at real data), migrates it, seeds ``--claims`` claims of
one shop with bulk ``INSERT ... SELECT generate_series`` (orders, order items, buyers and
claims in every status, a fifth waiting for the shop with deadlines spread over 4 days,
risk scores, a few per cent with forgery findings), runs ``VACUUM ANALYZE``, then times
the inbox through Django's test client with DEBUG off (the whole request: session,
middleware, the selector's queries, the template):

* the first page (the default sort: waiting claims by deadline, then the rest by date);
* a deep page (a cursor half-way down the shop's 100k claims, date sort);
* a filtered search (a product word + the "high risk" band, by amount);
* the "deadline within 24 h" + "has forgery signals" filters.

Each is requested ``--repeats`` times after warm-up; p50, p95 and the minimum are
reported with the machine's load average, and ``EXPLAIN (ANALYZE, BUFFERS)`` of each
page query goes to ``bench/out/pages.md`` (docs/performance.md quotes it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, machine, md_table, summary_ms, write_json, write_text  # noqa: E402

SERVER_URL = os.environ.get("BENCH_PAGES_SERVER", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BENCH_PAGES_DATABASE", "claimlens_inbox_pages")
PRODUCTS = ("陶瓷杯 Ceramic mug", "蓝牙耳机 Bluetooth earphones", "羊毛围巾 Wool scarf",
            "不锈钢保温杯 Steel flask", "机械键盘 Mechanical keyboard", "真丝枕套 Silk pillowcase",
            "运动鞋 Running shoes", "台灯 Desk lamp")  # fmt: skip


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


SEED_SQL = """
INSERT INTO refunds_buyer (platform_id, display_name, phone, created_at, account_created_at)
SELECT 'b-' || g, 'buyer_' || md5(g::text)::varchar(8), '1380000' || lpad(g::text, 4, '0'),
       now(), now() - interval '400 days'
FROM generate_series(1, %(buyers)s) g;

INSERT INTO refunds_order (merchant_id, buyer_id, platform_id, total_amount, shipping_address,
                           paid_at, shipped_at, delivered_at, created_at)
SELECT %(shop)s, (SELECT min(id) FROM refunds_buyer) + (g %% %(buyers)s), 'o-' || g,
       (10 + (g * 37) %% 990)::numeric(12, 2), '上海市某路 ' || g || ' 号',
       now() - interval '10 days', now() - interval '9 days', now() - interval '7 days', now()
FROM generate_series(1, %(claims)s) g;

INSERT INTO refunds_orderitem (order_id, title, quantity, unit_price)
SELECT o.id, (%(products)s::text[])[1 + (o.id %% %(n_products)s)], 1, o.total_amount
FROM refunds_order o;

INSERT INTO refunds_refundclaim (
    order_id, merchant_id, buyer_id, platform_id, amount, order_total, reason, description,
    status, risk_score, risk_reasons, merchant_response, merchant_statement, outcome,
    confirmed_forgery, merchant_deadline, created_at, updated_at)
SELECT o.id, o.merchant_id, o.buyer_id, 'c-' || o.id, o.total_amount, o.total_amount,
       (ARRAY['damaged','not_as_described','quality','missing_parts','wrong_item'])[1 + o.id %% 5],
       '', s.status,
       CASE WHEN o.id %% 17 = 0 THEN NULL ELSE (o.id * 7919) %% 101 END,
       '[]'::jsonb, '', '',
       CASE WHEN s.status IN ('decided', 'closed') THEN 'refund_denied' ELSE '' END,
       false,
       CASE WHEN s.status = 'awaiting_merchant'
            THEN now() + ((o.id %% 5760) || ' minutes')::interval END,
       now() - ((%(claims)s - o.id) || ' minutes')::interval,
       now()
FROM refunds_order o,
     LATERAL (SELECT (ARRAY['awaiting_merchant','in_review','decided','closed','closed',
                            'awaiting_merchant','checking','closed','closed','withdrawn'])
                     [1 + o.id %% 10] AS status) s;
"""


def seed(claims: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from merchants.models import Membership, Merchant

    shop = Merchant.objects.create(platform_id="bench-shop", name="Bench shop 压测店")
    user = get_user_model().objects.create_user("bench")  # force_login: no password
    Membership.objects.create(user=user, merchant=shop, role="owner")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            SEED_SQL,
            {
                "shop": shop.pk,
                "claims": claims,
                "buyers": max(1, claims // 5),
                "products": list(PRODUCTS),
                "n_products": len(PRODUCTS),
            },
        )
    seeded = time.perf_counter() - started
    findings = _seed_findings()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")  # the seed's writes flushed before anything is timed
    return {"seed_seconds": round(seeded, 1), "claims_with_signals": findings, "user": user}


def _seed_findings() -> int:
    """Forgery findings on one claim in 25, through the ORM's bulk_create (the evidence
    tables' columns change more often than the claims'); returns how many."""
    from evidence.models import CheckRun, EvidenceFile, Finding
    from refunds.models import RefundClaim

    ids = [pk for pk in RefundClaim.objects.values_list("pk", flat=True) if pk % 25 == 0]
    files = EvidenceFile.objects.bulk_create(
        [_evidence(EvidenceFile, claim_id) for claim_id in ids], batch_size=2000
    )
    runs = CheckRun.objects.bulk_create([_run(CheckRun, f) for f in files], batch_size=2000)
    Finding.objects.bulk_create(
        [
            Finding(
                check_run=run,
                evidence=f,
                claim_id=f.claim_id,
                code="listing_copy",
                severity="high",
                weight=60,
                message="bench",
            )
            for run, f in zip(runs, files, strict=True)
        ],
        batch_size=2000,
    )
    return len(ids)


def _evidence(model, claim_id: int):
    return model(
        attached_to="claim",
        claim_id=claim_id,
        submitted_by="buyer",
        original="bench/none.jpg",
        original_name="IMG.jpg",
        sha256=f"{claim_id:064d}",
        content_type="image/jpeg",
        size=1,
        status="checked",
    )


def _run(model, evidence):
    from django.utils import timezone

    return model(
        evidence=evidence,
        check_name="listing_copy",
        check_version=1,
        status="done",
        started_at=timezone.now(),
    )


def time_requests(client, url: str, params: dict, repeats: int) -> tuple[list[float], int]:
    for _ in range(5):
        response = client.get(url, params)
        assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url, params)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    return timings, len(response.content)


def explain(client, url: str, params: dict) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    plans = []
    for query in queries.captured_queries:
        sql = query["sql"]
        if "refunds_refundclaim" in sql and "LIMIT" in sql:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plans.append(sql + "\n\n" + "\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    os.environ["DEBUG"] = "0"
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    recreate_database()
    django_setup(f"{SERVER_URL}/{DATABASE}")
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    assert not settings.DEBUG
    call_command("migrate", verbosity=0)
    facts = seed(args.claims)
    user = facts.pop("user")

    from refunds import selectors
    from refunds.models import RefundClaim

    # No setup_test_environment(): templates render as in production, uninstrumented.
    client = Client(SERVER_NAME="localhost", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    url = "/claims/"
    # A cursor half-way down the shop's claims, in the date sort.
    middle = (
        RefundClaim.objects.order_by("-created_at", "-id")
        .only("pk", "created_at")[args.claims // 2 : args.claims // 2 + 1]
        .get()
    )
    deep_cursor = selectors._encode_cursor(0, middle, selectors._SEGMENTS["date"][0].key)
    cases = {
        "first page (deadline sort)": {},
        "deep page (date sort, 50k down)": {"sort": "date", "cursor": deep_cursor},
        "search 'earphones' + high risk, by amount": {
            "q": "earphones",
            "risk": "high",
            "sort": "amount",
        },
        "due within 24 h + forgery signals": {"due": "on", "signals": "on"},
        "first page, sort by risk": {"sort": "risk"},
        # Again at the end: the first case also pays for a cold cache and the seed's
        # background writes (autovacuum, the checkpointer).
        "first page again (deadline sort)": {},
    }
    results, plans = {}, {}
    for name, params in cases.items():
        timings, size = time_requests(client, url, params, args.repeats)
        results[name] = {**summary_ms(timings), "bytes": size}
        plans[name] = explain(client, url, params)
        print(f"{name}: p50 {results[name]['median']} ms, p95 {results[name]['p95']} ms")

    load = os.getloadavg()
    payload = {
        "claims": args.claims,
        "repeats": args.repeats,
        "load_average": [round(x, 2) for x in load],
        "machine": machine(),
        **facts,
        "results": results,
    }
    write_json("pages.json", payload)
    rows = [
        [name, r["median"], r["p95"], r["min"], r["max"], r["n"]] for name, r in results.items()
    ]
    text = (
        f"# Inbox at {args.claims:,} claims of one shop\n\n"
        f"Load average during the run: {payload['load_average']} (1, 5, 15 min); "
        f"{args.repeats} requests per case after 5 warm-up ones; Django test client, DEBUG off, "
        "PostgreSQL.\n\n"
        + md_table(["case", "p50 ms", "p95 ms", "min ms", "max ms", "n"], rows)
        + "\n"
        + "\n".join(f"## {name}\n\n```\n{plan}\n```\n" for name, plan in plans.items())
    )
    write_text("pages.md", text)
    print(text.split("\n## ")[0])
    from django.db import connections

    connections.close_all()
    if not args.keep:
        drop_database()


if __name__ == "__main__":
    main()
