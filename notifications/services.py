"""Writes about notifications: made from the claim events (``notify_claim_event``, called
by ``refunds.webhooks.emit_claim_event``) and the 12 h deadline sweep, e-mailed by Celery
from the rows themselves (the outbox pattern of ``config/outbox.py``).

* At most once per event and person: ``notification_once_per_event_and_user`` (a unique
  constraint on (user, event_key)); a second attempt to make the same one is ignored.
* Each e-mail is taken by a compare-and-set (``pending`` → ``sending``), so two workers
  or a retried task never both send it; the reconciler re-sends rows no message carried
  and gives rows a dead worker left in ``sending`` another try (up to MAX_EMAIL_ATTEMPTS).
* E-mails are written in the recipient's stored language (``accounts.Profile.language``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from notifications import texts
from notifications.models import EmailStatus, Kind, Notification, NotificationPreference

log = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 3
STUCK_MINUTES = 10
DEADLINE_NOTICE_HOURS = 12
DEADLINE_BATCH = 200
DEADLINE_MAX_BATCHES = 10
DIGEST_USERS_PER_RUN = 500


# --- making notifications ----------------------------------------------------------------


def _kind_of(event_type: str, extra: dict) -> Kind | None:
    if event_type != "claim.status_changed":
        return None
    source, target = extra.get("from"), extra.get("to")
    if target == "awaiting_merchant" and source == "checking":
        return Kind.NEW_CLAIM
    if target == "awaiting_buyer":
        return Kind.EVIDENCE_REQUESTED
    if target == "decided":
        return Kind.APPEAL_DECIDED if source == "appealed" else Kind.DECISION
    return None


def notify_claim_event(claim, event_type: str, extra: dict) -> list[int]:
    """Tell the claim's shop about the claim event, if it is one people are told of:
    the merchant's answer window opened (a new claim), the reviewer asked the buyer for
    more evidence, a decision, an appeal's decision. Runs inside the transition's
    transaction; the e-mails go after its commit."""
    kind = _kind_of(event_type, extra)
    if kind is None:
        return []
    key = f"{kind}:{claim.pk}"
    if kind == Kind.EVIDENCE_REQUESTED:  # may happen more than once: one per audit event
        from refunds.models import AuditEvent

        seq = (
            AuditEvent.objects.filter(claim_id=claim.pk)
            .order_by("-seq")
            .values_list("seq", flat=True)
            .first()
        )
        key = f"{key}:{seq}"
    params = {"amount": str(claim.amount)}
    if kind in (Kind.DECISION, Kind.APPEAL_DECIDED):
        params["outcome"] = claim.outcome
        if claim.refund_amount is not None:
            params["refund_amount"] = str(claim.refund_amount)
    return notify_shop(
        merchant_id=claim.merchant_id, claim=claim, kind=kind, key=key, params=params
    )


def notify_shop(*, merchant_id: int, claim, kind: str, key: str, params: dict) -> list[int]:
    """One notification per member (owners and agents) of the shop, unless that member
    already has one for ``key``. Returns the ids of the rows whose e-mail is to be sent
    now; they are enqueued after commit."""
    from merchants.models import Membership

    members = list(
        Membership.objects.filter(merchant_id=merchant_id, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    if not members:
        return []
    preferences = {p.user_id: p for p in NotificationPreference.objects.filter(user__in=members)}
    rows = []
    for user_id in members:
        preference = preferences.get(user_id) or NotificationPreference(user_id=user_id)
        if not preference.wants_email(kind):
            status = EmailStatus.SKIPPED
        elif preference.digest:
            status = EmailStatus.DIGEST
        else:
            status = EmailStatus.PENDING
        rows.append(
            Notification(
                user_id=user_id,
                merchant_id=merchant_id,
                claim=claim,
                kind=kind,
                event_key=key,
                params=params,
                email_status=status,
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    to_send = list(
        Notification.objects.filter(
            event_key=key, user_id__in=members, email_status=EmailStatus.PENDING
        ).values_list("pk", flat=True)
    )
    _enqueue_emails(to_send)
    return to_send


def _enqueue_emails(ids: Iterable[int]) -> None:
    from notifications.tasks import notification_email_task

    for pk in ids:
        transaction.on_commit(lambda pk=pk: notification_email_task.delay(pk))


def deadline_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Tell the shops of the claims whose answer is due within 12 hours, once per claim
    (bounded batches along the ``claim_merchant_due`` index; the unique constraint makes
    a second run, or two at once, add nothing). Returns how many claims were told."""
    from refunds.models import RefundClaim

    now = now or timezone.now()
    reminded = Notification.objects.filter(claim=OuterRef("pk"), kind=Kind.DEADLINE_SOON)
    due = (
        RefundClaim.objects.filter(
            status="awaiting_merchant",
            merchant_deadline__gt=now,
            merchant_deadline__lte=now + dt.timedelta(hours=DEADLINE_NOTICE_HOURS),
        )
        .filter(~Exists(reminded))
        .order_by("merchant_deadline", "pk")
    )
    told = 0
    for _batch in range(DEADLINE_MAX_BATCHES):
        claims = list(due.only("pk", "merchant_id", "amount", "merchant_deadline")[:DEADLINE_BATCH])
        for claim in claims:
            with transaction.atomic():
                notify_shop(
                    merchant_id=claim.merchant_id,
                    claim=claim,
                    kind=Kind.DEADLINE_SOON,
                    key=f"{Kind.DEADLINE_SOON}:{claim.pk}",
                    params={
                        "amount": str(claim.amount),
                        "deadline": claim.merchant_deadline.isoformat(),
                    },
                )
            told += 1
        if len(claims) < DEADLINE_BATCH:
            break
        last = claims[-1]  # keyset: a shop without members is not read twice in one run
        due = due.filter(
            Q(merchant_deadline__gt=last.merchant_deadline)
            | Q(merchant_deadline=last.merchant_deadline, pk__gt=last.pk)
        )
    return told


# --- reading ---------------------------------------------------------------------------


def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (404 for anybody else's)."""
    from notifications.selectors import notification_for_user

    notification = notification_for_user(user=user, notification_id=notification_id)
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
    return notification


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def preferences_update(*, user, **choices: bool) -> NotificationPreference:
    """Store the user's e-mail choices (fields of NotificationPreference)."""
    allowed = {f"email_{kind}" for kind in Kind.values} | {"digest"}
    unknown = set(choices) - allowed
    if unknown:
        raise ValueError(f"unknown preferences: {sorted(unknown)}")
    preference, _created = NotificationPreference.objects.update_or_create(
        user=user, defaults=choices
    )
    return preference


# --- e-mail ----------------------------------------------------------------------------


def _language_of(user) -> str:
    from accounts.selectors import stored_language

    return stored_language(user=user) or settings.LANGUAGE_CODE


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _take(queryset, *, from_status: str) -> uuid.UUID | None:
    """Compare-and-set ``from_status`` → ``sending`` on ``queryset``; the batch token if
    any row was taken."""
    token = uuid.uuid4()
    now = timezone.now()
    taken = queryset.filter(email_status=from_status).update(
        email_status=EmailStatus.SENDING, email_batch=token, email_claimed_at=now
    )
    return token if taken else None


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notification's e-mail if it is still to be sent. True when sent."""
    from django.db.models import F

    token = _take(Notification.objects.filter(pk=notification_id), from_status=EmailStatus.PENDING)
    if token is None:
        return False
    Notification.objects.filter(pk=notification_id).update(email_attempts=F("email_attempts") + 1)
    notification = Notification.objects.select_related("user", "merchant").get(pk=notification_id)
    return _send([notification], notification.user, token, template="notifications/email/one.txt")


def digest_send(*, user_id: int) -> int:
    """Send the user one e-mail summarising every notification waiting for the digest;
    how many it summarised (0 when another run took them first)."""
    from django.contrib.auth import get_user_model

    token = _take(Notification.objects.filter(user_id=user_id), from_status=EmailStatus.DIGEST)
    if token is None:
        return 0
    rows = list(
        Notification.objects.filter(email_batch=token)
        .select_related("merchant")
        .order_by("created_at", "pk")
    )
    user = get_user_model().objects.get(pk=user_id)
    _send(rows, user, token, template="notifications/email/digest.txt")
    return len(rows)


def _send(rows: list[Notification], user, token: uuid.UUID, *, template: str) -> bool:
    taken = Notification.objects.filter(email_batch=token)
    if not user.email:
        taken.update(email_status=EmailStatus.SKIPPED)
        return False
    with translation.override(_language_of(user)):
        lines = [
            {
                "title": texts.title(row),
                "url": _absolute(reverse("merchant_claim", args=[row.claim_id]))
                if row.claim_id
                else "",
            }
            for row in rows
        ]
        context = {
            "user": user,
            "lines": lines,
            "list_url": _absolute(reverse("notifications_list")),
            "preferences_url": _absolute(reverse("notification_preferences")),
        }
        subject = render_to_string("notifications/email/subject.txt", context).strip()
        if len(rows) == 1:
            subject = lines[0]["title"]
        body = render_to_string(template, context)
    try:
        send_mail(subject, body, None, [user.email])
    except (OSError, ConnectionError) as exc:  # SMTP trouble: back to its queue, or failed
        log.warning("notification e-mail to user %s not sent: %s", user.pk, exc)
        status = EmailStatus.PENDING if template.endswith("one.txt") else EmailStatus.DIGEST
        for row in rows:
            final = row.email_attempts + 1 >= MAX_EMAIL_ATTEMPTS and status == EmailStatus.PENDING
            Notification.objects.filter(pk=row.pk, email_batch=token).update(
                email_status=EmailStatus.FAILED if final else status
            )
        return False
    taken.update(email_status=EmailStatus.SENT, emailed_at=timezone.now())
    return True


def digests_send_due() -> list[int]:
    """The users who have notifications waiting for their digest (one bounded batch)."""
    from notifications.selectors import pending_digest_user_ids

    return list(pending_digest_user_ids(limit=DIGEST_USERS_PER_RUN))


def notifications_reconcile(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The outbox sweep: e-mails still ``pending`` a few minutes after their row was made
    (no message carried them: a broker down at commit) are enqueued again; e-mails left in
    ``sending`` by a worker that died get another try, or ``failed`` after
    MAX_EMAIL_ATTEMPTS."""
    now = now or timezone.now()
    stuck_since = now - dt.timedelta(minutes=STUCK_MINUTES)
    abandoned = Notification.objects.filter(
        email_status=EmailStatus.SENDING, email_claimed_at__lt=stuck_since
    )
    failed = abandoned.filter(email_attempts__gte=MAX_EMAIL_ATTEMPTS).update(
        email_status=EmailStatus.FAILED
    )
    retried = abandoned.filter(email_attempts__lt=MAX_EMAIL_ATTEMPTS).update(
        email_status=EmailStatus.PENDING
    )
    waiting = list(
        Notification.objects.filter(
            email_status=EmailStatus.PENDING, created_at__lt=now - dt.timedelta(minutes=2)
        ).values_list("pk", flat=True)[:500]
    )
    from notifications.tasks import notification_email_task

    for pk in waiting:
        notification_email_task.delay(pk)
    return {"failed": failed, "retried": retried, "enqueued": len(waiting)}
