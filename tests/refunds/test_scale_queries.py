"""Reads that must not grow with the claims table (issue 13)."""

import datetime as dt

from django.utils import timezone

from refunds import queue_counts, selectors
from refunds.models import ClaimStatus as S
from refunds.models import RefundClaim, ReviewQueue
from refunds.routing import default_queue


def _waiting(make_claim, shop, queue, hours):
    claim = make_claim(shop)
    RefundClaim.objects.filter(pk=claim.pk).update(
        status=S.IN_REVIEW,
        queue=queue,
        review_deadline=timezone.now() + dt.timedelta(hours=hours),
    )
    return claim.pk


def test_most_urgent_waiting_is_the_head_of_the_full_order(
    make_claim, shop_a, django_assert_max_num_queries
):
    urgent = ReviewQueue.objects.create(slug="urgent", name="Urgent", priority=1)
    standard = default_queue()
    made = [
        _waiting(make_claim, shop_a, urgent if n % 3 == 0 else standard, hours=n % 4)
        for n in range(9)
    ]
    made.append(_waiting(make_claim, shop_a, None, hours=0))  # no queue: served last
    expected = list(selectors.claims_awaiting_review().values_list("pk", flat=True))
    assert sorted(expected) == sorted(made)

    # one query for the queues, one per queue holding claims, one for claims of no queue
    with django_assert_max_num_queries(4):
        heads = selectors.most_urgent_waiting(limit=4)
    assert [c.pk for c in heads] == expected[:4]
    assert [c.pk for c in selectors.most_urgent_waiting(limit=50)] == expected
    assert heads[0].merchant.name and heads[0].queue.slug == "urgent"  # no query per row


def test_the_queue_overview_counts_waiting_appeals_and_overdue_per_queue(
    make_claim, shop_a, django_assert_max_num_queries
):
    standard = default_queue()
    _waiting(make_claim, shop_a, standard, hours=-1)  # overdue
    _waiting(make_claim, shop_a, standard, hours=5)
    appealed = _waiting(make_claim, shop_a, standard, hours=5)
    RefundClaim.objects.filter(pk=appealed).update(status=S.APPEALED)
    queue_counts.rebuild()  # the claims were written around the lifecycle above
    # the queues, their waiting counters, the claims due earlier this hour
    with django_assert_max_num_queries(3):
        queues = {q.slug: q for q in selectors.review_queue_overview()}
    row = queues[standard.slug]
    assert (row.waiting, row.appeals, row.overdue) == (3, 1, 1)


def test_most_urgent_waiting_stops_at_the_queue_that_fills_the_list(
    make_claim, shop_a, django_assert_num_queries
):
    # given: the first queue alone holds more than the list shows
    urgent = ReviewQueue.objects.create(slug="urgent", name="Urgent", priority=1)
    for n in range(5):
        _waiting(make_claim, shop_a, urgent, hours=n)
    _waiting(make_claim, shop_a, default_queue(), hours=-5)  # due first, but a later queue
    _waiting(make_claim, shop_a, None, hours=-9)
    expected = list(selectors.claims_awaiting_review().values_list("pk", flat=True))

    # then: the queues, and the head of the first one only
    with django_assert_num_queries(2):
        heads = selectors.most_urgent_waiting(limit=4)
    assert [c.pk for c in heads] == expected[:4]
    assert {c.queue_id for c in heads} == {urgent.pk}


def test_queues_of_one_priority_are_merged_by_deadline(make_claim, shop_a):
    first = ReviewQueue.objects.create(slug="first", name="First", priority=1)
    twin = ReviewQueue.objects.create(slug="twin", name="Twin", priority=1)
    made = [_waiting(make_claim, shop_a, first if n % 2 else twin, hours=n) for n in range(6)]
    _waiting(make_claim, shop_a, default_queue(), hours=-5)
    expected = list(selectors.claims_awaiting_review().values_list("pk", flat=True))
    assert expected[:6] == made  # by deadline across the two queues

    assert [c.pk for c in selectors.most_urgent_waiting(limit=5)] == expected[:5]
    assert [c.pk for c in selectors.most_urgent_waiting(limit=7)] == expected
