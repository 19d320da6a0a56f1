"""Reads about notifications, scoped to the person they are for."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from notifications.models import Notification, NotificationPreference

LIST_SIZE = 30


def unread_count(*, user) -> int:
    """The bell's number (the ``notification_unread`` partial index)."""
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications_for_user(*, user, before: int | None = None) -> list[Notification]:
    """The user's newest notifications (``LIST_SIZE + 1``: one more says there are older
    ones), older than id ``before`` when given (a keyset page)."""
    qs = Notification.objects.filter(user=user).select_related("merchant")
    if before is not None:
        qs = qs.filter(pk__lt=before)
    return list(qs.order_by("-id")[: LIST_SIZE + 1])


def notification_for_user(*, user, notification_id: int) -> Notification:
    """One of the user's notifications, or 404 (another person's does not exist for them)."""
    try:
        return Notification.objects.get(pk=notification_id, user=user)
    except Notification.DoesNotExist as exc:
        raise Http404 from exc


def preferences_for(*, user) -> NotificationPreference:
    """The user's preferences; the defaults (every event by e-mail, no digest) unsaved."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(
        user=user
    )


def pending_digest_user_ids(*, limit: int) -> QuerySet:
    from notifications.models import EmailStatus

    return (
        Notification.objects.filter(email_status=EmailStatus.DIGEST)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()[:limit]
    )
