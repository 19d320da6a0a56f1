"""A take's and a release's write of ``RefundClaim.held_by`` is a HOT update on PostgreSQL
(migration 0021): no index of the claim table names ``held_by``, in its columns or in its
condition, and the table keeps free space on its pages (``fillfactor``). "Take next" and
the queue page still read the partial ``claim_take_next`` indexes; "my claims" reads the
open assignments."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from refunds import selectors, services
from refunds.models import RefundClaim
from refunds.routing import default_queue
from tests.refunds.test_take_next import _holders_are_consistent, _in_review, _waiting

TABLE = RefundClaim._meta.db_table
BEFORE = ("refunds", "0020_audit_without_random_indexes")


def _q_fields(condition) -> set[str]:
    """Every field a ``Q`` names, however nested."""
    names: set[str] = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _q_fields(child)
        else:
            names.add(child[0].split("__")[0])
    return names


def _index_definitions() -> dict[str, str]:
    """Each index of the claim table as the database has it: its ``CREATE INDEX``."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
                [TABLE],
            )
        else:
            cursor.execute(
                "SELECT name, coalesce(sql, '') FROM sqlite_master"
                " WHERE type = 'index' AND tbl_name = %s",
                [TABLE],
            )
        return dict(cursor.fetchall())


def _claim_updates() -> tuple[int, int]:
    """This transaction's ``(updates, HOT updates)`` of the claim table so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
            [TABLE],
        )
        return cursor.fetchone()


# --- the indexes --------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_index_of_the_claim_table_names_held_by():
    """In the model and in the database (columns, keys and partial-index predicates): a
    change of ``held_by`` then writes no index entry, the condition of a HOT update."""
    for index in RefundClaim._meta.indexes:
        assert "held_by" not in index.fields, index.name
        if index.condition is not None:
            assert "held_by" not in _q_fields(index.condition), index.name
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    for name, constraint in constraints.items():
        if constraint["index"] or constraint["unique"]:
            assert "held_by_id" not in constraint["columns"], name
    definitions = _index_definitions()
    assert {"claim_take_next", "claim_take_next_in_review"} <= set(definitions)
    assert "claim_held_by" not in definitions
    for name, definition in definitions.items():
        assert "held_by" not in definition, name


@pytest.mark.django_db(transaction=True)
def test_the_migration_takes_held_by_out_of_the_indexes_and_back():
    """0021 applies to an existing table and is reversible: back at 0020 the take-next
    indexes' predicates and ``claim_held_by`` name ``held_by`` again (and, on
    PostgreSQL, the table has its default fillfactor); forward, neither."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    MigrationExecutor(connection).migrate([BEFORE])
    before = _index_definitions()
    before_options = _reloptions()

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)
    after = _index_definitions()

    assert "held_by" in before["claim_take_next"]
    assert "held_by" in before["claim_take_next_in_review"]
    assert "held_by" in before["claim_held_by"]
    assert not [name for name, definition in after.items() if "held_by" in definition]
    assert {"claim_take_next", "claim_take_next_in_review"} <= set(after)
    if connection.vendor == "postgresql":
        assert not any(option.startswith("fillfactor") for option in before_options)
        assert "fillfactor=90" in _reloptions()


def _reloptions() -> list[str]:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [TABLE])
        return cursor.fetchone()[0] or []


# --- HOT (PostgreSQL) -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_taking_and_releasing_a_claim_are_hot_updates(make_claim, shop_a, alice, charlie):
    """Each writes ``held_by`` alone: one UPDATE of the claim, HOT (its new version on the
    same page, no index entry written)."""
    claim = _waiting(make_claim, shop_a, alice, default_queue(), hours=1)

    before = _claim_updates()
    taken = services.claim_take_next(reviewer=charlie)
    after_take = _claim_updates()
    services.claim_release(claim=taken, reviewer=charlie)
    after_release = _claim_updates()

    assert taken.pk == claim.pk
    assert (after_take[0] - before[0], after_take[1] - before[1]) == (1, 1)
    assert (after_release[0] - after_take[0], after_release[1] - after_take[1]) == (1, 1)
    _holders_are_consistent()


@pytest.mark.django_db
def test_a_take_writes_held_by_alone(make_claim, shop_a, alice, charlie):
    """What makes the take's UPDATE HOT-eligible on every database: it sets no column
    but ``held_by`` (an indexed one, ``updated_at`` say, would make it an index write)."""
    _waiting(make_claim, shop_a, alice, default_queue(), hours=1)

    with CaptureQueriesContext(connection) as captured:
        services.claim_take_next(reviewer=charlie)

    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert updates[0].startswith('UPDATE "refunds_refundclaim" SET "held_by_id" = ')
    assert " WHERE " in updates[0] and "," not in updates[0].split(" WHERE ")[0]


# --- the reads still use the partial indexes (PostgreSQL) ---------------------------------


def _plan(sql: str, params) -> str:
    """The plan PostgreSQL would choose were a scan of the whole table out of the
    question: a partial index appears in it only when the query's WHERE implies the
    index's predicate."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_bitmapscan")
    return plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_take_next_and_the_queue_page_read_the_take_next_index_ranges(
    make_claim, shop_a, alice, charlie, dora
):
    from refunds import policy

    queue = default_queue()
    _waiting(make_claim, shop_a, alice, queue, hours=1)
    for reviewer in (charlie, dora):  # a reviewer, and a senior who may take appeals
        reads = selectors.take_next_reads(reviewer=reviewer)
        head = selectors.queue_head(waiting=reads._waiting, queue_id=queue.pk)
        head_sql = head.select_for_update(skip_locked=True, of=("self",))[:1].query
        queues_sql = selectors._queues_to_serve(reads._waiting, None).query
        for query in (head_sql, queues_sql):
            plan = _plan(*query.sql_with_params())
            assert "claim_take_next" in plan, plan
    plain = _plan(
        *selectors.queue_head(waiting=reads._waiting, queue_id=queue.pk).query.sql_with_params()
    )
    assert "claim_take_next" in plain
    # the queue page: the most urgent waiting claims, and what a plain reviewer may take
    waiting = selectors.claims_awaiting_review(reviewer=charlie)
    page_head = selectors.queue_head(waiting=waiting, queue_id=queue.pk)[:25]
    assert "claim_take_next" in _plan(*page_head.query.sql_with_params())
    takeable = policy.takeable_by(selectors.claims_awaiting_review(reviewer=charlie), charlie)
    in_review_only = selectors.queue_head(waiting=takeable.select_related(None), queue_id=queue.pk)
    assert "claim_take_next_in_review" in _plan(*in_review_only[:1].query.sql_with_params())


@pytest.mark.postgres
@pytest.mark.django_db
def test_my_claims_are_read_through_the_open_assignments_index(make_claim, shop_a, alice, charlie):
    _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)

    mine = selectors.claims_held_by(reviewer=charlie)

    assert "assignment_open_by_reviewer" in _plan(*mine.query.sql_with_params())
    assert "assignment_open_by_reviewer" in _plan(
        *mine.order_by().values("pk").query.sql_with_params()
    )


# --- behaviour --------------------------------------------------------------------------


@pytest.mark.django_db
def test_my_claims_are_the_claims_of_my_open_assignments_most_urgent_first(
    make_claim, shop_a, alice, charlie, dora
):
    queue = default_queue()
    later = _waiting(make_claim, shop_a, alice, queue, hours=5)
    sooner = _waiting(make_claim, shop_a, alice, queue, hours=1)
    released = _waiting(make_claim, shop_a, alice, queue, hours=2)
    others = _waiting(make_claim, shop_a, alice, queue, hours=3)
    for claim in (later, sooner, released):
        services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_assign(claim=others, reviewer=dora)
    services.claim_release(claim=released, reviewer=charlie)

    mine = list(selectors.claims_held_by(reviewer=charlie))

    assert [claim.pk for claim in mine] == [sooner.pk, later.pk]
    assert all(claim.lease_expires_at is not None for claim in mine)
    assert selectors.claims_held_by(reviewer=charlie).count() == 2
    assert [c.pk for c in selectors.claims_held_by(reviewer=dora)] == [others.pk]
