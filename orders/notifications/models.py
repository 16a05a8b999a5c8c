"""One message to one user over one channel, for one outbox event."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    # The channel cannot reach the user (no email address, no linked account).
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    event = models.ForeignKey("outbox.OutboxEvent", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Why this user hears of it: "buyer", "seller" or "owner" (of a webhook endpoint).
    role = models.CharField(max_length=10)
    channel = models.CharField(max_length=20)
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    tries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "user", "channel"], name="notification_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="notification_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.user_id} for {self.event_id}"
