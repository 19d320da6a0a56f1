"""Every legal and illegal transition of the claim lifecycle."""

import itertools

import pytest

from refunds import lifecycle
from refunds.audit import Actor
from refunds.exceptions import IllegalTransition
from refunds.models import AuditEvent, ClaimStatus, RefundClaim

ALL = list(ClaimStatus.values)
PAIRS = list(itertools.product(ALL, ALL))
LEGAL = [(a, b) for a, b in PAIRS if lifecycle.is_legal(a, b)]
ILLEGAL = [(a, b) for a, b in PAIRS if not lifecycle.is_legal(a, b)]


def test_the_table_matches_the_design():
    assert set(LEGAL) == {
        ("received", "checking"),
        ("received", "withdrawn"),
        ("checking", "awaiting_merchant"),
        ("checking", "in_review"),
        ("checking", "withdrawn"),
        ("awaiting_merchant", "in_review"),
        ("awaiting_merchant", "decided"),
        ("awaiting_merchant", "awaiting_buyer"),
        ("awaiting_merchant", "withdrawn"),
        ("awaiting_buyer", "checking"),
        ("awaiting_buyer", "in_review"),
        ("awaiting_buyer", "withdrawn"),
        ("in_review", "decided"),
        ("in_review", "awaiting_buyer"),
        ("in_review", "withdrawn"),
        ("decided", "appealed"),
        ("decided", "closed"),
        ("appealed", "decided"),
    }
    assert lifecycle.TRANSITIONS["closed"] == frozenset()
    assert lifecycle.TRANSITIONS["withdrawn"] == frozenset()


def _claim_in(make_claim, shop, status):
    claim = make_claim(shop, evaluate=False)
    # Test set-up only: put the claim directly into the source status.
    RefundClaim.objects.filter(pk=claim.pk).update(status=status)
    return claim


@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_legal_transition_moves_and_audits(make_claim, shop_a, source, target):
    claim = _claim_in(make_claim, shop_a, source)
    before = AuditEvent.objects.count()

    moved = lifecycle.transition(
        claim.pk, to=target, actor=Actor.system("test"), action="test_move", reason="why"
    )

    assert moved.status == target
    assert RefundClaim.objects.get(pk=claim.pk).status == target
    event = AuditEvent.objects.order_by("-seq").first()
    assert AuditEvent.objects.count() == before + 1
    assert (event.from_status, event.to_status, event.reason) == (source, target, "why")
    assert event.claim_id == claim.pk


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition_raises_and_writes_nothing(make_claim, shop_a, source, target):
    claim = _claim_in(make_claim, shop_a, source)
    before = AuditEvent.objects.count()

    with pytest.raises(IllegalTransition):
        lifecycle.transition(claim.pk, to=target, actor=Actor.system("test"), action="x")

    assert RefundClaim.objects.get(pk=claim.pk).status == source
    assert AuditEvent.objects.count() == before


def test_expected_from_narrows_a_legal_move(make_claim, shop_a):
    claim = _claim_in(make_claim, shop_a, "in_review")
    with pytest.raises(IllegalTransition):
        lifecycle.transition(
            claim.pk,
            to="decided",
            actor=Actor.system("t"),
            action="merchant_accepted",
            expected_from={"awaiting_merchant"},
        )
    assert RefundClaim.objects.get(pk=claim.pk).status == "in_review"
