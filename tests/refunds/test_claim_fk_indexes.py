"""The claim table has no single-column index for ``merchant`` or ``buyer`` (migration
0022): composite indexes leading with the same column serve every lookup by it, the
PROTECT checks of a shop's or a buyer's deletion included. One index fewer each for every
claim inserted and every non-HOT update."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.db.models.deletion import ProtectedError

from refunds.models import RefundClaim

TABLE = RefundClaim._meta.db_table


def _indexed_columns() -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [
        c["columns"]
        for c in constraints.values()
        if c["index"] and not c["primary_key"] and not c["foreign_key"]
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["merchant_id", "buyer_id"])
def test_the_claim_table_has_one_index_leading_with_each_fk_but_none_of_its_own(column):
    indexed = _indexed_columns()

    assert [column] not in indexed
    assert any(len(columns) > 1 and columns[0] == column for columns in indexed)


@pytest.mark.django_db
def test_a_shop_or_a_buyer_with_claims_still_cannot_be_deleted(make_claim, shop_a):
    claim = make_claim(shop_a)

    with pytest.raises(ProtectedError):
        claim.merchant.delete()
    with pytest.raises(ProtectedError):
        claim.buyer.delete()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "index"), [("merchant_id", "claim_"), ("buyer_id", "claim_buyer_history")]
)
def test_the_foreign_key_checks_read_a_composite_index(make_claim, shop_a, column, index):
    """The database's check on deleting the referenced row (``SELECT 1 … FOR KEY SHARE``)
    and Django's PROTECT collector (``WHERE <fk> IN (…)``) each read an index leading
    with the column, with scans of the whole table out of the question."""
    claim = make_claim(shop_a)
    value = getattr(claim, column)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for sql in (
            f"SELECT 1 FROM ONLY {TABLE} x WHERE {column} = %s FOR KEY SHARE OF x",  # noqa: S608
            f"SELECT id FROM {TABLE} WHERE {column} IN (%s)",  # noqa: S608
        ):
            cursor.execute("EXPLAIN " + sql, [value])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("RESET enable_seqscan")
    for plan in plans:
        assert f"Index Cond: ({column} = " in plan, plan
        assert re.search(rf"Index (?:Only )?Scan (?:using|on) {index}", plan), plan
