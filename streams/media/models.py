"""Recordings: one row per recorded publication (a part), for the replay page."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from streams.models import LiveSession


class RecordingStatus(models.TextChoices):
    RECORDING = "recording", _("Recording")
    COMPLETE = "complete", _("Complete")
    FAILED = "failed", _("Failed")


class Recording(models.Model):
    """A host who reconnects starts a new part; parts play in ``part`` order."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="recordings")
    part = models.PositiveIntegerField()
    file = models.CharField(max_length=300, help_text=_("path under MEDIA_ROOT"))
    status = models.CharField(
        max_length=10, choices=RecordingStatus.choices, default=RecordingStatus.RECORDING
    )
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    duration_s = models.FloatField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session", "part"]
        constraints = [
            models.UniqueConstraint(fields=["session", "part"], name="recording_part_once"),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id} part {self.part}"
