"""Live sales sessions: a farm's host on video, selling to whoever watches."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import Farm


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class LiveSession(models.Model):
    farm = models.ForeignKey(Farm, on_delete=models.PROTECT, related_name="sessions")
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="hosted_sessions"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, max_length=5000)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="th"
    )
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.title


class ShowcaseItem(models.Model):
    """A product offered in one session: its live price and the units set aside for it.

    The allotment leaves the product's stock when the item is added, and what is ``left``
    goes back to it when the session ends. ``left`` only ever moves by conditional updates
    (``left >= n``), so a session never sells more than it set aside."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="showcase")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    live_price = models.DecimalField(_("live price"), max_digits=12, decimal_places=2)
    allotment = models.PositiveIntegerField(_("units for this session"))
    left = models.PositiveIntegerField(_("units left"))
    position = models.PositiveIntegerField(default=0)
    pinned_at = models.DateTimeField(null=True, blank=True)
    # A flash deal: the live price holds until ``deal_ends_at``, at most ``per_buyer_limit``
    # units per buyer; afterwards the product sells at its catalogue price.
    deal_ends_at = models.DateTimeField(null=True, blank=True)
    per_buyer_limit = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "product"], name="showcase_once"),
            models.CheckConstraint(
                condition=models.Q(left__lte=models.F("allotment")), name="showcase_left_lte"
            ),
            models.CheckConstraint(
                condition=models.Q(live_price__gte=0), name="showcase_price_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} in session {self.session_id}"


class ChatMessage(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="chat")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["session", "-id"])]

    def __str__(self) -> str:
        return self.text[:40]


class SessionMute(models.Model):
    """A user the host silenced for this session; their chat is refused with ``forbidden``."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="mutes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="mute_once"),
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} muted in session {self.session_id}"


class SessionMinute(models.Model):
    """One minute of a session, as ``streams.metrics`` counted it: absolute totals for the
    minute (the flush only ever raises them), so a report reads minutes, not orders."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="minutes")
    minute = models.DateTimeField()
    viewers_peak = models.PositiveIntegerField(default=0)
    viewers_sum = models.PositiveBigIntegerField(default=0)
    viewers_samples = models.PositiveIntegerField(default=0)
    new_viewers = models.PositiveIntegerField(default=0)
    chat = models.PositiveIntegerField(default=0)
    chatters = models.PositiveIntegerField(default=0)
    claims = models.PositiveIntegerField(default=0)
    claimers = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)
    buyers = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0)
    redeemed = models.PositiveIntegerField(default=0)
    gmv = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    discount = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        ordering = ["session", "minute"]
        constraints = [
            models.UniqueConstraint(fields=["session", "minute"], name="session_minute_once"),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id} at {self.minute:%H:%M}"


class SessionProductSales(models.Model):
    """What one product sold in one session (orders placed in it, as counted live)."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    orders = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(default=0)
    gmv = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        ordering = ["session", "-units", "product"]
        constraints = [
            models.UniqueConstraint(fields=["session", "product"], name="session_product_once"),
        ]

    def __str__(self) -> str:
        return f"{self.units} x {self.name} in session {self.session_id}"


class SessionTotals(models.Model):
    """A session's distinct people and peak, as counted live (sums of minutes cannot give
    distinct counts: a viewer who stays an hour is one viewer, not sixty)."""

    session = models.OneToOneField(
        LiveSession, on_delete=models.CASCADE, primary_key=True, related_name="totals"
    )
    viewers = models.PositiveIntegerField(default=0)
    viewers_peak = models.PositiveIntegerField(default=0)
    chatters = models.PositiveIntegerField(default=0)
    claimers = models.PositiveIntegerField(default=0)
    buyers = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    flushed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"totals of session {self.session_id}"
