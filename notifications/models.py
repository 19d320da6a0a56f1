"""What a shop's people are told about its claims: one row per event and person, which is
also the outbox of the e-mail (see notifications.services)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    NEW_CLAIM = "new_claim", _("New claim against your shop")
    DEADLINE_SOON = "deadline_soon", _("Answer due within 12 hours")
    EVIDENCE_REQUESTED = "evidence_requested", _("More evidence requested")
    DECISION = "decision", _("Claim decided")
    APPEAL_DECIDED = "appeal_decided", _("Appeal decided")


class EmailStatus(models.TextChoices):
    PENDING = "pending", _("to send")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    DIGEST = "digest", _("waiting for the daily digest")
    SKIPPED = "skipped", _("not wanted by e-mail")
    FAILED = "failed", _("failed")


class Notification(models.Model):
    """One event told to one member of a shop. Holds no buyer data: the texts are made
    from ``kind``, the claim's number and ``params`` (amounts, outcome, deadline)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="notifications"
    )
    claim = models.ForeignKey(
        "refunds.RefundClaim",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    # What makes the event unique (e.g. "decision:42"): one notification per key and user.
    event_key = models.CharField(_("event"), max_length=100)
    params = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    email_status = models.CharField(
        _("e-mail"), max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    email_attempts = models.PositiveSmallIntegerField(_("e-mail attempts"), default=0)
    # The send (or digest) that took the row, set by its compare-and-set.
    email_batch = models.UUIDField(null=True, blank=True)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "event_key"], name="notification_once_per_event_and_user"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=Kind.values), name="notification_kind_valid"
            ),
        ]
        indexes = [
            # The list page and the bell: a user's newest notifications, the unread ones.
            models.Index(fields=["user", "-id"], name="notification_list"),
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
            # The reconciler: e-mails not sent yet.
            models.Index(
                fields=["email_status", "created_at"],
                condition=Q(email_status__in=["pending", "sending"]),
                name="notification_email_outbox",
            ),
            # The daily digest: who has something waiting.
            models.Index(
                fields=["user"], condition=Q(email_status="digest"), name="notification_digest"
            ),
            # The 12 h deadline sweep: was this claim's reminder made already?
            models.Index(fields=["claim", "kind"], name="notification_by_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.user}"


class NotificationPreference(models.Model):
    """Which events a person wants by e-mail (in-app they always get them), and whether
    as one daily digest instead of a mail per event."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_new_claim = models.BooleanField(_("New claims"), default=True)
    email_deadline_soon = models.BooleanField(_("Answer due within 12 hours"), default=True)
    email_evidence_requested = models.BooleanField(_("More evidence requested"), default=True)
    email_decision = models.BooleanField(_("Decisions"), default=True)
    email_appeal_decided = models.BooleanField(_("Appeals decided"), default=True)
    digest = models.BooleanField(
        _("One daily digest instead of an e-mail per event"), default=False
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return str(self.user)

    def wants_email(self, kind: str) -> bool:
        return bool(getattr(self, f"email_{kind}", True))
