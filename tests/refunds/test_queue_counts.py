"""Per-queue waiting counters (issue 13): every path that moves a claim into, out of or
between queues' waiting sets keeps them equal to a recount of the claims; the queues
overview reads its waiting / appeals / overdue figures from them in a fixed number of
queries; compaction folds them; a command verifies and rebuilds them."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from refunds import queue_counts, routing, selectors, services
from refunds.audit import Actor
from refunds.models import Assignment, QueueWaitingCount, RefundClaim, ReviewQueue
from tests.refunds.test_routing import add_finding


def _exact() -> bool:
    return queue_counts.differences() == []


def _waiting(queue) -> int:
    overview = {q.pk: q for q in selectors.review_queue_overview()}
    return overview[queue.pk].waiting


def _in_review(make_claim, shop, merchant_user):
    claim = services.claim_merchant_respond(
        claim=make_claim(shop), user=merchant_user, response="contest", statement="Our photo."
    )
    assert claim.status == "in_review"
    return claim


def test_entering_review_taking_releasing_and_deciding_keep_the_counts_exact(
    make_claim, shop_a, alice, charlie
):
    standard = routing.default_queue()
    # given: the transition into review counts the claim where it waits
    claim = _in_review(make_claim, shop_a, alice)
    assert _waiting(standard) == 1 and _exact()

    # take next: no longer waiting
    taken = services.claim_take_next(reviewer=charlie)
    assert taken.pk == claim.pk
    assert _waiting(standard) == 0 and _exact()

    # release: waiting again
    services.claim_release(claim=claim, reviewer=charlie)
    assert _waiting(standard) == 1 and _exact()

    # take one claim and decide it: gone from the queue for good
    services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_decide(
        claim=claim, reviewer=charlie, outcome="refund_denied", rationale="Painted-on crack."
    )
    assert _waiting(standard) == 0 and _exact()


def test_an_appeal_waits_in_the_appeals_queue_and_its_decision_leaves_it(
    make_claim, shop_a, alice, charlie, dora
):
    appeals = ReviewQueue.objects.get(slug="appeals")
    claim = _in_review(make_claim, shop_a, alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_decide(
        claim=claim, reviewer=charlie, outcome="refund_denied", rationale="Painted-on crack."
    )
    services.claim_appeal(claim=claim, filed_by="buyer", reason="The crack is real, look again.")

    row = {q.pk: q for q in selectors.review_queue_overview()}[appeals.pk]
    assert (row.waiting, row.appeals) == (1, 1) and _exact()

    services.claim_assign(claim=claim, reviewer=dora)
    services.claim_decide(
        claim=claim, reviewer=dora, outcome="refund_denied", rationale="Still painted on."
    )
    assert _waiting(appeals) == 0 and _exact()


def test_a_lease_that_expires_puts_the_claim_back_in_the_count(make_claim, shop_a, alice, charlie):
    standard = routing.default_queue()
    claim = _in_review(make_claim, shop_a, alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    assert _waiting(standard) == 0

    lease = Assignment.objects.get(claim=claim, released_at__isnull=True)
    assert services.leases_expire(now=lease.expires_at + dt.timedelta(seconds=1)) == 1

    assert _waiting(standard) == 1 and _exact()


def test_queue_moves_escalations_and_rerouting_move_the_counts_between_queues(
    make_claim, shop_a, alice, charlie, dora
):
    standard = routing.default_queue()
    forensic = ReviewQueue.objects.get(slug="forensic")
    legal = ReviewQueue.objects.get(slug="legal")
    moved = _in_review(make_claim, shop_a, alice)

    # a senior reviewer moves a waiting claim
    services.claim_move_queue(claim=moved, queue=forensic, user=dora)
    assert (_waiting(standard), _waiting(forensic)) == (0, 1) and _exact()

    # the holder escalates a claim to legal (taken out of standard, waiting in legal)
    escalated = _in_review(make_claim, shop_a, alice)
    services.claim_assign(claim=escalated, reviewer=charlie)
    services.claim_escalate_to_legal(claim=escalated, reviewer=charlie, reason="fraud tier")
    assert _waiting(legal) == 1 and _exact()

    # the shop flags a waiting claim as AI-made: it goes to the forensic queue
    flagged = _in_review(make_claim, shop_a, alice)
    services.claim_flag_ai_suspect(claim=flagged, user=alice, note="shadows")
    assert _waiting(forensic) == 2 and _exact()

    # new evidence rescored while the claim waits: routed again, counted where it went
    rerouted = _in_review(make_claim, shop_a, alice)
    add_finding(rerouted, "reference_copy", weight=90, severity="critical")
    services.claim_evaluate(claim_id=rerouted.pk)
    rerouted.refresh_from_db()
    assert rerouted.queue_id == forensic.pk
    assert (_waiting(standard), _waiting(forensic)) == (0, 3) and _exact()


def test_an_sla_escalation_moves_the_claim_and_its_deadline(make_claim, shop_a, alice):
    standard = routing.default_queue()
    senior = ReviewQueue.objects.create(slug="senior-desk", name="Senior desk", sla_hours=4)
    standard.sla_escalate_to = senior
    standard.save()
    claim = _in_review(make_claim, shop_a, alice)
    later = claim.review_deadline + dt.timedelta(minutes=1)

    assert services.claims_escalate_overdue(now=later) == 1

    assert (_waiting(standard), _waiting(senior)) == (0, 1)
    assert _exact()


def test_asking_the_buyer_withdrawing_and_the_deadline_sweep_keep_the_counts(
    make_claim, shop_a, shop_b, alice, charlie
):
    standard = routing.default_queue()
    asked = _in_review(make_claim, shop_a, alice)
    services.claim_assign(claim=asked, reviewer=charlie)
    asked = services.claim_request_buyer_evidence(
        claim=asked, reviewer=charlie, message="Please send an unedited photo."
    )
    withdrawn = _in_review(make_claim, shop_a, alice)
    services.claim_withdraw(claim=withdrawn, actor=Actor.platform("test"), reason="Solved.")
    assert _waiting(standard) == 0 and _exact()

    # the deadline sweep moves claims into review in batches (transition_many)
    missed = [make_claim(shop) for shop in (shop_a, shop_b, shop_b)]
    later = max(c.merchant_deadline for c in [*missed]) + dt.timedelta(minutes=1)
    later = max(later, asked.buyer_deadline + dt.timedelta(seconds=1))
    services.enforce_deadlines(now=later, batch_size=2)

    assert RefundClaim.objects.filter(status="in_review").count() == 4
    assert sum(_waiting(q) for q in ReviewQueue.objects.filter(is_active=True)) == 4
    assert _exact()


def test_overdue_counts_every_hour_past_from_the_counters_and_this_hour_from_the_claims(
    make_claim, shop_a, alice, django_assert_num_queries
):
    standard = routing.default_queue()
    now = timezone.now().replace(minute=30)
    due = {
        "yesterday": now - dt.timedelta(days=1),
        "earlier this hour": now - dt.timedelta(minutes=20),
        "later this hour": now + dt.timedelta(minutes=20),
        "tomorrow": now + dt.timedelta(days=1),
    }
    for deadline in due.values():
        claim = _in_review(make_claim, shop_a, alice)
        RefundClaim.objects.filter(pk=claim.pk).update(queue=standard, review_deadline=deadline)
    queue_counts.rebuild()  # the deadlines were written around the lifecycle above

    # the counters, and the claims due earlier this hour
    with django_assert_num_queries(2):
        figures = queue_counts.waiting_by_queue(queue_ids=[standard.pk], now=now)
    assert figures[standard.pk] == {"waiting": 4, "appeals": 0, "overdue": 2}
    # an hour on, compacted: the past hours are one row, the figures unchanged
    later = now + dt.timedelta(hours=1)
    queue_counts.compact(now=later)
    assert QueueWaitingCount.objects.filter(deadline_hour=queue_counts.PAST).count() == 1
    after = queue_counts.waiting_by_queue(queue_ids=[standard.pk], now=later)[standard.pk]
    assert after == {"waiting": 4, "appeals": 0, "overdue": 3}
    assert queue_counts.differences(now=later) == []


def test_compaction_folds_the_delta_rows_and_keeps_the_figures(make_claim, shop_a, alice, charlie):
    standard = routing.default_queue()
    claims = [_in_review(make_claim, shop_a, alice) for _ in range(3)]
    services.claim_assign(claim=claims[0], reviewer=charlie)
    services.claim_release(claim=claims[0], reviewer=charlie)
    assert QueueWaitingCount.objects.count() > 1

    from refunds.tasks import queue_waiting_counts_compact_task

    assert queue_waiting_counts_compact_task.delay().get() == 1
    assert QueueWaitingCount.objects.get().count == 3
    assert _waiting(standard) == 3 and _exact()


def test_the_command_finds_a_difference_and_the_rebuild_repairs_it(make_claim, shop_a, alice):
    claim = _in_review(make_claim, shop_a, alice)
    call_command("queue_waiting_counts")  # exact: no error

    # a write around the lifecycle (what the service functions never do)
    RefundClaim.objects.filter(pk=claim.pk).update(status="decided")
    with pytest.raises(CommandError, match="1 waiting counters differ"):
        call_command("queue_waiting_counts")

    call_command("queue_waiting_counts", "--rebuild")
    call_command("queue_waiting_counts")
    assert _waiting(routing.default_queue()) == 0


def test_the_queues_page_reads_the_counters_in_a_fixed_number_of_queries(
    client, make_claim, shop_a, alice, charlie, dora, django_assert_num_queries
):
    standard = routing.default_queue()
    for _ in range(3):
        _in_review(make_claim, shop_a, alice)
    client.force_login(charlie)
    # the session, the reviewer and their roles (user, groups, shops, platform: 4),
    # "take next"'s queues and each queue's head (3), the queues with their take probe,
    # the counters, this hour's claims (3), the claims held, the risk thresholds (1)
    with django_assert_num_queries(13):
        response = client.get("/review/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    for _ in range(5):
        claim = _in_review(make_claim, shop_a, alice)
        services.claim_move_queue(claim=claim, queue=standard, user=dora)  # a repeat claimant
    with django_assert_num_queries(13):
        response = client.get("/review/", HTTP_ACCEPT_LANGUAGE="en")
    assert {q.pk: q for q in response.context["queues"]}[standard.pk].waiting == 8
    assert _exact()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reviewers_taking_releasing_and_deciding_at_once_beside_compaction_keep_the_counts_exact(
    django_user_model, make_claim, shop_a, alice
):
    """Six reviewers on their own connections take, give back and decide claims at the
    same time as the compaction folds the delta rows: the counters still equal a recount
    (appending never updates a row, so no writer's move is lost, and the compaction
    deletes only the rows it sums)."""
    import threading

    from django.db import connection

    from refunds.exceptions import NothingToReview
    from tests.conftest import _member_of

    reviewers = [_member_of(django_user_model, f"counter{i}", "reviewers") for i in range(6)]
    claims = [_in_review(make_claim, shop_a, alice) for _ in range(30)]
    start = threading.Barrier(len(reviewers) + 1)
    errors: list[BaseException] = []
    done = threading.Event()

    def review(reviewer, n):
        try:
            start.wait()
            for step in range(6):
                try:
                    claim = services.claim_take_next(reviewer=reviewer)
                except NothingToReview:
                    break
                if (n + step) % 3:
                    services.claim_release(claim=claim, reviewer=reviewer)
                else:
                    services.claim_decide(
                        claim=claim,
                        reviewer=reviewer,
                        outcome="refund_denied",
                        rationale="A copy of the listing photo.",
                    )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    def compact():
        try:
            start.wait()
            while not done.is_set():
                queue_counts.compact()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=review, args=(r, n)) for n, r in enumerate(reviewers)]
    compactor = threading.Thread(target=compact)
    for thread in [*threads, compactor]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    compactor.join()

    assert errors == []
    decided = RefundClaim.objects.filter(pk__in=[c.pk for c in claims], status="decided").count()
    assert 0 < decided < len(claims)
    assert _exact()
    # (the same buyer's later claims are routed to the repeat-claimant queue)
    waiting = sum(q.waiting for q in selectors.review_queue_overview())
    assert waiting == len(claims) - decided
