"""Notifications: one per event and shop member, e-mailed once in the member's language,
as they chose (each event, a daily digest, or not at all), never with buyer data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications import services, tasks
from notifications.models import EmailStatus, Kind, Notification
from refunds.models import RefundClaim
from tests.web.conftest import BUYER_ADDRESS, BUYER_PHONE

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def agnes(django_user_model, shop_a):
    """An agent of shop A."""
    from merchants.services import membership_add

    user = django_user_model.objects.create_user(
        "agnes", email="agnes@shop-a.example", password="pw-agnes-123"
    )
    membership_add(merchant=shop_a, user=user, role="agent")
    return user


@pytest.fixture
def members(alice, agnes, bob):
    for user, address in ((alice, "alice@shop-a.example"), (bob, "bob@shop-b.example")):
        user.email = address
        user.save(update_fields=["email"])
    return alice, agnes


def _of(user, kind=None):
    qs = Notification.objects.filter(user=user)
    return qs.filter(kind=kind) if kind else qs


def _mails_to(address: str):
    return [m for m in mail.outbox if address in m.to]


def test_a_new_claim_tells_every_member_of_its_shop_once(members, bob, shop_a, make_claim):
    alice, agnes = members

    claim = make_claim(shop_a)

    for user in (alice, agnes):
        assert _of(user, Kind.NEW_CLAIM).filter(claim=claim).count() == 1
        assert len(_mails_to(user.email)) == 1
    assert not _of(bob).exists()
    assert not _mails_to(bob.email)
    assert f"#{claim.pk}" in _mails_to(alice.email)[0].subject


def test_the_same_event_twice_makes_no_second_notification_nor_mail(
    members, shop_a, make_claim, django_capture_on_commit_callbacks
):
    alice, _agnes = members
    claim = make_claim(shop_a)
    sent = len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        services.notify_claim_event(
            claim, "claim.status_changed", {"from": "checking", "to": "awaiting_merchant"}
        )

    assert _of(alice, Kind.NEW_CLAIM).count() == 1
    assert len(mail.outbox) == sent


def test_an_email_already_taken_is_never_sent_again(members, shop_a, make_claim):
    alice, _agnes = members
    make_claim(shop_a)
    notification = _of(alice).get()
    sent = len(mail.outbox)

    assert services.notification_email_send(notification_id=notification.pk) is False
    assert tasks.notification_email_task(notification.pk) is False
    assert len(mail.outbox) == sent
    notification.refresh_from_db()
    assert notification.email_status == EmailStatus.SENT


def test_the_email_is_in_the_recipients_stored_language(members, shop_a, make_claim, zh_catalogue):
    from accounts.services import profile_set_language

    alice, agnes = members
    profile_set_language(user=alice, language="zh-hans")
    profile_set_language(user=agnes, language="en")

    claim = make_claim(shop_a)

    (to_alice,) = _mails_to(alice.email)
    (to_agnes,) = _mails_to(agnes.email)
    assert "新的退款申请" in to_alice.subject and f"#{claim.pk}" in to_alice.subject
    assert "New claim" in to_agnes.subject
    assert "你好" in to_alice.body and "Hello" in to_agnes.body


def test_preferences_choose_which_events_come_by_email(members, shop_a, make_claim):
    alice, agnes = members
    services.preferences_update(user=alice, email_new_claim=False)

    make_claim(shop_a)

    assert _of(alice, Kind.NEW_CLAIM).get().email_status == EmailStatus.SKIPPED  # in-app still
    assert not _mails_to(alice.email)
    assert len(_mails_to(agnes.email)) == 1


def test_the_digest_sends_one_mail_a_day_for_everything(members, shop_a, make_claim):
    alice, _agnes = members
    services.preferences_update(user=alice, digest=True)
    first, second = make_claim(shop_a), make_claim(shop_a)
    assert not _mails_to(alice.email)

    assert tasks.digests_task() >= 1
    tasks.digests_task()  # a second run finds nothing left

    (digest,) = _mails_to(alice.email)
    assert f"#{first.pk}" in digest.body and f"#{second.pk}" in digest.body
    assert set(_of(alice).values_list("email_status", flat=True)) == {EmailStatus.SENT}


def test_decision_and_evidence_request_tell_the_shop(
    members, shop_a, make_claim, charlie, contest_and_decide, django_capture_on_commit_callbacks
):
    from accounts.services import profile_set_language
    from refunds import services as claims

    alice, agnes = members
    profile_set_language(user=agnes, language="en")
    asked = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        claims.claim_merchant_respond(
            claim=asked, user=alice, response="contest", statement="We packed it intact, see photo."
        )
        claims.claim_take_next(reviewer=charlie)
        claims.claim_request_buyer_evidence(
            claim=asked, reviewer=charlie, message="Send a photo of the box."
        )
    decided = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        contest_and_decide(decided, alice, charlie, outcome="refund_denied")

    for user in (alice, agnes):
        assert _of(user, Kind.EVIDENCE_REQUESTED).filter(claim=asked).count() == 1
        assert _of(user, Kind.DECISION).filter(claim=decided).count() == 1
    decision_mail = [m for m in _mails_to(agnes.email) if f"#{decided.pk}" in m.subject]
    assert len(decision_mail) == 2  # the new claim, then its decision
    assert "Refund denied" in decision_mail[-1].subject


def test_deadline_reminder_is_sent_once_whatever_the_runs(
    members, shop_a, make_claim, django_capture_on_commit_callbacks
):
    alice, agnes = members
    soon = make_claim(shop_a)
    later = make_claim(shop_a)
    now = timezone.now()
    RefundClaim.objects.filter(pk=soon.pk).update(merchant_deadline=now + dt.timedelta(hours=5))
    RefundClaim.objects.filter(pk=later.pk).update(merchant_deadline=now + dt.timedelta(hours=30))
    before = len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.deadline_reminders_task() == 1
        assert tasks.deadline_reminders_task() == 0

    for user in (alice, agnes):
        assert _of(user, Kind.DEADLINE_SOON).count() == 1
        assert _of(user, Kind.DEADLINE_SOON).get().claim_id == soon.pk
    assert len(mail.outbox) == before + 2


def test_reconciler_sends_what_no_message_carried(members, shop_a, make_claim):
    alice, _agnes = members
    claim = make_claim(shop_a, evaluate=False)
    # The broker was down: the rows exist, the tasks were never delivered.
    services.notify_shop(
        merchant_id=shop_a.pk, claim=claim, kind=Kind.NEW_CLAIM, key="k", params={}
    )
    Notification.objects.update(created_at=timezone.now() - dt.timedelta(minutes=5))
    stuck = _of(alice).get()
    assert stuck.email_status == EmailStatus.PENDING and not mail.outbox

    result = services.notifications_reconcile()

    assert result["enqueued"] == 2
    assert len(_mails_to(alice.email)) == 1


def test_no_buyer_phone_address_or_gps_in_notifications_or_mail(
    client, members, shop_a, make_claim, charlie, contest_and_decide
):
    alice, _agnes = members
    claim = make_claim(shop_a)
    assert claim.order.shipping_address == BUYER_ADDRESS and claim.buyer.phone == BUYER_PHONE
    contest_and_decide(claim, alice, charlie)
    client.force_login(alice)

    page = client.get(reverse("notifications_list"), **EN).content.decode()

    texts = [page] + [m.subject + m.body for m in mail.outbox]
    for text in texts:
        assert BUYER_PHONE not in text
        assert BUYER_ADDRESS not in text
        assert "张三" not in text  # not even the buyer's pseudonym
        assert "GPS" not in text
    assert f"#{claim.pk}" in page


# --- pages -----------------------------------------------------------------------------


def test_bell_counts_unread_and_mark_read_clears_it(client, members, shop_a, make_claim):
    alice, _agnes = members
    make_claim(shop_a)
    make_claim(shop_a)
    client.force_login(alice)

    bell = client.get(reverse("notifications_bell"), **EN).content.decode()
    assert 'data-testid="bell-count">2<' in bell

    one = _of(alice).first()
    response = client.post(reverse("notification_open", args=[one.pk]))
    assert response["Location"] == reverse("merchant_claim", args=[one.claim_id])
    assert (
        'data-testid="bell-count">1<' in client.get(reverse("notifications_bell")).content.decode()
    )

    client.post(reverse("notifications_read_all"))
    assert "bell-count" not in client.get(reverse("notifications_bell")).content.decode()
    assert not _of(alice).filter(read_at__isnull=True).exists()


def test_nobody_else_can_open_or_read_a_users_notification(
    client, members, bob, shop_a, make_claim
):
    alice, agnes = members
    make_claim(shop_a)
    notification = _of(alice).get()

    for intruder in (bob, agnes):  # another shop, and a colleague of the same shop
        client.force_login(intruder)
        response = client.post(reverse("notification_open", args=[notification.pk]))
        assert response.status_code == 404
    client.force_login(bob)
    listed = client.get(reverse("notifications_list"), **EN).content.decode()
    assert f"#{notification.claim_id}" not in listed
    notification.refresh_from_db()
    assert notification.read_at is None


def test_the_page_header_has_the_bell(client, members):
    alice, _agnes = members
    client.force_login(alice)

    html = client.get(reverse("merchant_inbox"), **EN).content.decode()

    assert reverse("notifications_bell") in html and 'data-testid="bell"' in html


def test_preferences_page_saves_the_choices(client, members):
    alice, _agnes = members
    client.force_login(alice)

    response = client.post(
        reverse("notification_preferences"), {"email_decision": "on", "digest": "on"}
    )

    assert response.status_code == 302
    preference = alice.notification_preference
    assert preference.digest and preference.email_decision and not preference.email_new_claim


def test_an_appeal_decided_tells_the_shop_once(
    members,
    shop_a,
    make_claim,
    charlie,
    dora,
    contest_and_decide,
    django_capture_on_commit_callbacks,
):
    from refunds import services as claims

    alice, agnes = members
    claim = make_claim(shop_a)
    with django_capture_on_commit_callbacks(execute=True):
        contest_and_decide(claim, alice, charlie, outcome="refund_denied")
        claims.claim_appeal(
            claim=claim,
            filed_by="merchant",
            reason="Please look at the packing photo again.",
            user=alice,
        )
        claims.claim_take_next(reviewer=dora)
        claims.claim_decide(
            claim=claim,
            reviewer=dora,
            outcome="refund_approved",
            rationale="On appeal: the packing photo does not show the item.",
        )

    for user in (alice, agnes):
        assert _of(user, Kind.APPEAL_DECIDED).filter(claim=claim).count() == 1
        assert _of(user, Kind.DECISION).filter(claim=claim).count() == 1  # the first one
