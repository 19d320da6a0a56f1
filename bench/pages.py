"""The merchant inbox at a busy shop's scale: 100k claims of one shop on PostgreSQL.

    make bench-pages        # or: .venv/bin/python bench/pages.py [--claims 100000] [--repeats 40]

It creates a private PostgreSQL database (``claimlens_portal_pages`` by default: dropped
and re-created, never point it at real data), migrates it, seeds ``--claims`` claims of
one shop with bulk ``INSERT ... SELECT generate_series`` (orders, order items, buyers and
claims in every status, a fifth waiting for the shop with deadlines spread over 4 days,
risk scores, a few per cent with forgery findings), runs ``VACUUM ANALYZE``, then times
the inbox through Django's test client with DEBUG off (the whole request: session,
middleware, the selector's queries, the template):

* the first page (the default sort: waiting claims by deadline, then the rest by date);
* a deep page (a cursor half-way down the shop's 100k claims, date sort);
* a filtered search (a product word + the "high risk" band, by amount);
* the "deadline within 24 h" + "has forgery signals" filters;
* a claim number search, the risk sort;
* the products page (the shop's products, their listing photos and the claims that
  matched each photo) and one claim's page.

Each is requested ``--repeats`` times after warm-up, serially (wall time and the
process's CPU time per request), then by ``--clients`` concurrent clients (separate
processes, each with its own connection and session); the whole series runs
``--rounds`` times. p50, p95 and the minimum are reported with the machine's load
average, and ``EXPLAIN (ANALYZE, BUFFERS)`` of each page query goes to
``bench/out/pages.md`` (docs/performance.md quotes it).
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
DATABASE = os.environ.get("BENCH_PAGES_DATABASE", "claimlens_portal_pages")
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
INSERT INTO refunds_buyer (tenant_id, platform_id, display_name, phone, created_at,
                           account_created_at)
SELECT %(tenant)s, 'b-' || g, 'buyer_' || md5(g::text)::varchar(8),
       '1380000' || lpad(g::text, 4, '0'), now(), now() - interval '400 days'
FROM generate_series(1, %(buyers)s) g;

INSERT INTO refunds_order (merchant_id, buyer_id, platform_id, total_amount, shipping_address,
                           buyer_name, buyer_phone, paid_at, shipped_at, delivered_at,
                           created_at)
SELECT %(shop)s, (SELECT min(id) FROM refunds_buyer) + (g %% %(buyers)s), 'o-' || g,
       (10 + (g * 37) %% 990)::numeric(12, 2), '上海市某路 ' || g || ' 号',
       '买家 ' || g, '1390000' || lpad((g %% 10000)::text, 4, '0'),
       now() - interval '10 days', now() - interval '9 days', now() - interval '7 days', now()
FROM generate_series(1, %(claims)s) g;

INSERT INTO refunds_orderitem (order_id, title, quantity, unit_price)
SELECT o.id, (%(products)s::text[])[1 + (o.id %% %(n_products)s)], 1, o.total_amount
FROM refunds_order o;

INSERT INTO refunds_refundclaim (
    tenant_id, order_id, merchant_id, buyer_id, platform_id, amount, order_total, reason,
    description, status, risk_score, risk_reasons, merchant_response, merchant_statement, outcome,
    confirmed_forgery, ai_suspect_note, merchant_deadline, created_at, updated_at)
SELECT %(tenant)s, o.id, o.merchant_id, o.buyer_id, 'c-' || o.id, o.total_amount, o.total_amount,
       (ARRAY['damaged','not_as_described','quality','missing_parts','wrong_item'])[1 + o.id %% 5],
       '', s.status,
       CASE WHEN o.id %% 17 = 0 THEN NULL ELSE (o.id * 7919) %% 101 END,
       '[]'::jsonb, '', '',
       CASE WHEN s.status IN ('decided', 'closed') THEN 'refund_denied' ELSE '' END,
       false, '',
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
                "tenant": shop.tenant_id,
                "claims": claims,
                "buyers": max(1, claims // 5),
                "products": list(PRODUCTS),
                "n_products": len(PRODUCTS),
            },
        )
    seeded = time.perf_counter() - started
    photos = _seed_products(shop)
    findings = _seed_findings(photos)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")  # the seed's writes flushed before anything is timed
    return {"seed_seconds": round(seeded, 1), "claims_with_signals": findings, "user": user}


def _seed_products(shop) -> list:
    """The shop's products (one per item title) with three listing photos each."""
    from evidence.models import EvidenceFile
    from merchants.models import Product

    products = Product.objects.bulk_create(
        [Product(merchant=shop, platform_id=f"p-{n}", title=t) for n, t in enumerate(PRODUCTS)]
    )
    photos = [
        EvidenceFile(
            attached_to="product",
            product=product,
            submitted_by="merchant",
            original=f"bench/listing-{product.pk}-{n}.jpg",
            original_name=f"listing-{n}.jpg",
            sha256=f"{product.pk:032d}{n:032d}",
            content_type="image/jpeg",
            size=1,
            status="checked",
        )
        for product in products
        for n in range(3)
    ]
    return EvidenceFile.objects.bulk_create(photos)


def _seed_findings(photos: list) -> int:
    """Forgery findings on one claim in 25, through the ORM's bulk_create (the evidence
    tables' columns change more often than the claims'), one in five of them a copy of
    a listing photo (the products page lists those claims); returns how many."""
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
                code="reference_copy" if n % 5 == 0 else "listing_copy",
                related_evidence=photos[n % len(photos)] if n % 5 == 0 else None,
                severity="high",
                weight=60,
                message="bench",
            )
            for n, (run, f) in enumerate(zip(runs, files, strict=True))
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


def time_requests(client, url: str, params: dict, repeats: int) -> tuple[list, list, int]:
    """Wall and CPU seconds of ``repeats`` requests after 5 warm-up ones, and the size."""
    for _ in range(5):
        response = client.get(url, params)
        assert response.status_code == 200, (url, response.status_code)
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(url, params)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - started)
        assert response.status_code == 200
    return walls, cpus, len(response.content)


def _client_process(user_pk: int, cases: dict, repeats: int, results) -> None:
    """One concurrent client: its own process, connection and session."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(SERVER_NAME="localhost", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(get_user_model().objects.get(pk=user_pk))
    out = {}
    for name, (url, params) in cases.items():
        walls, _cpus, _size = time_requests(client, url, params, repeats)
        out[name] = walls
    results.put(out)


def time_concurrently(user_pk: int, cases: dict, repeats: int, clients: int) -> dict:
    """Every case's wall times pooled over ``clients`` processes running at once."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # the children must not share the parent's socket
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=_client_process, args=(user_pk, cases, repeats, results))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    pooled: dict[str, list] = {name: [] for name in cases}
    for _ in processes:
        for name, walls in results.get().items():
            pooled[name] += walls
    for process in processes:
        process.join()
        assert process.exitcode == 0
    return pooled


def explain(client, url: str, params: dict) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    plans = []
    for query in queries.captured_queries:
        sql = query["sql"]
        if ("refunds_refundclaim" in sql and "LIMIT" in sql) or "evidence_finding" in sql:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plans.append(sql + "\n\n" + "\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(plans)


def _cases(args, shop_pk: int) -> dict:
    from refunds import selectors
    from refunds.models import RefundClaim

    # A cursor half-way down the shop's claims, in the date sort.
    middle = (
        RefundClaim.objects.order_by("-created_at", "-id")
        .only("pk", "created_at")[args.claims // 2 : args.claims // 2 + 1]
        .get()
    )
    deep_cursor = selectors._encode_cursor(0, middle, selectors._SEGMENTS["date"][0].key)
    # A waiting claim with a forgery finding: the claim page's heaviest kind.
    flagged = (
        RefundClaim.objects.filter(status="awaiting_merchant", findings__isnull=False)
        .order_by("pk")
        .first()
    )
    inbox = "/claims/"
    return {
        "inbox, first page (deadline sort)": (inbox, {}),
        "inbox, deep page (date sort, 50k down)": (inbox, {"sort": "date", "cursor": deep_cursor}),
        "inbox, search 'earphones' + high risk, by amount": (
            inbox,
            {"q": "earphones", "risk": "high", "sort": "amount"},
        ),
        "inbox, search a claim number": (inbox, {"q": f"c-{middle.order_id}"}),
        "inbox, filter: due within 24 h + forgery signals": (inbox, {"due": "on", "signals": "on"}),
        "inbox, sort by risk": (inbox, {"sort": "risk"}),
        "products page": ("/products/", {}),
        "claim page": (f"/claims/{flagged.pk}/", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time a kept database again")
    args = parser.parse_args()

    os.environ["DEBUG"] = "0"
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    if not args.reuse:
        recreate_database()
    django_setup(f"{SERVER_URL}/{DATABASE}")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from merchants.models import Merchant

    assert not settings.DEBUG
    call_command("migrate", verbosity=0)
    if args.reuse:
        facts = {"seed_seconds": None, "claims_with_signals": None}
        user = get_user_model().objects.get(username="bench")
    else:
        facts = seed(args.claims)
        user = facts.pop("user")
    shop = Merchant.objects.get(platform_id="bench-shop")

    # No setup_test_environment(): templates render as in production, uninstrumented.
    client = Client(SERVER_NAME="localhost", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    cases = _cases(args, shop.pk)
    rounds = []
    plans = {}
    for number in range(1, args.rounds + 1):
        serial, cpu = {}, {}
        for name, (url, params) in cases.items():
            walls, cpus, size = time_requests(client, url, params, args.repeats)
            serial[name] = {**summary_ms(walls), "bytes": size}
            cpu[name] = summary_ms(cpus)
            if number == 1:
                plans[name] = explain(client, url, params)
        load_serial = [round(x, 2) for x in os.getloadavg()]
        concurrent = {
            name: summary_ms(walls)
            for name, walls in time_concurrently(
                user.pk, cases, args.repeats // 2, args.clients
            ).items()
        }
        load_concurrent = [round(x, 2) for x in os.getloadavg()]
        rounds.append(
            {
                "serial": serial,
                "cpu": cpu,
                "concurrent": concurrent,
                "load_serial": load_serial,
                "load_concurrent": load_concurrent,
            }
        )
        for name in cases:
            print(
                f"round {number} {name}: serial p50 {serial[name]['median']} "
                f"p95 {serial[name]['p95']} min {serial[name]['min']} ms, "
                f"cpu p50 {cpu[name]['median']} ms, "
                f"{args.clients} clients p95 {concurrent[name]['p95']} ms"
            )
        print(f"load: serial {load_serial}, concurrent {load_concurrent}")

    payload = {
        "claims": args.claims,
        "repeats": args.repeats,
        "clients": args.clients,
        "machine": machine(),
        **facts,
        "rounds": rounds,
    }
    write_json("pages.json", payload)
    header = ["case", "round", "serial p50", "serial p95", "serial min", "CPU p50", "CPU min"]
    header += [f"{args.clients} clients p50", f"{args.clients} clients p95"]
    rows = [
        [
            name,
            number,
            r["serial"][name]["median"],
            r["serial"][name]["p95"],
            r["serial"][name]["min"],
            r["cpu"][name]["median"],
            r["cpu"][name]["min"],
            r["concurrent"][name]["median"],
            r["concurrent"][name]["p95"],
        ]
        for name in cases
        for number, r in enumerate(rounds, 1)
    ]
    loads = "; ".join(
        f"round {n}: {r['load_serial']} serial, {r['load_concurrent']} concurrent"
        for n, r in enumerate(rounds, 1)
    )
    text = (
        f"# Merchant pages at {args.claims:,} claims of one shop\n\n"
        f"Load average (1, 5, 15 min) at the end of each part: {loads}. "
        f"{args.repeats} serial requests per case after 5 warm-up ones, then "
        f"{args.clients} concurrent clients × {args.repeats // 2}; Django test client, "
        "DEBUG off, PostgreSQL. Times in ms.\n\n"
        + md_table(header, rows)
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
