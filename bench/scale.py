"""Pages and API lists at 10k / 100k / 1M claims on PostgreSQL (issue 13), and the audit
log's transitions per second under 8 writers.

For every size, a private database ``claimlens_scale_<size>`` is bulk-seeded with
server-side ``INSERT … SELECT generate_series`` (one statement per table, so 1M claims take
minutes): 200 shops, one of which holds 20 % of the claims, up to 100k buyers, one order,
one photo (with a check run and one or two findings) per claim, claims in every status,
decisions for the decided ones, assignments, and two audit events per claim written in the
hash-chain format of the code that seeds (recomputed in Python, copied in with ``COPY``).
``--reuse`` keeps a seeded database (it is only migrated), so 1M is seeded once.

Then, in this process with Django's test client (no HTTP server: what is measured is the
view, its queries and the template; DEBUG off), every page ``--repeat`` times serially and
again from ``--clients`` (4) threads at once: the large shop's claim page, the review page,
the queues overview, statistics 7 and 90 days, the API lists ``?status=awaiting_merchant``
and ``?status=closed`` and the API detail; take-next with ``--reviewers`` (8) processes at
once; the deadline sweep with ``--due`` (5,000) claims past their deadline; the audit
log's transitions/s with 8 writer processes. Results: ``bench/out/scale.json`` and
``bench/out/scale.md``. ``--sizes 10k,1m`` runs a subset; ``--only pages,take`` a part.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, percentile, summary_ms, write_json, write_text  # noqa: E402

BASE_URL = os.environ.get("BENCH_SCALE_URL", "postgres://postgres@127.0.0.1:5432/claimlens_scale")
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
MERCHANTS = 200
BIG_SHOP_SHARE = 0.20
PARTS = ("pages", "take", "deadlines", "audit")  # and "explain", "ingest" on request
RATIONALE = "Scale benchmark decision: the buyer's photo is an edited listing photo."


def database_url(size: str) -> str:
    parts = urlsplit(BASE_URL)
    return urlunsplit(parts._replace(path=f"{parts.path}_{size}"))


def admin_connect(url: str):
    import psycopg

    return psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True)


def database_exists(url: str) -> bool:
    name = urlsplit(url).path.lstrip("/")
    with admin_connect(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def recreate_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("AUDIT_CHECKPOINT_EVERY", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("API_RATE", "1000000/min")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")
    import django

    django.setup()


# --- seeding ----------------------------------------------------------------------------

# Status shares, per thousand claims (every status of the lifecycle).
STATUS_PER_MILLE = [
    ("received", 5),
    ("checking", 5),
    ("awaiting_merchant", 80),
    ("awaiting_buyer", 20),
    ("in_review", 50),
    ("appealed", 5),
    ("decided", 50),
    ("withdrawn", 25),
    ("closed", 760),
]


def _status_case() -> str:
    parts, upto = [], 0
    for status, share in STATUS_PER_MILLE:
        upto += share
        parts.append(f"WHEN n % 1000 < {upto} THEN '{status}'")
    return "CASE " + " ".join(parts) + " END"


def seed(url: str, claims: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from merchants.models import Membership, Merchant, PlatformClient
    from merchants.services import hash_token

    started = time.perf_counter()
    recreate_database(url)
    connection.close()
    call_command("migrate", verbosity=0)
    timings = {"migrate": round(time.perf_counter() - started, 1)}
    buyers = min(100_000, max(1_000, claims // 10))
    shops = [
        Merchant.objects.create(platform_id=f"scale-shop-{n}", name=f"Scale shop {n}").pk
        for n in range(MERCHANTS)
    ]
    owner = get_user_model().objects.create_user("scale-owner")
    Membership.objects.create(user=owner, merchant_id=shops[0], role="owner")
    client = PlatformClient.objects.create(
        name="scale-client",
        token_hash=hash_token("cl_scale-token"),
        token_prefix="cl_scale",  # noqa: S106 - a bench token
    )
    client.merchants.set(shops)
    for n in range(12):
        group = "senior reviewers" if n % 4 == 3 else "reviewers"
        user = get_user_model().objects.create_user(f"scale-reviewer-{n}")
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    params = {
        "claims": claims,
        "buyers": buyers,
        "shops": shops,
        "big": shops[0],
        "big_every": round(1 / BIG_SHOP_SHARE),
    }

    def run(label: str, sql: str) -> None:
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        timings[label] = round(time.perf_counter() - began, 1)
        print(f"  {label}: {timings[label]} s", flush=True)

    run(
        "buyers",
        """INSERT INTO refunds_buyer (platform_id, display_name, phone, created_at,
               account_created_at)
           SELECT 'scale-buyer-' || b, 'Buyer ' || b, '', now(), now() - interval '2 years'
           FROM generate_series(1, %(buyers)s) AS b""",
    )
    # Shop 0 gets every fifth order (20 %), the others share the rest.
    run(
        "orders",
        """INSERT INTO refunds_order (merchant_id, buyer_id, platform_id, total_amount,
               shipping_address, paid_at, created_at)
           SELECT CASE WHEN i %% %(big_every)s = 0 THEN %(big)s
                       ELSE (%(shops)s::int[])[2 + i %% (cardinality(%(shops)s::int[]) - 1)]
                  END,
                  (SELECT min(id) FROM refunds_buyer) + (i::bigint * 7919) %% %(buyers)s,
                  'scale-order-' || i, 199.00, '',
                  now() - make_interval(days => 2 + (i * 31) %% 365), now()
           FROM generate_series(1, %(claims)s) AS i""",
    )
    queue_case = (
        "CASE WHEN n %% 10 = 2 THEN (SELECT id FROM refunds_reviewqueue WHERE slug = "
        "'likely-forgery') WHEN n %% 10 = 3 THEN (SELECT id FROM refunds_reviewqueue WHERE "
        "slug = 'high-value') ELSE (SELECT id FROM refunds_reviewqueue WHERE slug = "
        "'standard') END"
    )
    status = _status_case().replace("%", "%%")
    run(
        "claims",
        f"""INSERT INTO refunds_refundclaim (order_id, merchant_id, buyer_id, platform_id,
               amount, order_total, reason, description, status, risk_score, risk_reasons,
               queue_id, merchant_response, merchant_statement, merchant_deadline,
               buyer_deadline, review_deadline, appeal_deadline, outcome, refund_amount,
               confirmed_forgery, created_at, updated_at, decided_at)
           SELECT o.id, o.merchant_id, o.buyer_id, 'scale-claim-' || n, 99.00, 199.00,
                  (ARRAY['damaged', 'not_received', 'not_as_described', 'wrong_item'])
                      [1 + n %% 4],
                  'Arrived cracked', s.status, (n * 13) %% 101, '[]'::jsonb,
                  CASE WHEN s.status IN ('in_review', 'appealed', 'decided', 'closed')
                       THEN {queue_case} END,
                  CASE WHEN s.status IN ('in_review', 'appealed', 'decided', 'closed')
                       THEN 'contest' ELSE '' END,
                  '',
                  CASE WHEN s.status = 'awaiting_merchant'
                       THEN now() + make_interval(hours => 1 + n %% 48) END,
                  CASE WHEN s.status = 'awaiting_buyer'
                       THEN now() + make_interval(hours => 1 + n %% 48) END,
                  CASE WHEN s.status IN ('in_review', 'appealed')
                       THEN now()
                            + make_interval(hours => ((n::bigint * 7919) %% 72 - 24)::int)
                       END,
                  CASE WHEN s.status = 'decided' THEN now() + interval '7 days' END,
                  CASE WHEN s.status IN ('decided', 'closed')
                       THEN (ARRAY['refund_denied', 'refund_approved', 'partial_refund',
                                   'refund_denied'])[1 + n %% 4] ELSE '' END,
                  CASE WHEN s.status IN ('decided', 'closed')
                       THEN (ARRAY[0, 99, 50, 0])[1 + n %% 4] END,
                  s.status IN ('decided', 'closed') AND n %% 4 IN (0, 3) AND n %% 3 = 0,
                  o.created_at, o.created_at + interval '1 day',
                  CASE WHEN s.status IN ('decided', 'closed')
                       THEN o.created_at + interval '1 day' END
           FROM (SELECT id, merchant_id, buyer_id, paid_at AS created_at,
                        row_number() OVER (ORDER BY id)::int AS n FROM refunds_order) AS o
           CROSS JOIN LATERAL (SELECT {status} AS status) AS s""",  # noqa: S608
    )
    run(
        "evidence",
        """INSERT INTO evidence_evidencefile (uuid, attached_to, claim_id, submitted_by,
               original, display, original_name, sha256, content_type, size, width, height,
               status, rejection_code, rejection_message, phash, phash_0, phash_1, phash_2,
               phash_3, check_attempts, checked_at, created_at)
           SELECT gen_random_uuid(), 'claim', c.id, 'buyer', 'scale/' || c.id || '.jpg',
                  '', 'photo.jpg', md5(c.id::text) || md5(c.id::text || 'x'), 'image/jpeg',
                  900000, 2000, 1500, 'checked', '', '', h - 9223372036854775807,
                  (h >> 48) & 65535, (h >> 32) & 65535, (h >> 16) & 65535, h & 65535,
                  1, c.created_at, c.created_at
           FROM (SELECT id, created_at,
                        ('x' || substr(md5(id::text), 1, 15))::bit(60)::bigint AS h
                 FROM refunds_refundclaim) AS c""",
    )
    run(
        "check runs",
        """INSERT INTO evidence_checkrun (evidence_id, check_name, check_version, status,
               started_at, finished_at, duration_ms, error)
           SELECT id, 'reference_match', 3, 'done', created_at, created_at, 40, ''
           FROM evidence_evidencefile""",
    )
    run(
        "findings",
        """INSERT INTO evidence_finding (check_run_id, evidence_id, claim_id, code, severity,
               weight, message, params, details, created_at)
           SELECT r.id, e.id, e.claim_id, f.code, f.severity, f.weight, f.message, '{}',
                  '{}', e.created_at
           FROM evidence_checkrun r JOIN evidence_evidencefile e ON e.id = r.evidence_id
           CROSS JOIN LATERAL (VALUES
               ('exif_present', 'info', 0, 'The photo carries camera metadata.', true),
               ('listing_photo_reused', 'high', 60,
                'The photo matches the listing photo.', e.claim_id %% 5 = 0)
           ) AS f(code, severity, weight, message, keep)
           WHERE f.keep""",
    )
    run(
        "decisions",
        """INSERT INTO refunds_decision (claim_id, reviewer_id, decided_by_merchant, outcome,
               refund_amount, rationale, confirmed_forgery, on_appeal, created_at)
           SELECT id, (SELECT min(id) FROM auth_user WHERE username LIKE 'scale-reviewer-%%'),
                  false, outcome, refund_amount, 'Scale benchmark decision.',
                  confirmed_forgery, false, decided_at
           FROM refunds_refundclaim WHERE outcome <> ''""",
    )
    run(
        "assignments",
        """INSERT INTO refunds_assignment (claim_id, reviewer_id, for_appeal, assigned_at,
               last_activity_at, expires_at, released_at)
           SELECT id, (SELECT min(id) FROM auth_user WHERE username LIKE 'scale-reviewer-%%'),
                  false, decided_at - interval '1 hour', decided_at - interval '1 hour',
                  decided_at, decided_at
           FROM refunds_refundclaim WHERE decided_at IS NOT NULL""",
    )
    began = time.perf_counter()
    events = seed_audit()
    timings["audit events"] = round(time.perf_counter() - began, 1)
    print(f"  audit events ({events}): {timings['audit events']} s", flush=True)
    run("analyze", "VACUUM ANALYZE")
    timings["total"] = round(time.perf_counter() - started, 1)
    return {"claims": claims, "buyers": buyers, "audit_events": events, "seconds": timings}


def seed_audit(batch: int = 50_000) -> int:
    """Two events per claim (submitted, then its last transition), hashed by the code's
    own :func:`refunds.audit.compute_hash` in one global (legacy) chain, written with
    COPY."""
    from django.db import connection

    from refunds import audit
    from refunds.models import AuditEvent

    actor = "platform:scale-client"
    audit_sequence = "refunds_auditevent_seq_seq"
    prev, seq, written, last_id = audit.GENESIS, 0, 0, 0
    columns = [
        "seq",
        "claim_id",
        "actor_label",
        "action",
        "from_status",
        "to_status",
        "reason",
        "data",
        "created_at",
        "prev_hash",
        "hash",
    ]
    raw = connection.connection
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, status, created_at, updated_at FROM refunds_refundclaim "
                "WHERE id > %s ORDER BY id LIMIT %s",
                [last_id, batch],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        buffer = io.StringIO()
        for claim_id, status, created, updated in rows:
            steps = [("submitted", "", "received", created)]
            if status != "received":
                steps.append(("status_changed", "received", status, updated))
            for action, source, target, at in steps:
                seq += 1
                event = AuditEvent(
                    seq=seq,
                    claim_id=claim_id,
                    actor_label=actor,
                    action=action,
                    from_status=source,
                    to_status=target,
                    reason="",
                    data={},
                    created_at=at,
                    prev_hash=prev,
                )
                # The legacy global chain (chain columns NULL): what a log written before
                # per-claim chains holds, so the migration's case is what is measured.
                event.hash = audit.compute_hash(event)
                prev = event.hash
                values = [
                    seq,
                    claim_id,
                    actor,
                    action,
                    source,
                    target,
                    "",
                    "{}",
                    at.isoformat(),
                    event.prev_hash,
                    event.hash,
                ]
                buffer.write("\t".join(str(v) for v in values) + "\n")
                written += 1
        with raw.cursor() as cursor:
            with cursor.copy(
                f"COPY refunds_auditevent ({', '.join(columns)}) FROM STDIN"  # noqa: S608
            ) as copy:
                copy.write(buffer.getvalue())
        raw.commit() if not raw.autocommit else None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s", [audit_sequence])
        if cursor.fetchone():  # the per-claim chains' sequence: continue after the seed
            cursor.execute("SELECT setval(%s, %s)", [audit_sequence, max(seq, 1)])
    return written


# --- measuring --------------------------------------------------------------------------


def _sample_ids() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM merchants_merchant WHERE platform_id = 'scale-shop-0'",
        )
        (big,) = cursor.fetchone()
        cursor.execute(
            "SELECT id FROM refunds_refundclaim WHERE merchant_id = %s AND status = "
            "'awaiting_merchant' ORDER BY id DESC LIMIT 20",
            [big],
        )
        merchant_claims = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "SELECT id FROM refunds_refundclaim WHERE status = 'in_review' "
            "ORDER BY id DESC LIMIT 20"
        )
        review_claims = [r[0] for r in cursor.fetchall()]
    return {"big": big, "merchant_claims": merchant_claims, "review_claims": review_claims}


def _pages(ids: dict) -> list[tuple[str, str, str]]:
    """(name, who, url or a pattern with {claim})."""
    return [
        ("claim page (merchant)", "merchant", "/claims/{merchant_claim}/"),
        ("review page", "reviewer", "/review/claims/{review_claim}/"),
        ("queues overview", "reviewer", "/review/"),
        ("statistics 7 days", "reviewer", "/review/stats/?days=7"),
        ("statistics 90 days", "reviewer", "/review/stats/?days=90"),
        ("API list awaiting_merchant", "api", "/api/v1/claims/?status=awaiting_merchant"),
        ("API list closed", "api", "/api/v1/claims/?status=closed"),
        ("API detail", "api", "/api/v1/claims/{merchant_claim}/"),
    ]


def _client(who: str):
    from django.contrib.auth import get_user_model
    from django.test import Client

    if who == "api":
        return Client(HTTP_AUTHORIZATION="Token cl_scale-token")
    client = Client()
    name = "scale-owner" if who == "merchant" else "scale-reviewer-3"
    client.force_login(get_user_model().objects.get(username=name))
    return client


def _get(client, pattern: str, ids: dict, n: int) -> float:
    url = pattern.format(
        merchant_claim=ids["merchant_claims"][n % len(ids["merchant_claims"])],
        review_claim=ids["review_claims"][n % len(ids["review_claims"])],
    )
    started = time.perf_counter()
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return elapsed


def measure_pages(repeat: int, clients: int, skip: str = "") -> dict:
    from django.db import connections

    ids = _sample_ids()
    results = {}
    for name, who, pattern in _pages(ids):
        if skip and any(word in name for word in skip.split(",")):
            continue
        client = _client(who)
        _get(client, pattern, ids, 0)  # warm-up
        serial = [_get(client, pattern, ids, n) for n in range(repeat)]
        concurrent: list[float] = []
        lock = threading.Lock()

        def worker(index: int, who=who, pattern=pattern, concurrent=concurrent, lock=lock):
            own = _client(who)
            times = [_get(own, pattern, ids, index + n) for n in range(repeat)]
            with lock:
                concurrent.extend(times)
            connections.close_all()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results[name] = {
            "serial": summary_ms(serial),
            f"{clients}_clients": summary_ms(concurrent),
        }
        print(
            f"  {name}: serial p50 {results[name]['serial']['median']} ms, "
            f"{clients} clients p95 {results[name][f'{clients}_clients']['p95']} ms",
            flush=True,
        )
    return results


def explain_pages(top: int = 3) -> str:
    """Every page's queries, timed; ``EXPLAIN (ANALYZE, BUFFERS)`` of its slowest ones."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    ids = _sample_ids()
    out = []
    for name, who, pattern in _pages(ids):
        client = _client(who)
        _get(client, pattern, ids, 0)
        with CaptureQueriesContext(connection) as captured:
            _get(client, pattern, ids, 1)
        queries = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
        total = sum(float(q["time"]) for q in queries)
        out.append(f"## {name}: {len(queries)} queries, {1000 * total:.1f} ms in SQL\n")
        for query in queries[:top]:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                transaction.set_rollback(True)
            out.append(f"-- {1000 * float(query['time']):.1f} ms\n{sql}\n\n{plan}\n")
    return "\n".join(out)


def _ingest_worker(index: int, count: int, shop: int, times: list, lock) -> None:
    import json

    from django.db import connections

    client = _client("api")
    own = []
    for n in range(count):
        started = time.perf_counter()
        order = client.post(
            "/api/v1/orders/",
            json.dumps(
                {
                    "merchant": shop,
                    "platform_id": f"ingest-{os.getpid()}-{index}-{n}-{time.time_ns()}",
                    "buyer": {"platform_id": f"ingest-buyer-{n % 500}", "display_name": "B"},
                    "items": [{"title": "Mug", "unit_price": "99.00"}],
                    "paid_at": "2026-11-20T10:00:00Z",
                }
            ),
            content_type="application/json",
        )
        claim = client.post(
            "/api/v1/claims/",
            json.dumps({"order": order.json()["id"], "amount": "99.00", "reason": "damaged"}),
            content_type="application/json",
        )
        if order.status_code != 201 or claim.status_code != 201:
            raise RuntimeError(f"ingest: {order.status_code} {claim.status_code}")
        own.append(time.perf_counter() - started)
    with lock:
        times.extend(own)
    connections.close_all()


def measure_ingest(threads: int = 4, per_thread: int = 50) -> dict:
    """Order + claim (no photo) through the API from ``threads`` clients at once."""
    ids = _sample_ids()
    times: list[float] = []
    lock = threading.Lock()
    workers = [
        threading.Thread(target=_ingest_worker, args=(i, per_thread, ids["big"], times, lock))
        for i in range(threads)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    return {
        "threads": threads,
        "claims": len(times),
        "claims_per_second": round(len(times) / wall, 1),
        "order_plus_claim_ms": summary_ms(times),
    }


def _take_worker(url: str, username: str, takes: int, barrier, results) -> None:
    django_setup(url)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from refunds import services
    from refunds.exceptions import NothingToReview

    reviewer = get_user_model().objects.get(username=username)
    rows = []
    barrier.wait()
    for _ in range(takes):
        started = time.perf_counter()
        try:
            claim = services.claim_take_next(reviewer=reviewer)
        except NothingToReview:
            rows.append((time.perf_counter() - started, None))
            continue
        rows.append((time.perf_counter() - started, claim.pk))
        services.claim_decide(
            claim=claim, reviewer=reviewer, outcome="refund_denied", rationale=RATIONALE
        )
    connection.close()
    results.put(rows)


def measure_take(url: str, reviewers: int, takes: int) -> dict:
    from django.db import connections

    names = [f"scale-reviewer-{n}" for n in range(reviewers) if n % 4 != 3]
    names += [f"scale-reviewer-{n}" for n in range(8, 8 + reviewers - len(names))]
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(names))
    queue = context.Queue()
    processes = [
        context.Process(target=_take_worker, args=(url, name, takes, barrier, queue))
        for name in names
    ]
    for process in processes:
        process.start()
    rows = [row for _ in processes for row in queue.get()]
    for process in processes:
        process.join()
    taken = [pk for _t, pk in rows if pk is not None]
    seconds = [t for t, _pk in rows]
    return {
        "reviewers": len(names),
        "takes": len(rows),
        "nothing_to_review": sum(1 for _t, pk in rows if pk is None),
        "claims_shared": len(taken) - len(set(taken)),
        "take_next_ms": summary_ms(seconds),
        "p95_ms": round(1000 * percentile(seconds, 95), 1),
    }


def measure_deadlines(due: int) -> dict:
    """Make ``due`` claims awaiting the merchant overdue, then time one deadline tick."""
    from django.db import connection

    from refunds import services

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE refunds_refundclaim SET merchant_deadline = now() - interval '1 minute' "
            "WHERE id IN (SELECT id FROM refunds_refundclaim WHERE status = "
            "'awaiting_merchant' ORDER BY id LIMIT %s)",
            [due],
        )
    started = time.perf_counter()
    moved = services.enforce_deadlines()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM refunds_refundclaim WHERE status = 'awaiting_merchant' "
            "AND merchant_deadline < now()"
        )
        (left,) = cursor.fetchone()
    return {"due": due, "moved": moved, "left_due": left, "seconds": round(seconds, 2)}


def _audit_worker(url: str, claim_ids: list[int], seconds: float, barrier, results) -> None:
    django_setup(url)
    from django.db import connection, transaction

    from refunds import audit
    from refunds.models import RefundClaim

    actor = audit.Actor.system("bench")
    done = 0
    barrier.wait()
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        claim_id = claim_ids[n % len(claim_ids)]
        n += 1
        with transaction.atomic():
            with connection.cursor() as cursor:
                # What lifecycle.transition does around the event: lock and touch the row.
                cursor.execute(
                    "UPDATE refunds_refundclaim SET updated_at = now() WHERE id = %s",
                    [claim_id],
                )
            audit.record(action="bench_touch", actor=actor, claim=RefundClaim(pk=claim_id))
        done += 1
    connection.close()
    results.put(done)


def measure_audit(url: str, writers: int, seconds: float) -> dict:
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM refunds_refundclaim ORDER BY id LIMIT %s", [writers * 50])
        ids = [r[0] for r in cursor.fetchall()]
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers)
    queue = context.Queue()
    processes = [
        context.Process(target=_audit_worker, args=(url, ids[w::writers], seconds, barrier, queue))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    total = sum(queue.get() for _ in processes)
    for process in processes:
        process.join()
    return {"writers": writers, "seconds": seconds, "events": total, "per_second": total / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1m")
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--reuse", action="store_true", help="keep a seeded database")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--takes", type=int, default=15)
    parser.add_argument("--due", type=int, default=5_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--audit-seconds", type=float, default=15)
    parser.add_argument("--label", default="")
    parser.add_argument("--skip-pages", default="", help="pages whose name has these words")
    parser.add_argument("--seed-only", action="store_true")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    if len(sizes) != 1:
        # One Django per process: every size runs in a child process of its own.
        for size in sizes:
            command = [sys.executable, __file__, *sys.argv[1:], "--sizes", size]
            import subprocess

            subprocess.run(command, check=True)  # noqa: S603 - this same script
        return 0
    size = sizes[0]
    url = database_url(size)
    django_setup(url)
    from django.core.management import call_command

    result: dict = {"size": size, "load_average_start": os.getloadavg()}
    if args.reuse and database_exists(url):
        began = time.perf_counter()
        call_command("migrate", verbosity=0)
        result["migrate_seconds"] = round(time.perf_counter() - began, 1)
    else:
        print(f"seeding {size}", flush=True)
        result["seed"] = seed(url, SIZES[size])
    if args.seed_only:
        print(result, flush=True)
        return 0
    label = f"-{args.label}" if args.label else ""
    if "explain" in parts:
        path = write_text(f"scale-{size}{label}-plans.txt", explain_pages())
        print(f"plans: {path}", flush=True)
    if "pages" in parts:
        print(f"pages at {size}", flush=True)
        result["pages"] = measure_pages(args.repeat, args.clients, args.skip_pages)
    if "take" in parts:
        print(f"take-next at {size}", flush=True)
        result["take_next"] = measure_take(url, args.reviewers, args.takes)
        print(f"  {result['take_next']}", flush=True)
    if "audit" in parts:
        result["audit"] = measure_audit(url, args.writers, args.audit_seconds)
        print(f"  audit: {result['audit']}", flush=True)
    if "ingest" in parts:
        result["ingest"] = measure_ingest()
        print(f"  ingest: {result['ingest']}", flush=True)
    if "deadlines" in parts:
        result["deadlines"] = measure_deadlines(args.due)
        print(f"  deadlines: {result['deadlines']}", flush=True)
    result["load_average_end"] = os.getloadavg()
    write_json(f"scale-{size}{label}", result)
    write_text(f"scale-{size}{label}.md", report(result))
    return 0


def report(result: dict) -> str:
    lines = [f"# Scale benchmark, {result['size']} claims", ""]
    pages = result.get("pages", {})
    if pages:
        rows = []
        for name, figures in pages.items():
            concurrent = next(v for k, v in figures.items() if k.endswith("_clients"))
            rows.append(
                [
                    name,
                    figures["serial"]["median"],
                    figures["serial"]["p95"],
                    concurrent["median"],
                    concurrent["p95"],
                ]
            )
        lines.append(
            md_table(["page", "serial p50", "serial p95", "4 clients p50", "4 clients p95"], rows)
        )
    for key in ("take_next", "ingest", "deadlines", "audit", "seed"):
        if key in result:
            lines += ["", f"{key}: {result[key]}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
