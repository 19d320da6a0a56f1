"""Taking a claim is a lease (docs/lifecycle.md, "Taking claims and leases"): it runs for
the queue's ``lease_minutes`` from the holder's last activity, and when it passes the
periodic sweep (``refunds.services.leases_expire``) gives the claim back to its queue,
in the audit trail; a reviewer holds at most ``REVIEW_MAX_OPEN_LEASES`` claims."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from refunds import policy, services
from refunds.audit import verify_chain
from refunds.exceptions import ClaimError, NotAllowed
from refunds.models import Assignment, AuditEvent, ClaimStatus, RefundClaim, ReviewQueue
from refunds.tasks import leases_expire_task
from tests.conftest import _member_of

S = ClaimStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _in_review(claim, merchant_user):
    return services.claim_merchant_respond(
        claim=claim, user=merchant_user, response="contest", statement="裂痕是画上去的 painted"
    )


def _lease(claim) -> Assignment | None:
    return Assignment.objects.filter(claim=claim, released_at__isnull=True).first()


def _quiet_since(claim, *, minutes: int) -> Assignment:
    """The holder's last activity was ``minutes`` ago (the lease moved back in time)."""
    lease = _lease(claim)
    minutes_of_queue = claim.queue.lease_minutes
    back = timezone.now() - dt.timedelta(minutes=minutes)
    Assignment.objects.filter(pk=lease.pk).update(
        last_activity_at=back, expires_at=back + dt.timedelta(minutes=minutes_of_queue)
    )
    lease.refresh_from_db()
    return lease


def _fresh(user):
    return type(user).objects.get(pk=user.pk)


# --- the lease --------------------------------------------------------------------------------


def test_taking_a_claim_starts_a_lease_as_long_as_its_queues(make_claim, shop_a, alice, charlie):
    quick = ReviewQueue.objects.create(slug="quick", name="Quick", priority=1, lease_minutes=15)
    in_quick = _in_review(make_claim(shop_a), alice)
    RefundClaim.objects.filter(pk=in_quick.pk).update(queue=quick)
    in_standard = _in_review(make_claim(shop_a), alice)

    services.claim_take_next(reviewer=charlie)
    services.claim_assign(claim=in_standard, reviewer=charlie)

    short, standard = _lease(in_quick), _lease(in_standard)
    assert short.expires_at - short.last_activity_at == dt.timedelta(minutes=15)
    assert standard.expires_at - standard.last_activity_at == dt.timedelta(minutes=60)
    assigned = AuditEvent.objects.get(claim=in_quick, action="assigned")
    recorded = dt.datetime.fromisoformat(assigned.data["lease_expires_at"])
    assert abs(recorded - short.expires_at) < dt.timedelta(milliseconds=1)  # JSON precision


def test_the_holder_opening_the_review_page_renews_the_lease(
    client, make_claim, shop_a, alice, charlie
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    before = _quiet_since(claim, minutes=50)
    client.force_login(charlie)

    response = client.get(reverse("review_claim", args=[claim.pk]), **EN)

    after = _lease(claim)
    assert after.pk == before.pk
    assert after.last_activity_at > before.last_activity_at
    assert after.expires_at - after.last_activity_at == dt.timedelta(minutes=60)
    assert after.expires_at > timezone.now() + dt.timedelta(minutes=59)
    assert "Returns to the queue at" in response.content.decode()


def test_a_failed_decision_from_the_page_renews_the_lease_too(
    client, make_claim, shop_a, alice, charlie
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    before = _quiet_since(claim, minutes=50)
    client.force_login(charlie)

    response = client.post(
        reverse("review_decide", args=[claim.pk]),
        {"outcome": "refund_denied", "rationale": "short"},  # too short: the form says so
        **EN,
    )

    assert response.status_code == 200
    assert _lease(claim).expires_at > before.expires_at


def test_somebody_elses_visit_does_not_renew_the_lease(
    client, make_claim, shop_a, alice, charlie, erin
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    before = _quiet_since(claim, minutes=50)
    client.force_login(erin)

    html = client.get(reverse("review_claim", args=[claim.pk]), **EN).content.decode()

    assert _lease(claim).expires_at == before.expires_at
    assert "Held by charlie" in html and "Returns to the queue at" in html


def test_a_renewal_never_revives_an_ended_lease(make_claim, shop_a, alice, charlie):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_assign(claim=claim, reviewer=charlie)
    services.claim_release(claim=claim, reviewer=charlie)

    assert services.claim_lease_renew(claim=claim, reviewer=charlie) is False
    assert _lease(claim) is None
    assert RefundClaim.objects.get(pk=claim.pk).held_by is None


# --- expiry -----------------------------------------------------------------------------------


def test_an_expired_lease_gives_the_claim_back_to_its_queue_in_the_audit_trail(
    make_claim, shop_a, alice, charlie, erin
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    lease = _quiet_since(claim, minutes=61)

    assert services.leases_expire() == 1

    lease.refresh_from_db()
    assert lease.released_at is not None
    claim.refresh_from_db()
    assert claim.held_by is None and claim.status == S.IN_REVIEW
    event = AuditEvent.objects.get(claim=claim, action="lease_expired")
    assert event.actor_id is None and event.actor_label == "system:leases"
    assert event.data["holder"] == "charlie"
    assert verify_chain()[1] is None
    # the former holder can no longer decide it; the next reviewer gets it
    with pytest.raises(NotAllowed, match="Take this claim from the queue"):
        services.claim_decide(
            claim=claim, reviewer=charlie, outcome="refund_denied", rationale="Edited photo."
        )
    assert services.claim_take_next(reviewer=erin).pk == claim.pk


def test_a_lease_with_time_left_is_kept(make_claim, shop_a, alice, charlie):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    _quiet_since(claim, minutes=59)

    assert services.leases_expire() == 0
    assert _lease(claim).reviewer == charlie
    assert not AuditEvent.objects.filter(action="lease_expired").exists()


def test_leases_expire_in_bounded_batches_oldest_first(
    make_claim, shop_a, alice, charlie, erin, dora
):
    claims = [_in_review(make_claim(shop_a), alice) for _ in range(3)]
    for claim, reviewer, quiet in zip(claims, (charlie, erin, dora), (90, 120, 70), strict=True):
        services.claim_assign(claim=claim, reviewer=reviewer)
        _quiet_since(claim, minutes=quiet)

    assert services.leases_expire(limit=2) == 2
    # the two oldest expiries (120 and 90 minutes quiet); the 70 waits for the next batch
    assert [_lease(c) is None for c in claims] == [True, True, False]
    assert services.leases_expire(limit=2) == 1
    assert all(_lease(c) is None for c in claims)


def test_the_sweep_runs_every_minute_as_a_task(make_claim, shop_a, alice, charlie):
    entry = next(
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == leases_expire_task.name
    )
    assert entry["schedule"] == 60.0
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    _quiet_since(claim, minutes=61)

    assert leases_expire_task.delay().get() == 1
    assert leases_expire_task.delay().get() == 0  # safe to run twice


# --- the cap ----------------------------------------------------------------------------------


def test_a_reviewer_holds_at_most_the_cap(settings, make_claim, shop_a, alice, charlie):
    settings.REVIEW_MAX_OPEN_LEASES = 2
    claims = [_in_review(make_claim(shop_a), alice) for _ in range(4)]
    # Which claim comes first depends on routing (the fourth claim of one buyer is a
    # repeat claimant's, a queue served earlier): hold the one take-next gives.
    first = services.claim_take_next(reviewer=charlie)
    second, third = [c for c in claims if c.pk != first.pk][:2]
    services.claim_assign(claim=second, reviewer=charlie)

    with pytest.raises(NotAllowed, match="already hold 2 claims") as refused:
        services.claim_take_next(reviewer=charlie)
    with pytest.raises(NotAllowed):
        services.claim_assign(claim=third, reviewer=charlie)
    assert policy.open_lease_count(charlie) == 2
    verdict = policy.can_take(_fresh(charlie), RefundClaim.objects.get(pk=third.pk))
    assert not verdict and not verdict.wrong_state and verdict.reason == refused.value.message

    services.claim_release(claim=first, reviewer=charlie)
    assert services.claim_take_next(reviewer=charlie).pk == first.pk


def test_the_cap_reason_is_translated(settings, make_claim, shop_a, alice, charlie):
    settings.REVIEW_MAX_OPEN_LEASES = 1
    claims = [_in_review(make_claim(shop_a), alice) for _ in range(2)]
    services.claim_take_next(reviewer=charlie)

    with translation.override("zh-hans"):
        verdict = policy.can_take(charlie, RefundClaim.objects.get(pk=claims[1].pk))
    assert "1" in verdict.reason and "审核" in verdict.reason


def test_the_review_page_says_why_a_reviewer_at_the_cap_cannot_take(
    client, settings, make_claim, shop_a, alice, charlie
):
    settings.REVIEW_MAX_OPEN_LEASES = 1
    _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    other = _in_review(make_claim(shop_a), alice)
    client.force_login(charlie)

    html = client.get(reverse("review_claim", args=[other.pk]), **EN).content.decode()

    assert "You already hold 1 claim, the most a reviewer may hold at once" in html
    assert reverse("review_assign", args=[other.pk]) not in html


# --- pages ------------------------------------------------------------------------------------


def test_my_claims_shows_when_each_lease_ends_in_both_languages(
    client, make_claim, shop_a, alice, charlie
):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    lease = _quiet_since(claim, minutes=50)  # 10 minutes left
    client.force_login(charlie)

    english = client.get(reverse("review_mine"), **EN).content.decode()
    chinese = client.get(reverse("review_mine"), **ZH).content.decode()

    expires = timezone.localtime(lease.expires_at).strftime("%H:%M")
    assert "Lease" in english and f"Returns to the queue at {expires}" in english
    assert f"将于 {expires} 退回队列" in chinese
    assert "Returns to the queue" not in chinese
    assert 'data-lease-expires="' in english


def test_an_expired_lease_not_swept_yet_says_so(client, make_claim, shop_a, alice, charlie, erin):
    claim = _in_review(make_claim(shop_a), alice)
    services.claim_take_next(reviewer=charlie)
    _quiet_since(claim, minutes=65)
    client.force_login(erin)

    html = client.get(reverse("review_claim", args=[claim.pk]), **EN).content.decode()

    assert "Lease over: back to the queue at the next sweep" in html


# --- races (PostgreSQL) -----------------------------------------------------------------------


def _at_once(*actions) -> list[BaseException]:
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action):
        try:
            barrier.wait()
            action()
        except ClaimError:
            pass  # the other one came first: a refusal, not a failure
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


ROUNDS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_expiry_racing_the_holders_decision_ends_in_exactly_one_of_them(
    django_user_model, make_claim, shop_a, alice
):
    holders = [_member_of(django_user_model, f"holder{i}", "reviewers") for i in range(ROUNDS)]
    claims = []
    for holder in holders:
        claim = _in_review(make_claim(shop_a), alice)
        services.claim_assign(claim=claim, reviewer=holder)
        _quiet_since(claim, minutes=61)
        claims.append(claim)

    errors = []
    for claim, holder in zip(claims, holders, strict=True):
        errors += _at_once(
            services.leases_expire,
            lambda c=claim, h=holder: services.claim_decide(
                claim=c, reviewer=h, outcome="refund_denied", rationale="Edited listing photo."
            ),
        )
    services.leases_expire()  # what a sweep skipped (the claim was locked) ends now

    assert errors == []
    for claim in RefundClaim.objects.filter(pk__in=[c.pk for c in claims]):
        expired = AuditEvent.objects.filter(claim=claim, action="lease_expired").count()
        decided = claim.decisions.count()
        assert expired + decided == 1, claim.pk
        assert claim.held_by is None and _lease(claim) is None
        assert claim.status == (S.DECIDED if decided else S.IN_REVIEW)
    assert verify_chain()[1] is None  # which of the two wins is the race's business


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_expiry_racing_the_holders_renewal_ends_in_exactly_one_of_them(
    django_user_model, make_claim, shop_a, alice
):
    holders = [_member_of(django_user_model, f"renewer{i}", "reviewers") for i in range(ROUNDS)]
    claims = []
    for holder in holders:
        claim = _in_review(make_claim(shop_a), alice)
        services.claim_assign(claim=claim, reviewer=holder)
        _quiet_since(claim, minutes=61)
        claims.append(claim)
    claims = list(RefundClaim.objects.select_related("queue").filter(pk__in=[c.pk for c in claims]))
    renewed: dict[int, bool] = {}

    errors = []
    for claim in claims:
        holder = next(h for h in holders if h.pk == claim.held_by_id)
        errors += _at_once(
            services.leases_expire,
            lambda c=claim, h=holder: renewed.__setitem__(
                c.pk, services.claim_lease_renew(claim=c, reviewer=h)
            ),
        )

    assert errors == []
    for claim in claims:
        expired = AuditEvent.objects.filter(claim=claim, action="lease_expired").exists()
        lease = _lease(claim)
        if expired:
            assert lease is None and not renewed[claim.pk]
        else:
            assert renewed[claim.pk] and lease.expires_at > timezone.now()
            assert RefundClaim.objects.get(pk=claim.pk).held_by_id == lease.reviewer_id
