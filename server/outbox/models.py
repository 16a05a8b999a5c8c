"""One row per fact the outside world must hear about (an order paid, a shipment sent)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """Written inside the transaction of the change it reports, so it exists exactly when the
    change does; ``relayed_at`` is set once its subscribers have fanned it out."""

    # What receivers deduplicate on (the ``webhook-id`` header of outbound webhooks).
    event_id = models.CharField(max_length=40, unique=True)
    topic = models.CharField(max_length=60)
    # The aggregate it is about ("order:42"): deliveries for one key keep the order of ids.
    key = models.CharField(max_length=100)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    relayed_at = models.DateTimeField(null=True, blank=True)
    # A subscriber that failed on this event (a bug): the event is set aside, not retried
    # forever ahead of every event behind it.
    relay_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(relayed_at__isnull=True), name="outbox_unrelayed"
            ),
            models.Index(fields=["key", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.key} ({self.event_id})"
