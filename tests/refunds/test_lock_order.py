"""One lock order everywhere (claim row, then its assignments, then the audit chain):
decide, release, ask the buyer, withdraw and take running at once on the same claims end
without a deadlock and leave a consistent state. PostgreSQL only: SQLite serialises
writers, so it cannot deadlock (nor show that we do not)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from refunds import services
from refunds.audit import Actor, verify_chain
from refunds.exceptions import ClaimError
from refunds.models import Assignment, ClaimStatus, Decision, RefundClaim
from tests.conftest import _member_of

S = ClaimStatus
ROUNDS = 12


def _run_at_once(actions) -> list[BaseException]:
    """Start every action on its own connection at the same moment; the unexpected
    errors (a deadlock is an OperationalError) are returned, refusals are expected."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(action):
        try:
            barrier.wait()
            action()
        except ClaimError:
            pass  # somebody else moved the claim first: a refusal, not a failure
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_decide_release_withdraw_and_take_at_once_never_deadlock(
    django_user_model, make_claim, shop_a, alice
):
    # given: claims in review, each held by its reviewer
    holders = [_member_of(django_user_model, f"holder{i}", "reviewers") for i in range(ROUNDS)]
    others = [_member_of(django_user_model, f"other{i}", "reviewers") for i in range(2)]
    claims = []
    for holder in holders:
        claim = services.claim_merchant_respond(
            claim=make_claim(shop_a), user=alice, response="contest", statement="painted cracks"
        )
        services.claim_assign(claim=claim, reviewer=holder)
        claims.append(claim)

    # when: on each claim at once, its holder decides, asks the buyer and releases it,
    # the platform withdraws it, and two other reviewers take the next claim
    errors: list[BaseException] = []
    for claim, holder in zip(claims, holders, strict=True):
        errors += _run_at_once(
            [
                lambda c=claim, h=holder: services.claim_decide(
                    claim=c, reviewer=h, outcome="refund_denied", rationale="Edited listing photo."
                ),
                lambda c=claim, h=holder: services.claim_request_buyer_evidence(
                    claim=c, reviewer=h, message="Please send the original photo."
                ),
                lambda c=claim, h=holder: services.claim_release(claim=c, reviewer=h),
                lambda c=claim: services.claim_withdraw(
                    claim=c, actor=Actor.platform("test"), reason="buyer gave up"
                ),
                *[lambda r=r: services.claim_take_next(reviewer=r) for r in others],
            ]
        )

    # then: no deadlock or other error, and every claim is in one consistent state
    assert errors == []
    for claim in RefundClaim.objects.filter(pk__in=[c.pk for c in claims]):
        open_holds = Assignment.objects.filter(claim=claim, released_at__isnull=True)
        decisions = Decision.objects.filter(claim=claim).count()
        assert open_holds.count() <= 1
        if claim.status == S.DECIDED:
            assert decisions == 1 and not open_holds.exists()
        else:
            assert decisions == 0
            assert claim.status in (S.IN_REVIEW, S.AWAITING_BUYER, S.WITHDRAWN)
        if claim.status in (S.AWAITING_BUYER, S.WITHDRAWN):
            assert not open_holds.exists()
    assert verify_chain()[1] is None
