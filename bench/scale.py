"""Pages and API lists at 10k / 100k / 1M claims on PostgreSQL (issue 13), and the audit
log's transitions per second under 8 writers.

For every size, a private database ``claimlens_scale_<size>`` is bulk-seeded with
server-side ``INSERT … SELECT generate_series`` (one statement per table, so 1M claims take
minutes) with what the product itself writes: one platform (``scale``) with the seed
queues and routing rules every platform gets, 200 shops of it (one holds 20 % of the
claims), its API client and 12 reviewers, created through the services; up to 100k
buyers of the platform, one order per claim with its item and the buyer's snapshot,
claims in every status (``tenant`` set, queues and routing records from the live rules'
own answer for each kind of claim), one photo per claim with the check runs, findings
and per-photo verdict the checks store, decisions, appeals, assignments; then every
claim's audit history in its own hash chain and the photos' uploads in the custody chain
(``seed_audit``: the format ``verify_audit`` checks), and the status counters.
``--reuse`` keeps a seeded database (it is only migrated), so 1M is seeded once.
``--only neardup --sizes 10m`` seeds 10M perceptual hashes alone into
``claimlens_scale_10m`` and times the near-duplicate lookup.

Then, in this process with Django's test client (no HTTP server: what is measured is the
view, its queries and the template; DEBUG off), every page ``--repeat`` times serially and
again from ``--clients`` (4) forked processes at once: the large shop's claim page, the review page,
the queues overview, statistics 7 and 90 days, the API lists ``?status=awaiting_merchant``
and ``?status=closed`` and the API detail; take-next with ``--reviewers`` (8) processes at
once; the deadline sweep with ``--due`` (5,000) claims past their deadline; the audit
log's transitions/s with 8 writer processes. Results: ``bench/out/scale.json`` and
``bench/out/scale.md``. ``--sizes 10k,1m`` runs a subset; ``--only pages,take`` a part.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, summary_ms, write_json, write_text  # noqa: E402

BASE_URL = os.environ.get("BENCH_SCALE_URL", "postgres://postgres@127.0.0.1:5432/claimlens_scale")
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
# --only neardup: hashes alone
HASH_SIZES = {
    "10k": 10_000,
    "20k": 20_000,
    "100k": 100_000,
    # 230k photos: 230k whole-picture hashes + 43 crop hashes each = 10.1M indexed hashes
    "230k": 230_000,
    "1m": 1_000_000,
    "10m": 10_000_000,
}
MERCHANTS = 200
BIG_SHOP_SHARE = 0.20
PARTS = ("pages", "take", "deadlines", "audit")  # and "explain", "ingest" on request


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
    """Seed a fresh database with what the product itself would have written for
    ``claims`` claims of one platform (``scale``): see :func:`_seed_reference_data` and
    the statements below; the audit log last (:func:`seed_audit`)."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    recreate_database(url)
    connection.close()
    call_command("migrate", verbosity=0)
    timings = {"migrate": round(time.perf_counter() - started, 1)}
    buyers = min(100_000, max(1_000, claims // 10))
    params = {"claims": claims, "buyers": buyers, **_seed_reference_data()}
    params["big_every"] = round(1 / BIG_SHOP_SHARE)

    def run(label: str, sql: str) -> None:
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        timings[label] = round(time.perf_counter() - began, 1)
        print(f"  {label}: {timings[label]} s", flush=True)

    for label, sql in SEED_STATEMENTS:
        run(label, sql)
    # Fresh statistics before the audit pass reads claims and photos in keyset batches
    # (without them each batch's join was planned as a scan of every photo).
    run("analyze", "ANALYZE")
    began = time.perf_counter()
    events = seed_audit(params)
    timings["audit events"] = round(time.perf_counter() - began, 1)
    print(f"  audit events ({events}): {timings['audit events']} s", flush=True)
    from refunds import lifecycle, queue_counts

    began = time.perf_counter()
    lifecycle.counts_rebuild()  # the status counters, as the lifecycle would have kept them
    queue_counts.rebuild()  # and the queues' waiting counters
    timings["status counters"] = round(time.perf_counter() - began, 1)
    began = time.perf_counter()
    call_command("rebuild_rollups")  # the statistics page reads them, not the claims
    timings["rollups"] = round(time.perf_counter() - began, 1)
    print(f"  rollups: {timings['rollups']} s", flush=True)
    connection.close()
    began = time.perf_counter()
    import psycopg

    with psycopg.connect(url, autocommit=True) as own:
        own.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = round(time.perf_counter() - began, 1)
    timings["total"] = round(time.perf_counter() - started, 1)
    return {"claims": claims, "buyers": buyers, "audit_events": events, "seconds": timings}


SCALE_PLATFORM = "scale"
SCALE_CLIENT = "scale-client"
SCALE_TOKEN = "cl_scale-token"  # noqa: S105 - a bench token
CAMERA_PARAMS = {"camera": "Apple iPhone 13"}
COPY_PARAMS = {"label": "Listing photo 1", "similarity": 97}


def _seed_reference_data() -> dict:
    """Through the product's services: the platform with its seed queues and routing
    rules, 200 shops, the large shop's owner, the API client, 12 reviewers of the
    platform. Returns what the bulk statements need: ids, and what the product's own
    code says for the few kinds of claims seeded (routing result, verdicts, weights)."""
    import json

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from evidence import verdicts
    from evidence.scoring import weight_table
    from merchants import services as merchant_services
    from merchants.models import Membership, PlatformClient
    from refunds import routing

    platform = merchant_services.platform_create(slug=SCALE_PLATFORM, name="Scale marketplace")
    # platform_create gives it the seed queues and rules every platform gets.
    shops = [
        merchant_services.merchant_create(
            platform_id=f"scale-shop-{n}", name=f"Scale shop {n}", tenant=platform
        )
        for n in range(MERCHANTS)
    ]
    owner = get_user_model().objects.create_user("scale-owner")
    merchant_services.membership_add(merchant=shops[0], user=owner, role=Membership.Role.OWNER)
    client, _token = merchant_services.platform_client_create(
        name=SCALE_CLIENT, merchants=shops, tenant=platform
    )
    PlatformClient.objects.filter(pk=client.pk).update(
        token_hash=merchant_services.hash_token(SCALE_TOKEN), token_prefix=SCALE_TOKEN[:8]
    )
    reviewers = []
    for n in range(12):
        group = "senior reviewers" if n % 4 == 3 else "reviewers"
        user = get_user_model().objects.create_user(f"scale-reviewer-{n}")
        user.groups.add(Group.objects.get_or_create(name=group)[0])
        merchant_services.platform_staff_assign(user=user, platform=platform)
        reviewers.append(user)
    queues = dict(platform.queues.values_list("slug", "pk"))
    weights = weight_table()
    rules = routing.live_rules(tenant_id=platform.pk)

    def route(score: int, amount: str, codes: tuple, photo: str) -> routing.RouteResult:
        inputs = routing.RoutingInputs(
            risk_score=score,
            finding_codes=codes,
            amount=Decimal(amount),
            reason="damaged",
            merchant_id=shops[1].pk,
            photo_verdicts=(photo,),
            merchant_answered=True,
        )
        return routing.first_match(rules, inputs)

    copy_verdict = verdicts.decide(
        [
            verdicts.FindingRow(
                code="reference_copy",
                severity="critical",
                weight=weights.get("reference_copy", 0),
                message=COPY_MESSAGE,
                params=COPY_PARAMS,
                finding_id=0,
            )
        ]
    )
    clean_verdict = verdicts.decide(
        [
            verdicts.FindingRow(
                code="metadata_camera",
                severity="info",
                weight=weights.get("metadata_camera", 0),
                message=CAMERA_MESSAGE,
                params=CAMERA_PARAMS,
            )
        ]
    )
    copy_route = route(90, "99.00", ("metadata_camera", "reference_copy"), copy_verdict.code)
    value_route = route(30, "3500.00", ("metadata_camera",), clean_verdict.code)
    plain_route = route(30, "99.00", ("metadata_camera",), clean_verdict.code)
    check_versions = {"camera_metadata": 2, "reference_match": 4}

    def rule_of(result):
        return result.rule.pk if result.rule else None

    return {
        "tenant": platform.pk,
        "shops": [shop.pk for shop in shops],
        "big": shops[0].pk,
        "reviewer": reviewers[0].pk,
        "q_standard": queues["standard"],
        "q_forensic": queues["forensic"],
        "q_value": queues["high-value"],
        "q_appeals": queues["appeals"],
        "copy_queue": copy_route.queue_id or queues["standard"],
        "value_queue": value_route.queue_id or queues["standard"],
        "plain_queue": plain_route.queue_id or queues["standard"],
        "copy_rule": rule_of(copy_route),
        "value_rule": rule_of(value_route),
        "plain_rule": rule_of(plain_route),
        "copy_rule_name": copy_route.rule.name if copy_route.rule else "",
        "value_rule_name": value_route.rule.name if value_route.rule else "",
        "plain_rule_name": plain_route.rule.name if plain_route.rule else "",
        "copy_matched": json.dumps(copy_route.matched),
        "value_matched": json.dumps(value_route.matched),
        "plain_matched": json.dumps(plain_route.matched),
        "w_camera": weights.get("metadata_camera", 0),
        "w_copy": weights.get("reference_copy", 0),
        "camera_message": CAMERA_MESSAGE,
        "copy_message": COPY_MESSAGE,
        "camera_params": json.dumps(CAMERA_PARAMS),
        "copy_params": json.dumps(COPY_PARAMS),
        "copy_verdict": copy_verdict.code,
        "clean_verdict": clean_verdict.code,
        "copy_reasons": json.dumps(copy_verdict.reasons),
        "clean_reasons": json.dumps(clean_verdict.reasons),
        "rules_version": verdicts.RULES_VERSION,
        "check_versions": json.dumps(check_versions),
        "version_key": verdicts.version_key(check_versions),
    }


CAMERA_MESSAGE = "Camera recorded in the file: %(camera)s."
COPY_MESSAGE = (
    "This photo is a copy of your listing photo “%(label)s” (%(similarity)s%% similar): it"
    " was not taken of the item the buyer received."
)
# Which seeded claims are which (``o`` the order, ``n`` the claim's number): every fifth
# order's photo is a copy of the listing photo (forensic queue), every tenth a claim of
# 3,500 CNY (high-value queue), the rest standard.
IS_COPY = "o.id %% 5 = 0"
IS_VALUE = "o.total_amount > 1000"
REACHED_REVIEW = "('in_review', 'awaiting_buyer', 'appealed', 'decided', 'closed')"
PAST_CHECKS = "s.status NOT IN ('received', 'checking')"
MERCHANT_ACCEPTED = "s.status IN ('decided', 'closed') AND n %% 4 = 1"

SEED_STATEMENTS = [
    (
        "buyers",
        """INSERT INTO refunds_buyer (tenant_id, platform_id, display_name, phone, created_at,
               account_created_at)
           SELECT %(tenant)s, 'scale-buyer-' || b, 'Buyer ' || b,
                  '+86138' || lpad(b::text, 8, '0'), now() - interval '1 year',
                  now() - interval '2 years'
           FROM generate_series(1, %(buyers)s) AS b""",
    ),
    # Shop 0 gets every fifth order (20 %), the others share the rest. The order keeps
    # the buyer's name and phone as given with it.
    (
        "orders",
        """INSERT INTO refunds_order (merchant_id, buyer_id, platform_id, total_amount,
               shipping_address, buyer_name, buyer_phone, paid_at, shipped_at,
               delivered_at, created_at)
           SELECT CASE WHEN i %% %(big_every)s = 0 THEN %(big)s
                       ELSE (%(shops)s::int[])[2 + i %% (cardinality(%(shops)s::int[]) - 1)]
                  END,
                  b.id, 'scale-order-' || i,
                  CASE WHEN i %% 10 = 3 THEN 4999.00 ELSE 199.00 END,
                  'Room ' || i || ', Scale Road, Hangzhou', b.display_name, b.phone, t.paid,
                  t.paid + interval '1 day', t.paid + interval '3 days',
                  t.paid + interval '1 minute'
           FROM generate_series(1, %(claims)s) AS i
           CROSS JOIN LATERAL (SELECT now() - make_interval(days => 5 + (i * 31) %% 365)
                               AS paid) AS t
           JOIN refunds_buyer b ON b.tenant_id = %(tenant)s
                AND b.platform_id = 'scale-buyer-' || (1 + (i::bigint * 7919) %% %(buyers)s)""",
    ),
    (
        "order items",
        """INSERT INTO refunds_orderitem (order_id, title, quantity, unit_price)
           SELECT id, 'Ceramic mug', 1, total_amount FROM refunds_order""",
    ),
    (
        "claims",
        f"""INSERT INTO refunds_refundclaim (order_id, merchant_id, buyer_id, tenant_id,
               platform_id, amount, order_total, reason, description, status, risk_score,
               risk_reasons, queue_id, merchant_response, merchant_statement,
               merchant_deadline, buyer_deadline, review_deadline, appeal_deadline, outcome,
               refund_amount, confirmed_forgery, ai_suspect_note, created_at, updated_at,
               decided_at)
           SELECT o.id, o.merchant_id, o.buyer_id, %(tenant)s, 'scale-claim-' || n,
                  CASE WHEN {IS_VALUE} THEN 3500.00 ELSE 99.00 END, o.total_amount,
                  (ARRAY['damaged', 'not_received', 'not_as_described', 'wrong_item'])
                      [1 + n %% 4],
                  'Arrived cracked', s.status,
                  CASE WHEN {PAST_CHECKS} THEN
                      CASE WHEN {IS_COPY} THEN 90 ELSE (n * 13) %% 60 END END,
                  '[]'::jsonb,
                  CASE WHEN s.status = 'appealed' THEN %(q_appeals)s
                       WHEN NOT {PAST_CHECKS} THEN NULL
                       WHEN {IS_COPY} THEN %(copy_queue)s
                       WHEN {IS_VALUE} THEN %(value_queue)s
                       ELSE %(plain_queue)s END,
                  CASE WHEN {MERCHANT_ACCEPTED} THEN 'accept'
                       WHEN s.status IN {REACHED_REVIEW} THEN 'contest' ELSE '' END,
                  CASE WHEN {MERCHANT_ACCEPTED} THEN 'We refund, sorry.'
                       WHEN s.status IN {REACHED_REVIEW}
                       THEN 'The mug was intact when packed.' ELSE '' END,
                  CASE WHEN s.status = 'awaiting_merchant'
                       THEN now() + make_interval(hours => 1 + n %% 48)
                       WHEN {PAST_CHECKS} THEN o.created_at + interval '3 days' END,
                  CASE WHEN s.status = 'awaiting_buyer'
                       THEN now() + make_interval(hours => 1 + n %% 48) END,
                  CASE WHEN s.status IN ('in_review', 'appealed')
                       THEN now()
                            + make_interval(hours => ((n::bigint * 7919) %% 72 - 24)::int)
                       WHEN s.status IN {REACHED_REVIEW} AND NOT ({MERCHANT_ACCEPTED})
                       THEN o.created_at + interval '2 days' END,
                  CASE WHEN s.status = 'decided' THEN now() + interval '7 days'
                       WHEN s.status = 'closed' THEN o.created_at + interval '8 days' END,
                  CASE WHEN {MERCHANT_ACCEPTED} THEN 'refund_approved'
                       WHEN s.status IN ('decided', 'closed', 'appealed')
                       THEN (ARRAY['refund_denied', 'refund_approved', 'partial_refund',
                                   'refund_denied'])[1 + n %% 4] ELSE '' END,
                  CASE WHEN {MERCHANT_ACCEPTED} THEN
                           CASE WHEN {IS_VALUE} THEN 3500.00 ELSE 99.00 END
                       WHEN s.status IN ('decided', 'closed', 'appealed')
                       THEN (ARRAY[0, 99, 50, 0])[1 + n %% 4] END,
                  s.status IN ('decided', 'closed') AND n %% 4 IN (0, 3) AND {IS_COPY},
                  '', o.created_at, o.created_at + interval '1 day',
                  CASE WHEN s.status IN ('decided', 'closed', 'appealed')
                       THEN o.created_at + interval '1 day' END
           FROM (SELECT id, merchant_id, buyer_id, total_amount, created_at,
                        row_number() OVER (ORDER BY id)::int AS n FROM refunds_order) AS o
           CROSS JOIN LATERAL (SELECT {_status_case().replace("%", "%%")} AS status) AS s""",  # noqa: S608
    ),
    # One photo per claim, uploaded by the platform for the buyer; checked unless the
    # claim is still received (pending) or checking.
    (
        "evidence",
        """INSERT INTO evidence_evidencefile (uuid, attached_to, claim_id, submitted_by,
               original, display, original_name, sha256, content_type, size, width, height,
               status, rejection_code, rejection_message, phash, phash_0, phash_1, phash_2,
               phash_3, check_attempts, checking_since, checked_at, created_at)
           SELECT u.uuid, 'claim', c.id, 'platform',
                  'evidence/original/' || substr(u.hex, 1, 2) || '/' || u.hex,
                  CASE WHEN c.status NOT IN ('received', 'checking') THEN
                      'evidence/display/' || substr(u.hex, 1, 2) || '/' || u.hex || '.jpg'
                      ELSE '' END,
                  'photo.jpg', md5(c.id::text) || md5(c.id::text || 'x'), 'image/jpeg',
                  900000, 2000, 1500,
                  CASE c.status WHEN 'received' THEN 'pending' WHEN 'checking' THEN 'checking'
                       ELSE 'checked' END,
                  '', '', h - 9223372036854775807,
                  (h >> 48) & 65535, (h >> 32) & 65535, (h >> 16) & 65535, h & 65535,
                  CASE WHEN c.status = 'received' THEN 0 ELSE 1 END,
                  CASE WHEN c.status = 'checking' THEN c.created_at END,
                  CASE WHEN c.status NOT IN ('received', 'checking') THEN c.created_at END,
                  c.created_at
           FROM (SELECT id, status, created_at,
                        ('x' || substr(md5(id::text), 1, 15))::bit(60)::bigint AS h
                 FROM refunds_refundclaim) AS c
           CROSS JOIN LATERAL (SELECT md5('scale-evidence-' || c.id)::uuid AS uuid,
                                      md5('scale-evidence-' || c.id) AS hex) AS u""",
    ),
    (
        "check runs",
        """INSERT INTO evidence_checkrun (evidence_id, check_name, check_version, status,
               started_at, finished_at, duration_ms, error)
           SELECT e.id, r.name, r.version, 'done', e.created_at, e.created_at, r.ms, ''
           FROM evidence_evidencefile e
           CROSS JOIN (VALUES ('camera_metadata', 2, 3.0), ('reference_match', 4, 40.0))
                AS r(name, version, ms)
           WHERE e.status = 'checked'""",
    ),
    (
        "findings",
        f"""INSERT INTO evidence_finding (check_run_id, evidence_id, claim_id, code, severity,
               weight, message, params, details, created_at)
           SELECT r.id, e.id, e.claim_id, f.code, f.severity, f.weight, f.message,
                  f.params::jsonb, '{{}}', e.created_at
           FROM evidence_checkrun r JOIN evidence_evidencefile e ON e.id = r.evidence_id
           JOIN refunds_refundclaim c ON c.id = e.claim_id
           JOIN refunds_order o ON o.id = c.order_id
           CROSS JOIN LATERAL (VALUES
               ('camera_metadata', 'metadata_camera', 'info', %(w_camera)s,
                %(camera_message)s, %(camera_params)s, true),
               ('reference_match', 'reference_copy', 'critical', %(w_copy)s,
                %(copy_message)s, %(copy_params)s, {IS_COPY})
           ) AS f(check_name, code, severity, weight, message, params, keep)
           WHERE f.keep AND f.check_name = r.check_name""",  # noqa: S608
    ),
    # The verdict evidence.pipeline.record_verdict computes from those findings.
    (
        "verdicts",
        """INSERT INTO evidence_evidenceverdict (evidence_id, verdict, reasons, rules_version,
               check_versions, version_key, is_current, created_at)
           SELECT e.id, CASE WHEN f.id IS NULL THEN %(clean_verdict)s ELSE %(copy_verdict)s END,
                  CASE WHEN f.id IS NULL THEN %(clean_reasons)s::jsonb
                       ELSE jsonb_set(%(copy_reasons)s::jsonb, '{0,finding_id}', to_jsonb(f.id))
                  END,
                  %(rules_version)s, %(check_versions)s::jsonb, %(version_key)s, true,
                  e.checked_at
           FROM evidence_evidencefile e
           LEFT JOIN evidence_finding f ON f.evidence_id = e.id AND f.code = 'reference_copy'
           WHERE e.status = 'checked'""",
    ),
    # The latest routing record of every routed claim: at the review stage for the claims
    # that entered review (the merchant answered), else as its checks completed.
    (
        "routing records",
        f"""INSERT INTO refunds_routingrecord (claim_id, stage, rule_id, rule_name, queue_id,
               inputs, matched, auto_outcome, created_at)
           SELECT c.id, CASE WHEN c.merchant_response = 'contest' THEN 'review'
                             ELSE 'checks' END,
                  CASE WHEN {IS_COPY} THEN %(copy_rule)s::int
                       WHEN {IS_VALUE} THEN %(value_rule)s::int ELSE %(plain_rule)s::int END,
                  CASE WHEN {IS_COPY} THEN %(copy_rule_name)s
                       WHEN {IS_VALUE} THEN %(value_rule_name)s ELSE %(plain_rule_name)s END,
                  CASE WHEN {IS_COPY} THEN %(copy_queue)s
                       WHEN {IS_VALUE} THEN %(value_queue)s ELSE %(plain_queue)s END,
                  jsonb_build_object(
                      'risk_score', c.risk_score,
                      'finding_codes', CASE WHEN {IS_COPY}
                          THEN '["metadata_camera", "reference_copy"]'::jsonb
                          ELSE '["metadata_camera"]'::jsonb END,
                      'amount', c.amount::text, 'reason', c.reason,
                      'merchant_id', c.merchant_id, 'buyer_claims_90d', 0,
                      'buyer_claims_365d', 0, 'buyer_confirmed_forgeries', 0,
                      'buyer_amount_in_forged_claims', '0', 'buyer_fraud_tier', 'none',
                      'photo_verdicts', jsonb_build_array(CASE WHEN {IS_COPY}
                          THEN %(copy_verdict)s ELSE %(clean_verdict)s END),
                      'merchant_answered', CASE WHEN c.merchant_response = 'contest'
                          THEN 'true'::jsonb ELSE 'null'::jsonb END,
                      'merchant_suspects_ai', false),
                  CASE WHEN {IS_COPY} THEN %(copy_matched)s::jsonb
                       WHEN {IS_VALUE} THEN %(value_matched)s::jsonb
                       ELSE %(plain_matched)s::jsonb END,
                  '', c.created_at + interval '1 hour'
           FROM refunds_refundclaim c JOIN refunds_order o ON o.id = c.order_id
           WHERE c.risk_score IS NOT NULL""",  # noqa: S608
    ),
    (
        "decisions",
        """INSERT INTO refunds_decision (claim_id, reviewer_id, decided_by_merchant, outcome,
               refund_amount, rationale, confirmed_forgery, on_appeal, automatic,
               findings_relied_on, created_at)
           SELECT id, CASE WHEN merchant_response = 'accept' THEN NULL ELSE %(reviewer)s END,
                  merchant_response = 'accept', outcome, refund_amount,
                  CASE WHEN merchant_response = 'accept' THEN merchant_statement
                       ELSE 'Scale benchmark decision.' END,
                  confirmed_forgery, false, false, '[]'::jsonb, decided_at
           FROM refunds_refundclaim WHERE decided_at IS NOT NULL""",
    ),
    (
        "appeals",
        """INSERT INTO refunds_appeal (claim_id, filed_by, reason, original_decision_id,
               created_at)
           SELECT d.claim_id, 'buyer', 'The photo shows the crack clearly.', d.id,
                  d.created_at + interval '1 hour'
           FROM refunds_decision d JOIN refunds_refundclaim c ON c.id = d.claim_id
           WHERE c.status = 'appealed'""",
    ),
    (
        "assignments",
        """INSERT INTO refunds_assignment (claim_id, reviewer_id, for_appeal, assigned_at,
               last_activity_at, expires_at, released_at)
           SELECT claim_id, reviewer_id, false, created_at - interval '1 hour',
                  created_at - interval '1 hour', created_at + interval '1 hour', created_at
           FROM refunds_decision WHERE reviewer_id IS NOT NULL""",
    ),
]


def seed_audit(params: dict, batch: int = 20_000) -> int:
    """Every seeded claim's history as the services write it, hashed by the code's own
    :func:`refunds.audit.compute_hash` in per-claim chains (the first event of each links
    to the legacy head: none in a fresh database, so GENESIS), the photo's upload in the
    custody chain (chain 0, as :func:`evidence.custody.record_upload` writes it); ``seq``
    in claim order, the sequence set after it. Written with COPY."""
    from types import SimpleNamespace

    from django.db import connection

    from refunds import audit

    slugs = {
        params["q_standard"]: "standard",
        params["q_forensic"]: "forensic",
        params["q_value"]: "high-value",
        params["q_appeals"]: "appeals",
    }
    rule_names = {
        params["copy_queue"]: params["copy_rule_name"],
        params["value_queue"]: params["value_rule_name"],
        params["plain_queue"]: params["plain_rule_name"],
    }
    client = f"platform:{SCALE_CLIENT}"
    checks, reviewer = "system:checks", "user:scale-reviewer-0"
    columns = [
        "seq",
        "claim_id",
        "actor_id",
        "actor_label",
        "action",
        "from_status",
        "to_status",
        "reason",
        "data",
        "evidence_id",
        "created_at",
        "chain_key",
        "chain_seq",
        "prev_hash",
        "hash",
    ]
    state = {"seq": 0, "custody_seq": 0, "custody_prev": audit.GENESIS, "written": 0}

    def history(row) -> list[tuple]:
        """(action, from, to, actor label, actor id, reason, data) of one claim, oldest
        first; the upload is marked by action alone."""
        (
            claim_id,
            status,
            _created,
            amount,
            reason,
            score,
            queue,
            response,
            statement,
            outcome,
            refund,
            *_rest,
        ) = row
        slug = slugs.get(queue, "standard")
        first_queue = queue if status != "appealed" else None
        events = [
            (
                "claim_submitted",
                "",
                "received",
                client,
                None,
                "",
                {"amount": str(amount), "reason": reason},
            ),
            (custody.UPLOADED,),
        ]
        if status == "received":
            return events
        events.append(
            (
                "checks_started",
                "received",
                "checking",
                checks,
                None,
                "evidence waiting for automated checks",
                {},
            )
        )
        if status == "checking":
            return events
        routed_slug = slugs.get(first_queue, "standard") if first_queue else slug
        if status == "appealed":
            routed_slug = "standard"
        events.append(
            (
                "checks_completed",
                "checking",
                "awaiting_merchant",
                checks,
                None,
                "suspicious evidence: longer response window" if score >= 70 else "",
                {"risk_score": score, "queue": routed_slug},
            )
        )
        if status == "awaiting_merchant":
            return events
        if status == "withdrawn":
            events.append(("withdrawn", "awaiting_merchant", "withdrawn", client, None, "", {}))
            return events
        if response == "accept":
            events.append(
                ("merchant_accepted", "awaiting_merchant", "decided", client, None, statement, {})
            )
        else:
            events.append(
                (
                    "merchant_contest",
                    "awaiting_merchant",
                    "in_review",
                    client,
                    None,
                    statement,
                    {
                        "offer_amount": None,
                        "queue": routed_slug,
                        "rule": rule_names.get(queue) or None,
                    },
                )
            )
            if status == "in_review":
                return events
            if status == "awaiting_buyer":
                events.append(
                    (
                        "buyer_evidence_requested",
                        "in_review",
                        "awaiting_buyer",
                        reviewer,
                        params["reviewer"],
                        "A photo of the whole parcel.",
                        {},
                    )
                )
                return events
            events.append(
                (
                    "decided",
                    "in_review",
                    "decided",
                    reviewer,
                    params["reviewer"],
                    "Scale benchmark decision.",
                    {"outcome": outcome, "refund_amount": str(refund)},
                )
            )
        if status == "appealed":
            events.append(
                (
                    "appealed",
                    "decided",
                    "appealed",
                    "platform:buyer",
                    None,
                    "The photo shows the crack clearly.",
                    {},
                )
            )
        elif status == "closed":
            events.append(
                (
                    "closed",
                    "decided",
                    "closed",
                    "system:deadlines",
                    None,
                    "decision final: appeal window over",
                    {},
                )
            )
        return events

    from evidence import custody

    def event_rows(row):
        claim_id, created = row[0], row[2]
        evidence_id, uuid, sha256 = row[-3:]
        prev, cseq = audit.GENESIS, 0
        for minutes, event in enumerate(history(row)):
            state["seq"] += 1
            at = created + dt.timedelta(minutes=minutes)
            if event[0] == custody.UPLOADED:
                state["custody_seq"] += 1
                data = {
                    "file": str(uuid),
                    "sha256": sha256,
                    "size": 900000,
                    "content_type": "image/jpeg",
                    "attached_to": "claim",
                    "target_id": claim_id,
                    "role": "platform",
                }
                fields = SimpleNamespace(
                    seq=state["seq"],
                    claim_id=None,
                    actor_id=None,
                    actor_label=client,
                    action=event[0],
                    from_status="",
                    to_status="",
                    reason="",
                    data=audit._normalise(data),
                    evidence_id=evidence_id,
                    created_at=at,
                    chain_key=audit.NO_CLAIM_CHAIN,
                    chain_seq=state["custody_seq"],
                    prev_hash=state["custody_prev"],
                )
                fields.hash = audit.compute_hash(fields)
                state["custody_prev"] = fields.hash
            else:
                action, source, target, label, actor_id, reason, data = event
                cseq += 1
                fields = SimpleNamespace(
                    seq=state["seq"],
                    claim_id=claim_id,
                    actor_id=actor_id,
                    actor_label=label,
                    action=action,
                    from_status=source,
                    to_status=target,
                    reason=reason,
                    data=audit._normalise(data),
                    evidence_id=None,
                    created_at=at,
                    chain_key=claim_id,
                    chain_seq=cseq,
                    prev_hash=prev,
                )
                fields.hash = audit.compute_hash(fields)
                prev = fields.hash
            yield tuple(
                json.dumps(fields.data) if name == "data" else getattr(fields, name)
                for name in columns
            )

    import datetime as dt
    import json

    raw = connection.connection
    last_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.id, c.status, c.created_at, c.amount, c.reason, c.risk_score, "
                "c.queue_id, c.merchant_response, c.merchant_statement, c.outcome, "
                "c.refund_amount, e.id, e.uuid, e.sha256 FROM refunds_refundclaim c "
                "JOIN evidence_evidencefile e ON e.claim_id = c.id "
                "WHERE c.id > %s ORDER BY c.id LIMIT %s",
                [last_id, batch],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        with raw.cursor() as cursor:
            with cursor.copy(
                f"COPY refunds_auditevent ({', '.join(columns)}) FROM STDIN"  # noqa: S608
            ) as copy:
                for row in rows:
                    for values in event_rows(row):
                        copy.write_row(values)
                        state["written"] += 1
        if not raw.autocommit:
            raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(%s, %s)", [audit.SEQUENCE, max(state["seq"], 1)])
    return state["written"]


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
    from refunds import selectors
    from refunds.models import RefundClaim

    # The large shop's inbox half-way down, in the date sort (a cursor, as its pages link).
    shop = RefundClaim.objects.filter(merchant_id=big)
    middle = (
        shop.order_by("-created_at", "-id").only("pk", "created_at")[shop.count() // 2 :].first()
    )
    deep = selectors._encode_cursor(0, middle, selectors._SEGMENTS["date"][0].key)
    return {
        "big": big,
        "merchant_claims": merchant_claims,
        "review_claims": review_claims,
        "deep_cursor": deep,
    }


def _pages(ids: dict) -> list[tuple[str, str, str]]:
    """(name, who, url or a pattern with {claim})."""
    return [
        ("inbox, first page", "merchant", "/claims/"),
        ("inbox, deep page", "merchant", "/claims/?sort=date&cursor={deep_cursor}"),
        ("claim page (merchant)", "merchant", "/claims/{merchant_claim}/"),
        ("review page", "reviewer", "/review/claims/{review_claim}/"),
        ("queues overview", "reviewer", "/review/"),
        # A bulk decision's preview by a finding code alone: a common code (the seed's
        # listing copies), then one no waiting claim has (every queue read to its end).
        ("bulk, finding reference_copy", "reviewer", "/review/bulk/?finding=reference_copy"),
        ("bulk, finding nobody has", "reviewer", "/review/bulk/?finding=reuse_other_buyer"),
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
        deep_cursor=ids["deep_cursor"],
        merchant_claim=ids["merchant_claims"][n % len(ids["merchant_claims"])],
        review_claim=ids["review_claims"][n % len(ids["review_claims"])],
    )
    started = time.perf_counter()
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return elapsed


def _page_worker(who: str, pattern: str, ids: dict, index: int, repeat: int, barrier, out):
    """One concurrent client: its own process (as a gunicorn worker is), connection and
    session; warmed up, then timed from the moment every client is ready."""
    from django.db import connections

    connections.close_all()  # never share the parent's connection after the fork
    client = _client(who)
    _get(client, pattern, ids, index)
    barrier.wait()
    out.put([_get(client, pattern, ids, index + n) for n in range(repeat)])
    connections.close_all()


def measure_pages(repeat: int, clients: int, skip: str = "", gc_freeze: bool = True) -> dict:
    """Each page ``repeat`` times serially, then from ``clients`` forked processes at once
    (threads of one process would queue for its GIL and time that instead)."""
    from django.db import connections

    ids = _sample_ids()
    context = multiprocessing.get_context("fork")
    results = {}
    if gc_freeze:
        # As config/wsgi.py does in every gunicorn worker once the application is loaded
        # (the forked clients inherit it).
        gc.freeze()
    for name, who, pattern in _pages(ids):
        if skip and any(word in name for word in skip.split(",")):
            continue
        client = _client(who)
        _get(client, pattern, ids, 0)  # warm-up
        serial = [_get(client, pattern, ids, n) for n in range(repeat)]
        connections.close_all()
        if gc_freeze:
            # Each page's clients start as a gunicorn worker does, from a frozen heap:
            # what the earlier pages left in this process frozen too. Else every forked
            # client's collector walks it (the review page's 4-client p95 after the
            # merchant pages: 225 ms, against 84–107 ms so; docs/performance.md).
            gc.collect()
            gc.freeze()
        barrier, out = context.Barrier(clients), context.Queue()
        processes = [
            context.Process(
                target=_page_worker, args=(who, pattern, ids, index, repeat, barrier, out)
            )
            for index in range(clients)
        ]
        for process in processes:
            process.start()
        concurrent = [t for _ in processes for t in out.get()]
        for process in processes:
            process.join()
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


def seed_hashes(url: str, rows: int, *, centred_crops_only: bool = False) -> dict:
    """A private database of ``rows`` indexed perceptual hashes (``--only neardup``,
    ``--sizes 10m``): the schema migrated, one platform, shop, buyer, order and claim,
    and ``rows`` checked claim photos attached to it whose pHash (and its four 16-bit
    chunks) is pseudo-random (md5 of the row number), inserted with generate_series; the
    chunk indexes built after the insert; VACUUM ANALYZE. Only what the lookup reads is
    realistic: the rows' other columns are placeholders. Each photo gets one crop hash per
    box of ``evidence.hashing.CROP_BOXES`` (``centred_crops_only``: the centred ladder
    alone, as migration 0009 stored)."""
    from django.core.management import call_command
    from django.db import connection

    from evidence.hashing import CROP_BOXES, CROP_CHUNK_BITS
    from merchants import services as merchant_services
    from refunds import services
    from refunds.audit import Actor

    boxes = [box for box in CROP_BOXES if not centred_crops_only or len(set(box)) == 1]
    started = time.perf_counter()
    recreate_database(url)
    connection.close()
    call_command("migrate", verbosity=0)
    platform = merchant_services.platform_create(slug=SCALE_PLATFORM, name="Hash benchmark")
    shop = merchant_services.merchant_create(
        platform_id="hash-shop", name="Hash shop", tenant=platform
    )
    buyer = services.buyer_upsert(platform_id="hash-buyer", display_name="B", tenant=platform)
    order = services.order_create(
        merchant=shop,
        buyer=buyer,
        platform_id="hash-order",
        items=[services.ItemInput(title="Mug", unit_price=Decimal("99.00"))],
        paid_at=dt_now(),
    )
    claim = services.claim_submit(
        order=order, amount=Decimal("99.00"), reason="damaged", actor=Actor.system("bench")
    )
    indexes = ["evidence_mih_0", "evidence_mih_1", "evidence_mih_2", "evidence_mih_3"]
    with connection.cursor() as cursor:
        # Only the lookup's chunk indexes are rebuilt after the insert; the others
        # (uniqueness of uuid and file per claim, sha256, foreign keys) serve no lookup and
        # would only make 10M inserts slower on this shared host.
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = "
            "'evidence_evidencefile'::regclass AND contype = 'u'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE evidence_evidencefile DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'evidence_evidencefile' "
            "AND indexname NOT LIKE '%%_pkey'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            """INSERT INTO evidence_evidencefile (uuid, attached_to, claim_id, submitted_by,
                   original, display, original_name, sha256, content_type, size, status,
                   rejection_code, rejection_message, phash, phash_0, phash_1, phash_2,
                   phash_3, check_attempts, created_at)
               SELECT md5('hash-' || n)::uuid, 'claim', %s, 'buyer', 'x', '', '',
                      md5('hash-' || n) || md5('hash-x' || n), 'image/jpeg', 1, 'checked',
                      '', '', h, (h >> 48) & 65535, (h >> 32) & 65535, (h >> 16) & 65535,
                      h & 65535, 1, now()
               FROM generate_series(1, %s) AS n
               CROSS JOIN LATERAL (SELECT ('x' || substr(md5(n::text), 1, 16))::bit(64)::bigint
                                   AS h) AS g""",
            [claim.pk, rows],
        )
        # Each photo's crop hashes (evidence.hashing.crop_hashes), pseudo-random too, with
        # their chunks as evidence.hashing.crop_hash_chunks cuts them.
        chunks, shift = [], 64
        for bits in CROP_CHUNK_BITS:
            shift -= bits
            chunks.append(f"(h >> {shift}) & {(1 << bits) - 1}")
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = "
            "'evidence_crophash'::regclass AND contype IN ('u', 'f')"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE evidence_crophash DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'evidence_crophash' "
            "AND indexname NOT LIKE '%%_pkey'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            f"""INSERT INTO evidence_crophash (evidence_id, percent, top, bottom, "left",
                   "right", phash, {", ".join(f"chunk_{i}" for i in range(len(chunks)))})
               SELECT e.id, GREATEST(t, b, l, r), t, b, l, r, h, {", ".join(chunks)}
               FROM evidence_evidencefile AS e
               CROSS JOIN unnest(%s::int[], %s::int[], %s::int[], %s::int[]) AS box(t, b, l, r)
               CROSS JOIN LATERAL (SELECT ('x' || substr(md5(e.id || '-' || t || '-' || b
                                                             || '-' || l || '-' || r), 1, 16))
                                          ::bit(64)::bigint AS h) AS g""",  # noqa: S608
            [list(side) for side in zip(*boxes, strict=True)],
        )
        for i, name in enumerate(indexes):
            # The product's own (migration evidence 0008): partial and covering.
            cursor.execute(
                f"CREATE INDEX {name} ON evidence_evidencefile (phash_{i}) "
                "INCLUDE (phash, id) WHERE attached_to = 'claim' AND phash IS NOT NULL"
            )
        for i in range(len(CROP_CHUNK_BITS)):
            # The crop hashes' own chunks (migration evidence 0011), covering too.
            cursor.execute(
                f"CREATE INDEX crophash_chunk_{i} ON evidence_crophash (chunk_{i}) "
                "INCLUDE (phash, evidence_id, percent)"
            )
    connection.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as own:
        own.execute("VACUUM ANALYZE evidence_evidencefile")
        own.execute("VACUUM ANALYZE evidence_crophash")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), pg_total_relation_size('evidence_crophash'), "
            "pg_relation_size('evidence_crophash') FROM evidence_crophash"
        )
        crop_rows, crop_total, crop_heap = cursor.fetchone()
    return {
        "rows": rows,
        "crop_rows": crop_rows,
        "crop_boxes_per_photo": len(boxes),
        "crophash_bytes": {"total": crop_total, "heap": crop_heap},
        "seconds": round(time.perf_counter() - started, 1),
    }


def dt_now():
    from django.utils import timezone

    return timezone.now()


def measure_near_duplicates(lookups: int = 300, covering_too: bool = False) -> dict:
    """``evidence.selectors.near_duplicates`` as the reuse check calls it: half the
    lookups for a stored hash with 3 bits flipped (a near-duplicate exists), half for a
    random hash (usually none); timed one by one, CPU time beside wall time."""
    import random

    from django.db import connection

    from evidence.hashing import to_signed64
    from evidence.selectors import near_duplicates

    rng = random.Random(13)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT phash FROM evidence_evidencefile WHERE phash IS NOT NULL "
            "ORDER BY md5(id::text) LIMIT %s",
            [lookups],
        )
        stored = [row[0] for row in cursor.fetchall()]
    queries = []
    for n in range(lookups):
        if n % 2 and stored:
            value = stored[n % len(stored)] & (2**64 - 1)
            for bit in rng.sample(range(64), 3):
                value ^= 1 << bit
        else:
            value = rng.getrandbits(64)
        queries.append(to_signed64(value))
    near_duplicates(phash=queries[0])  # warm-up
    wall, cpu, found = [], [], 0
    for value in queries:
        began, began_cpu = time.perf_counter(), time.process_time()
        matches = near_duplicates(phash=value)
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
        found += bool(matches)
    # The database's own time for the same lookups (EXPLAIN ANALYZE's Execution Time):
    # what the host's load does to the wall clock shows beside it.
    database = []
    with connection.cursor() as cursor:
        for value in queries:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + LOOKUP_SQL, _explain_params(value))
            database.append(cursor.fetchone()[0][0]["Execution Time"] / 1000)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + LOOKUP_SQL, _explain_params(queries[1]))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    product = explain_product_lookups(queries)
    covering = measure_covering(queries) if covering_too else None
    return {
        "lookups": lookups,
        "covering": covering,
        "with_match": found,
        "wall_ms": summary_ms(wall),
        "process_cpu_ms": summary_ms(cpu),
        "database_ms": summary_ms(database),
        "plan": plan,
        "product_lookup": product,
    }


def explain_product_lookups(queries: list[int]) -> dict:
    """EXPLAIN ANALYZE of the exact SQL ``near_duplicates`` sends (whole pictures' and
    crop hashes' arms), captured as it runs: the database's time over all ``queries``,
    the candidates its arms read, and one plan (it must show index-only scans)."""
    import statistics

    from django.db import connection

    from evidence.selectors import near_duplicates

    sent: list[tuple[str, dict]] = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    database, candidates = [], []
    plan = ""
    for value in queries:
        sent.clear()
        with connection.execute_wrapper(capture):
            near_duplicates(phash=value)
        sql, params = sent[0]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            top = cursor.fetchone()[0][0]
        database.append(top["Execution Time"] / 1000)
        candidates.append(_rows_read(top["Plan"]))
        if not plan:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
    return {
        "database_ms": summary_ms(database),
        "candidates_read": {
            "median": statistics.median(candidates),
            "max": max(candidates),
        },
        "plan": plan,
    }


def _rows_read(node: dict) -> int:
    # What the index scans read: the rows they hand up and those the distance filter drops.
    own = 0
    if "Index" in node.get("Node Type", ""):
        own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
    return own + sum(_rows_read(child) for child in node.get("Plans", []))


LOOKUP_SQL = (
    "SELECT id, bit_count((phash # %s)::bit(64)) AS d FROM evidence_evidencefile "
    "WHERE attached_to = 'claim' AND phash IS NOT NULL AND (phash_0 = ANY(%s) "
    "OR phash_1 = ANY(%s) OR phash_2 = ANY(%s) OR phash_3 = ANY(%s)) "
    "AND bit_count((phash # %s)::bit(64)) <= 7 ORDER BY 2, 1 LIMIT 50"
)


COVERING_ARM = (
    "SELECT id, bit_count((phash # %(h)s)::bit(64)) AS d FROM evidence_evidencefile "
    "WHERE attached_to = 'claim' AND phash IS NOT NULL AND phash_{i} = ANY(%(a{i})s)"
)
_UNION = " UNION ".join(COVERING_ARM.format(i=i) for i in range(4))
COVERING_SQL = f"SELECT id, d FROM ({_UNION}) AS u WHERE d <= 7 ORDER BY d, id LIMIT 50"  # noqa: S608


def measure_covering(queries: list[int]) -> dict:
    """The next step measured (``--covering``): each chunk index covering the full hash
    (``INCLUDE (phash, id)``, partial on claim photos) and the lookup as a UNION of four
    index-only scans, so candidates are verified from the index, never from the heap.
    Same lookups; the database's own time and the wall time of a bare psycopg call."""
    from django.db import connection

    from evidence.hashing import hash_chunks

    with connection.cursor() as cursor:
        for i in range(4):
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS evidence_mih_cover_{i} ON evidence_evidencefile "
                f"(phash_{i}) INCLUDE (phash, id) WHERE attached_to = 'claim' "
                "AND phash IS NOT NULL"
            )
        cursor.execute("VACUUM ANALYZE evidence_evidencefile")

    def params(value):
        probes = {
            f"a{i}": [c, *(c ^ (1 << b) for b in range(16))]
            for i, c in enumerate(hash_chunks(value))
        }
        return {"h": value, **probes}

    wall, database, found = [], [], 0
    raw = connection.connection
    for value in queries:
        began = time.perf_counter()
        rows = raw.execute(COVERING_SQL, params(value)).fetchall()
        wall.append(time.perf_counter() - began)
        found += bool(rows)
        plan = raw.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + COVERING_SQL, params(value))
        database.append(plan.fetchone()[0][0]["Execution Time"] / 1000)
    plan = raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + COVERING_SQL, params(queries[1]))
    return {
        "with_match": found,
        "wall_ms": summary_ms(wall),
        "database_ms": summary_ms(database),
        "plan": "\n".join(row[0] for row in plan.fetchall()),
    }


def _explain_params(value: int) -> list:
    from evidence.hashing import hash_chunks

    chunks = hash_chunks(value)
    probes = [[c, *(c ^ (1 << b) for b in range(16))] for c in chunks]
    return [value, *probes, value]


def measure_take(reviewers: int, takes: int) -> dict:
    """``reviewers`` processes taking and deciding at once (``bench/take_next.py``)."""
    from bench import take_next

    return take_next.take_together(take_next.reviewers(reviewers), takes)


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
    started, cpu = time.perf_counter(), time.process_time()
    moved = services.enforce_deadlines()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM refunds_refundclaim WHERE status = 'awaiting_merchant' "
            "AND merchant_deadline < now()"
        )
        (left,) = cursor.fetchone()
    return {
        "due": due,
        "moved": moved,
        "left_due": left,
        "seconds": round(seconds, 2),
        "process_cpu_seconds": round(cpu, 2),
        "load_average": os.getloadavg(),
    }


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
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="pages: leave out config/wsgi.py's gc.freeze()"
    )
    parser.add_argument("--lookups", type=int, default=300, help="near-duplicate lookups")
    parser.add_argument(
        "--covering", action="store_true", help="neardup: also time covering chunk indexes"
    )
    parser.add_argument(
        "--centred-crops-only",
        action="store_true",
        help="neardup: seed 0009's three centred crop hashes per photo, not every crop box",
    )
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
    result: dict = {"size": size, "load_average_start": os.getloadavg()}
    if parts == {"neardup"}:
        # Hashes alone, in a database of their own: claimlens_scale_10m (or _1m_hashes),
        # or the one BENCH_NEARDUP_URL names (a helper's own database).
        url = os.environ.get("BENCH_NEARDUP_URL") or database_url(
            size if size == "10m" else f"{size}_hashes"
        )
        django_setup(url)
        return run_near_duplicates(url, size, args, result)
    url = database_url(size)
    django_setup(url)
    from django.core.management import call_command

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
        result["pages"] = measure_pages(
            args.repeat, args.clients, args.skip_pages, gc_freeze=not args.no_gc_freeze
        )
    if "take" in parts:
        print(f"take-next at {size}", flush=True)
        result["take_next"] = measure_take(args.reviewers, args.takes)
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


def run_near_duplicates(url: str, size: str, args, result: dict) -> int:
    if not (args.reuse and database_exists(url)):
        print(f"seeding {HASH_SIZES[size]} hashes into {url}", flush=True)
        result["seed"] = seed_hashes(
            url, HASH_SIZES[size], centred_crops_only=args.centred_crops_only
        )
        print(f"  {result['seed']}", flush=True)
    result["near_duplicates"] = measure_near_duplicates(args.lookups, args.covering)
    figures = result["near_duplicates"]
    print(
        f"  wall {figures['wall_ms']}, cpu {figures['process_cpu_ms']}, "
        f"database {figures['database_ms']}",
        flush=True,
    )
    if figures["covering"]:
        cover = figures["covering"]
        print(f"  covering: wall {cover['wall_ms']}, database {cover['database_ms']}", flush=True)
    result["load_average_end"] = os.getloadavg()
    label = f"-{args.label}" if args.label else ""
    write_json(f"scale-neardup-{size}{label}", result)
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
