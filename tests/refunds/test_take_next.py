"""“Take next” (refunds.services.claim_take_next): queues are served one at a time by
priority, each from the head of its index range (review deadline, then the oldest);
reviewers racing for the head skip each other's rows; "nothing to review" is said only
when nothing the reviewer may take waits; the queries do not grow with the queues or the
claims. ``RefundClaim.held_by`` always names the reviewer of the open assignment."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from refunds import services
from refunds.audit import Actor, verify_chain
from refunds.exceptions import NotAllowed, NothingToReview
from refunds.models import Assignment, ClaimStatus, RefundClaim, ReviewQueue
from refunds.routing import default_queue
from tests.conftest import _member_of

S = ClaimStatus


def _in_review(claim, merchant_user):
    return services.claim_merchant_respond(
        claim=claim, user=merchant_user, response="contest", statement="裂痕是画上去的 painted"
    )


def _queue(slug: str, priority: int, **fields) -> ReviewQueue:
    return ReviewQueue.objects.create(slug=slug, name=slug.title(), priority=priority, **fields)


def _place(claim, queue, *, hours: float) -> RefundClaim:
    """Put a claim in a queue with a review deadline ``hours`` from now (arranged
    directly: routing and the SLA are not what these tests are about)."""
    RefundClaim.objects.filter(pk=claim.pk).update(
        queue=queue, review_deadline=timezone.now() + dt.timedelta(hours=hours)
    )
    claim.refresh_from_db()
    return claim


def _waiting(make_claim, shop, merchant_user, queue, *, hours: float) -> RefundClaim:
    return _place(_in_review(make_claim(shop), merchant_user), queue, hours=hours)


def _appealed(make_claim, shop, merchant_user, queue, decider) -> RefundClaim:
    claim = _in_review(make_claim(shop), merchant_user)
    services.claim_assign(claim=claim, reviewer=decider)
    services.claim_decide(
        claim=claim, reviewer=decider, outcome="refund_approved", rationale="损坏属实 genuine."
    )
    services.claim_appeal(claim=claim, filed_by="buyer", reason="商家图片造假 the shop lies")
    return _place(claim, queue, hours=1)


def _holders_are_consistent() -> None:
    open_holders = dict(
        Assignment.objects.filter(released_at__isnull=True).values_list("claim_id", "reviewer_id")
    )
    for claim_id, held_by_id in RefundClaim.objects.values_list("pk", "held_by_id"):
        assert held_by_id == open_holders.get(claim_id), claim_id


# --- order ----------------------------------------------------------------------------------


def test_queues_are_served_by_priority_then_review_deadline_then_age(
    make_claim, shop_a, alice, charlie
):
    urgent, standard = _queue("urgent", 5), default_queue()
    late_standard = _waiting(make_claim, shop_a, alice, standard, hours=1)
    late_urgent = _waiting(make_claim, shop_a, alice, urgent, hours=20)
    early_urgent = _waiting(make_claim, shop_a, alice, urgent, hours=5)
    early_urgent_younger = _waiting(make_claim, shop_a, alice, urgent, hours=5)
    RefundClaim.objects.filter(pk=early_urgent_younger.pk).update(
        review_deadline=early_urgent.review_deadline  # the same deadline: the older first
    )

    taken = [services.claim_take_next(reviewer=charlie).pk for _ in range(4)]

    assert taken == [early_urgent.pk, early_urgent_younger.pk, late_urgent.pk, late_standard.pk]
    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=charlie)


def test_a_queue_with_nothing_for_this_reviewer_is_passed_over(
    make_claim, shop_a, shop_b, alice, bob, charlie, dora, erin
):
    from merchants.services import membership_add

    urgent, standard = _queue("urgent", 5), default_queue()
    appeal = _appealed(make_claim, shop_a, alice, urgent, erin)  # only a senior may take it
    membership_add(merchant=shop_b, user=charlie, role="agent")
    own_shop = _waiting(make_claim, shop_b, bob, urgent, hours=0)  # charlie acts for shop B
    ordinary = _waiting(make_claim, shop_a, alice, standard, hours=30)

    assert services.claim_take_next(reviewer=charlie).pk == ordinary.pk
    assert services.claim_take_next(reviewer=dora).pk == own_shop.pk  # the earlier deadline
    assert services.claim_take_next(reviewer=dora).pk == appeal.pk


def test_take_next_from_one_queue_takes_only_from_it(make_claim, shop_a, alice, charlie):
    urgent, standard = _queue("urgent", 5), default_queue()
    _waiting(make_claim, shop_a, alice, urgent, hours=1)
    in_standard = _waiting(make_claim, shop_a, alice, standard, hours=10)

    assert services.claim_take_next(reviewer=charlie, queue=standard).pk == in_standard.pk
    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=charlie, queue=standard)


def test_claims_of_an_inactive_queue_or_of_no_queue_still_get_a_reviewer(
    make_claim, shop_a, alice, charlie
):
    standard = default_queue()
    retired = _queue("retired", 1, is_active=False)
    in_retired = _waiting(make_claim, shop_a, alice, retired, hours=0)
    queueless = _in_review(make_claim(shop_a), alice)
    RefundClaim.objects.filter(pk=queueless.pk).update(queue=None)
    in_standard = _waiting(make_claim, shop_a, alice, standard, hours=40)

    taken = [services.claim_take_next(reviewer=charlie).pk for _ in range(3)]

    assert taken == [in_standard.pk, in_retired.pk, queueless.pk]
    assert Assignment.objects.get(claim_id=queueless.pk).expires_at is not None


def test_a_held_claim_is_not_handed_out_until_it_is_released(
    make_claim, shop_a, alice, charlie, erin
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=erin)

    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=charlie)
    services.claim_release(claim=claim, reviewer=erin)

    assert services.claim_take_next(reviewer=charlie).pk == claim.pk


def test_only_reviewers_take_claims(make_claim, shop_a, alice):
    _in_review(make_claim(shop_a), alice)
    with pytest.raises(NotAllowed):
        services.claim_take_next(reviewer=alice)
    assert not Assignment.objects.exists()


# --- queries --------------------------------------------------------------------------------


def _setup_for_counting(make_claim, shop_a, alice, erin, *, queues: int, claims: int):
    """``claims`` waiting claims in the lowest-priority queue, and ``queues`` queues above
    it holding only appeals (which the reviewer, not a senior, may not take)."""
    standard = default_queue()
    for n in range(claims):
        _waiting(make_claim, shop_a, alice, standard, hours=n)
    for n in range(queues):
        _appealed(make_claim, shop_a, alice, _queue(f"extra-{n}", 1 + n), erin)


def _fresh(user):
    """The same user without the roles a previous call cached on the object."""
    return type(user).objects.get(pk=user.pk)


def _queries_of(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)


def test_take_next_query_count_does_not_grow_with_queues_or_claims(
    make_claim, shop_a, alice, erin, charlie, django_assert_max_num_queries
):
    _setup_for_counting(make_claim, shop_a, alice, erin, queues=0, claims=1)
    first = _fresh(charlie)
    small = _queries_of(lambda: services.claim_take_next(reviewer=first))
    _setup_for_counting(make_claim, shop_a, alice, erin, queues=4, claims=30)
    reviewer = _fresh(charlie)

    # roles (2, and the reviewer's platform), savepoint, the reviewer's lease lock
    # (PostgreSQL), lease count, queues, the head, assignment, holder, the queue's waiting
    # counter, audit append (lock, head of the chain, insert), release
    with django_assert_max_num_queries(15):
        large = _queries_of(lambda: services.claim_take_next(reviewer=reviewer))

    assert large == small


def test_one_take_sends_exactly_these_statements(make_claim, shop_a, alice, charlie):
    """A pin: a regression that adds a statement to a take (or a per-take ORM build that
    a query reveals) fails here first. The reviewer's roles are read once per user object
    (three queries the first time, not counted here)."""
    _setup_for_counting(make_claim, shop_a, alice, charlie, queues=0, claims=3)
    reviewer = _fresh(charlie)
    services.claim_take_next(reviewer=reviewer)  # roles read, the reads compiled

    with CaptureQueriesContext(connection) as captured:
        services.claim_take_next(reviewer=reviewer)

    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        # savepoint, the reviewer's lease lock, lease count, queues, the head (locked),
        # assignment, holder, the queue's waiting counter, audit append (chain lock and
        # seq, head of the chain, insert), release
        assert statements == [
            "SAVEPOINT", "SELECT", "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE",
            "INSERT", "SELECT", "SELECT", "INSERT", "RELEASE",
        ]  # fmt: skip
    else:
        # SQLite: no advisory locks; the audit seq is the table's max + 1
        assert statements == [
            "SAVEPOINT", "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "INSERT",
            "SELECT", "SELECT", "INSERT", "RELEASE",
        ]  # fmt: skip


def test_a_reviewer_made_senior_is_offered_appeals_at_once(
    make_claim, shop_a, alice, charlie, erin
):
    """The take's statements are compiled once per reviewer id, roles and queue
    (``selectors.take_next_reads``): new roles compile new ones, so nothing stale is
    served (a non-senior's statements leave appeals out)."""
    from django.contrib.auth.models import Group

    standard = default_queue()
    appeal = _appealed(make_claim, shop_a, alice, standard, erin)
    ordinary = _waiting(make_claim, shop_a, alice, standard, hours=30)
    assert services.claim_take_next(reviewer=_fresh(charlie)).pk == ordinary.pk
    with pytest.raises(NothingToReview):
        services.claim_take_next(reviewer=_fresh(charlie))

    charlie.groups.add(Group.objects.get_or_create(name="senior reviewers")[0])

    assert services.claim_take_next(reviewer=_fresh(charlie)).pk == appeal.pk


def test_nothing_to_review_costs_the_same_few_queries_whatever_the_queues(
    make_claim, shop_a, alice, erin, charlie, django_assert_max_num_queries
):
    def nothing(reviewer):
        with pytest.raises(NothingToReview):
            services.claim_take_next(reviewer=reviewer)

    first = _fresh(charlie)
    small = _queries_of(lambda: nothing(first))
    _setup_for_counting(make_claim, shop_a, alice, erin, queues=4, claims=0)
    reviewer = _fresh(charlie)

    # roles (2, and the reviewer's platform), savepoint, the lease lock (PostgreSQL), lease
    # count, queues (none with anything for charlie), the claims of no queue, rollback and
    # release
    with django_assert_max_num_queries(10):
        large = _queries_of(lambda: nothing(reviewer))

    assert large == small


# --- held_by ----------------------------------------------------------------------------------


def test_held_by_follows_the_open_assignment_through_every_service(
    make_claim, shop_a, alice, charlie, dora
):
    claims = [_in_review(make_claim(shop_a), alice) for _ in range(5)]
    for claim in claims:
        services.claim_assign(claim=claim, reviewer=charlie)
    _holders_are_consistent()
    assert set(RefundClaim.objects.filter(held_by=charlie)) == set(claims)

    decided, asked, released, withdrawn, expired = claims
    services.claim_decide(
        claim=decided, reviewer=charlie, outcome="refund_denied", rationale="Edited photo."
    )
    services.claim_request_buyer_evidence(
        claim=asked, reviewer=charlie, message="Please send the original photo."
    )
    services.claim_release(claim=released, reviewer=dora)
    services.claim_withdraw(claim=withdrawn, actor=Actor.platform("test"), reason="gave up")
    Assignment.objects.filter(claim=expired).update(expires_at=timezone.now())
    assert services.leases_expire() == 1

    _holders_are_consistent()
    assert not RefundClaim.objects.filter(held_by__isnull=False).exists()
    assert services.claim_take_next(reviewer=dora).pk in {released.pk, expired.pk}
    _holders_are_consistent()


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_holders_and_leases_of_open_assignments(
    make_claim, shop_a, alice, charlie, erin
):
    from django.db.migrations.executor import MigrationExecutor

    # given: two claims held and one released, then the schema as it was before leases
    held = [_in_review(make_claim(shop_a), alice) for _ in range(2)]
    released = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=held[0], reviewer=charlie)
    services.claim_assign(claim=held[1], reviewer=erin)
    services.claim_assign(claim=released, reviewer=charlie)
    services.claim_release(claim=released, reviewer=charlie)
    before = ("refunds", "0003_auditevent_append_only")
    latest = MigrationExecutor(
        connection
    ).loader.graph.leaf_nodes()  # every app: going back unapplies their dependants
    executor = MigrationExecutor(connection)
    executor.migrate([before])

    # when
    started = timezone.now()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)

    # then
    holders = dict(RefundClaim.objects.values_list("pk", "held_by_id"))
    assert holders[held[0].pk] == charlie.pk
    assert holders[held[1].pk] == erin.pk
    assert holders[released.pk] is None
    for lease in Assignment.objects.filter(released_at__isnull=True):
        assert lease.last_activity_at == lease.assigned_at
        assert lease.expires_at >= started + dt.timedelta(minutes=60)
    assert Assignment.objects.get(claim=released).expires_at is None
    _holders_are_consistent()


# --- racing reviewers (PostgreSQL) ----------------------------------------------------------

REVIEWERS = 8


def _take_at_once(reviewers) -> tuple[list[int], int, list[BaseException]]:
    """Every reviewer asks for the next claim at the same moment, each on its own
    connection: (claims taken, "nothing to review" answers, unexpected errors)."""
    barrier = threading.Barrier(len(reviewers))
    taken: list[int] = []
    nothing: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def take(reviewer):
        try:
            barrier.wait()
            claim = services.claim_take_next(reviewer=reviewer)
            with lock:
                taken.append(claim.pk)
        except NothingToReview:
            with lock:
                nothing.append(reviewer.pk)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(reviewer,)) for reviewer in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken, len(nothing), errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("waiting", "nothing_answers"), [(REVIEWERS - 1, 1), (REVIEWERS, 0)])
def test_racing_reviewers_each_take_a_different_claim_and_nothing_is_said_only_when_true(
    django_user_model, make_claim, shop_a, alice, waiting, nothing_answers
):
    reviewers = [_member_of(django_user_model, f"racer{i}", "reviewers") for i in range(REVIEWERS)]
    urgent, standard = _queue("urgent", 5), default_queue()
    for round_ in range(3):
        # given: the claims split over two queues, all with the same deadline
        claims = [
            _waiting(make_claim, shop_a, alice, urgent if n % 2 else standard, hours=1)
            for n in range(waiting)
        ]

        # when
        taken, nothing, errors = _take_at_once(reviewers)

        # then: every claim taken exactly once, "nothing" only for the reviewer left over
        assert errors == []
        assert sorted(taken) == sorted(c.pk for c in claims), round_
        assert nothing == nothing_answers, round_
        _holders_are_consistent()
        for claim in claims:  # decided, so the next round starts from an empty queue
            holder = RefundClaim.objects.get(pk=claim.pk).held_by
            services.claim_decide(
                claim=claim, reviewer=holder, outcome="refund_denied", rationale="Edited photo."
            )
    assert verify_chain()[1] is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_reviewers_on_a_deep_queue_never_hear_nothing_to_review(
    django_user_model, make_claim, shop_a, alice
):
    reviewers = [_member_of(django_user_model, f"deep{i}", "reviewers") for i in range(REVIEWERS)]
    standard = default_queue()
    claims = [
        _waiting(make_claim, shop_a, alice, standard, hours=n % 3) for n in range(REVIEWERS * 3 + 2)
    ]

    taken: list[int] = []
    for _round in range(3):
        got, nothing, errors = _take_at_once(reviewers)
        assert errors == [] and nothing == 0
        taken += got

    assert len(taken) == len(set(taken)) == REVIEWERS * 3
    assert RefundClaim.objects.filter(pk__in=[c.pk for c in claims], held_by=None).count() == 2
    _holders_are_consistent()


def _backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_waiting_claim_locked_for_a_moment_is_waited_for_not_reported_missing(
    make_claim, shop_a, alice, charlie
):
    # given: the only waiting claim, its row locked by another transaction (as the checks
    # do while they rescore it on new evidence)
    claim = _waiting(make_claim, shop_a, alice, default_queue(), hours=1)
    locked, finish = threading.Event(), threading.Event()
    answer: dict[str, int | None] = {}

    def rescore():
        try:
            with transaction.atomic():
                RefundClaim.objects.select_for_update().get(pk=claim.pk)
                locked.set()
                finish.wait()
        finally:
            connection.close()

    def take():
        try:
            answer["claim"] = services.claim_take_next(reviewer=charlie).pk
        except NothingToReview:
            answer["claim"] = None
        finally:
            connection.close()

    other = threading.Thread(target=rescore)
    other.start()
    locked.wait()

    # when: a reviewer asks for the next claim meanwhile
    taker = threading.Thread(target=take)
    taker.start()
    while taker.is_alive() and not _backend_waits_for_a_lock():
        threading.Event().wait(0.01)
    finish.set()
    other.join()
    taker.join()

    # then: the reviewer waited for the row and got the claim
    assert answer == {"claim": claim.pk}
    assert RefundClaim.objects.get(pk=claim.pk).held_by == charlie
