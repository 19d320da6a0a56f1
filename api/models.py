"""What the platform API keeps of its own: the Idempotency-Key records."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` of one client: claimed before the request runs, completed
    with the response it produced. The unique (client, key) row is the lock: a concurrent
    duplicate fails to insert it and never runs the request a second time."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")

    client = models.ForeignKey(
        "merchants.PlatformClient", on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(_("key"), max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.IN_PROGRESS
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_content_type = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_unique_key"),
        ]
        indexes = [
            # The periodic purge deletes by age.
            models.Index(fields=["created_at"], name="idempotency_by_age"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key} ({self.status})"
