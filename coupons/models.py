"""Coupon campaigns, the drops that release them during a live session, and claims.

Counters that many requests move at once (a campaign's issued budget, a drop's claimed
count, a user's claims in a campaign) move only by conditional updates, and uniqueness is a
constraint: the database is the final guard behind the Redis gate.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from catalog.models import Currency


class DiscountKind(models.TextChoices):
    PERCENT = "percent", _("Percent off")
    FIXED = "fixed", _("Amount off")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ENDED = "ended", _("Ended")


class Funder(models.TextChoices):
    PROMOTER = "promoter", _("The promoter")
    FARM = "farm", _("The farm")


class Campaign(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=DiscountKind.choices)
    value = models.DecimalField(max_digits=12, decimal_places=2)
    max_discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    min_spend = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.THB)
    budget = models.PositiveIntegerField(help_text=_("Coupons in all, across every drop."))
    issued = models.PositiveIntegerField(
        default=0, help_text=_("Coupons set aside by drops so far (unclaimed ones return).")
    )
    per_user_limit = models.PositiveIntegerField(default=1)
    claim_ttl_s = models.PositiveIntegerField(default=3600)
    funded_by = models.CharField(max_length=10, choices=Funder.choices, default=Funder.PROMOTER)
    farms = models.ManyToManyField("catalog.Farm", blank=True, related_name="+")
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="+")
    sessions = models.ManyToManyField("streams.LiveSession", blank=True, related_name="+")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(issued__lte=F("budget")), name="campaign_budget"),
            models.CheckConstraint(condition=Q(value__gt=0), name="campaign_value_gt_0"),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__lte=100), name="campaign_percent_lte_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_running(self, now) -> bool:
        return (
            self.status == CampaignStatus.ACTIVE
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )


class DropState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class CloseReason(models.TextChoices):
    EXPIRED = "expired", _("Time is up")
    EXHAUSTED = "exhausted", _("All claimed")
    CANCELLED = "cancelled", _("Cancelled")


class Drop(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="drops")
    session = models.ForeignKey(
        "streams.LiveSession", on_delete=models.PROTECT, related_name="drops"
    )
    quantity = models.PositiveIntegerField()
    claimed = models.PositiveIntegerField(default=0)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=DropState.choices, default=DropState.OPEN)
    close_reason = models.CharField(max_length=10, choices=CloseReason.choices, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set when reconcile finds the gate's keys gone (Redis restarted or flushed): no claim is
    # admitted until every admission made before the loss has expired and the gate is rebuilt.
    gate_lost_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "closes_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(claimed__lte=F("quantity")), name="drop_claimed"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="drop_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"drop {self.pk} of {self.campaign_id}"

    def is_open(self, now) -> bool:
        return self.state == DropState.OPEN and self.opens_at <= now < self.closes_at


class ClaimStatus(models.TextChoices):
    CLAIMED = "claimed", _("Claimed")
    REDEEMED = "redeemed", _("Used")
    EXPIRED = "expired", _("Expired")
    RELEASED = "released", _("Given back")


HELD = (ClaimStatus.CLAIMED, ClaimStatus.REDEEMED)


class Claim(models.Model):
    drop = models.ForeignKey(Drop, on_delete=models.PROTECT, related_name="claims")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=32, unique=True)
    status = models.CharField(
        max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.CLAIMED
    )
    # The campaign's terms when the claim was won: it is redeemed under these, whatever the
    # campaign says later (edits apply to new claims only).
    kind = models.CharField(max_length=10, choices=DiscountKind.choices)
    value = models.DecimalField(max_digits=12, decimal_places=2)
    max_discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    min_spend = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    scope = models.JSONField(help_text=_("Ids the coupon applies to: farms, products, sessions."))
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One coupon per viewer per drop, whatever the interleaving.
            models.UniqueConstraint(fields=["drop", "user"], name="claim_once_per_drop"),
        ]
        indexes = [
            models.Index(fields=["user", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return self.code


class CampaignUser(models.Model):
    """How many coupons of a campaign a user holds: the conditional update on ``held`` is
    the database's guard for ``per_user_limit``."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    held = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="campaign_user_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} holds {self.held} of {self.campaign_id}"
