"""Orders, their lines and payments, what happened to each order, and the records that make
retries harmless (idempotency keys, webhook events already acted on).

The order's legal moves are one table: the ``@transition`` methods on ``Order`` (django-fsm).
A status is never assigned (the field is protected); it moves by calling one of those methods
and saving, which ``ConcurrentTransitionMixin`` turns into a conditional update (``UPDATE ...
WHERE status = <as read>``), so of two concurrent transitions exactly one wins
(``orders.services.transitions``). Money is Decimal with two places; lines keep a snapshot of
what was bought at what price, so later catalogue edits change no past order.
"""

import threading
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Waiting for payment")
    PAID = "paid", _("Paid")
    ACCEPTED = "accepted", _("Accepted by the farm")
    PACKED = "packed", _("Packed")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUND_REQUESTED = "refund_requested", _("Refund requested")
    REFUNDED = "refunded", _("Refunded")


class PaymentMethod(models.TextChoices):
    COD = "cod", _("Cash on delivery")
    PROMPTPAY = "promptpay", _("PromptPay QR")
    SANDBOX = "sandbox", _("Card (sandbox gateway)")


S = OrderStatus
# Statuses whose order gave its units (and its coupon, if unshipped) back, or never will:
# the coupon constraint and the stock count leave them out.
RELEASED = (S.CANCELLED, S.REFUNDED)


_REFRESH_LOCK = threading.Lock()


class Order(ConcurrentTransitionMixin, models.Model):
    """One farm's products bought by one buyer; a cart across farms places one per farm."""

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    farm = models.ForeignKey("catalog.Farm", on_delete=models.PROTECT, related_name="orders")
    session = models.ForeignKey(
        "streams.LiveSession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    claim = models.ForeignKey(
        "coupons.Claim", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = FSMField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT,
        protected=True,
    )  # fmt: skip
    payment_method = models.CharField(max_length=12, choices=PaymentMethod.choices)
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping_fee = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    # Where to deliver, as the buyer gave it: a snapshot, not a link to an address book.
    address = models.JSONField()
    payment_due_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["buyer", "-id"]),
            models.Index(fields=["farm", "status"]),
            models.Index(fields=["session", "status"]),
            models.Index(fields=["status", "payment_due_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gte=0), name="order_subtotal_gte_0"),
            models.CheckConstraint(condition=Q(discount__gte=0), name="order_discount_gte_0"),
            models.CheckConstraint(
                condition=Q(discount__lte=F("subtotal")), name="order_discount_lte_subtotal"
            ),
            models.CheckConstraint(condition=Q(shipping_fee__gte=0), name="order_shipping_gte_0"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_gte_0"),
            # A coupon is redeemed by one live order at most; a cancelled order, or one
            # refunded before it shipped, lets it go.
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(claim__isnull=False) & ~Q(status__in=RELEASED),
                name="order_claim_once",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk}"

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        """django-fsm lifts the status field's protection for every Order while one refresh
        runs; a second thread's refresh in between (two requests racing one order in one
        process) would find it put back mid-way and fail. One refresh at a time."""
        with _REFRESH_LOCK:
            super().refresh_from_db(*args, **kwargs)

    # --- the transition table (docs/api.md "Statuses"): the only legal moves -------------
    # Who may take each, and until when, is the services' rule (orders.services.rules);
    # cash on delivery is placed ``accepted`` and ``deliver`` records its payment.

    @transition(field=status, source=S.PENDING_PAYMENT, target=S.PAID)
    def pay(self) -> None:
        """The provider confirmed the money."""

    @transition(field=status, source=S.PAID, target=S.ACCEPTED)
    def accept(self) -> None:
        """The farm takes the order on."""

    @transition(field=status, source=S.ACCEPTED, target=S.PACKED)
    def pack(self) -> None:
        """Packed and waiting for the courier."""

    @transition(field=status, source=S.PACKED, target=S.SHIPPED)
    def ship(self) -> None:
        """Handed to a carrier (a shipment with its tracking number)."""

    @transition(field=status, source=S.SHIPPED, target=S.DELIVERED)
    def deliver(self) -> None:
        """The carrier (or, for a manual shipment, the farm) says it arrived."""

    @transition(field=status, source=S.DELIVERED, target=S.COMPLETED)
    def complete(self) -> None:
        """Delivered and no refund asked within the window: the sale is final."""

    @transition(
        field=status, source=[S.PENDING_PAYMENT, S.PAID, S.ACCEPTED, S.PACKED], target=S.CANCELLED
    )
    def cancel(self) -> None:
        """The buyer or the farm cancels before it ships; stock and coupon go back."""

    @transition(field=status, source=S.PENDING_PAYMENT, target=S.CANCELLED)
    def expire(self) -> None:
        """The payment deadline passed."""

    @transition(
        field=status,
        source=[S.PAID, S.ACCEPTED, S.PACKED, S.SHIPPED, S.DELIVERED],
        target=S.REFUND_REQUESTED,
    )
    def refund_request(self) -> None:
        """The buyer asks for the money back."""

    @transition(field=status, source=S.REFUND_REQUESTED, target=S.REFUNDED)
    def refund(self) -> None:
        """The farm or staff grant it: the money goes back."""


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    showcase_item = models.ForeignKey(
        "streams.ShowcaseItem",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=20)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    qty = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    # Units taken from the session's allotment; the rest came from the product's own stock.
    # Giving stock back returns each part where it came from.
    from_allotment = models.PositiveIntegerField(default=0)
    # The stock gate's admission for this line: reconcile confirms an admission whose line
    # exists and gives back one whose line was never written (its process died).
    gate_token = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(qty__gte=1), name="order_line_qty_gte_1"),
            models.CheckConstraint(
                condition=Q(from_allotment__lte=F("qty")), name="order_line_allotment_lte_qty"
            ),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="order_line_price_gte_0"),
            models.UniqueConstraint(fields=["order", "product"], name="order_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.qty} x {self.name}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=12, choices=PaymentMethod.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    # The provider's id for this payment: how its webhooks name it.
    reference = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "reference"], name="payment_reference"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.reference}"


class OrderEvent(models.Model):
    """The order's history: who did what, when. Written in the same transaction as the change."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["order", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} on order {self.order_id}"


class WebhookEvent(models.Model):
    """An inbound provider event already acted on: a replay finds its row and does nothing."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id}"


class IdempotencyRecord(models.Model):
    """What a user's ``Idempotency-Key`` request answered, so a retry gets the same answer.

    ``status_code`` is null while the first request is still running: a second request with
    the key then hears ``conflict`` instead of running twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    # Who is running the request now: the order is written only by the lease's holder, and a
    # retry takes over a lease that went silent (its process died).
    lease = models.CharField(max_length=32, blank=True)
    leased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once"),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class ShowcaseBuyer(models.Model):
    """How many units of a flash deal one buyer holds in live orders: the database's guard
    for ``per_buyer_limit`` (a conditional update), behind the gate's per-user count."""

    item = models.ForeignKey("streams.ShowcaseItem", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    bought = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="showcase_buyer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} holds {self.bought} of item {self.item_id}"


class TrackingKind(models.TextChoices):
    PICKED_UP = "picked_up", _("Picked up")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERED = "delivered", _("Delivered")
    FAILED_ATTEMPT = "failed_attempt", _("Delivery attempt failed")
    RETURNED = "returned", _("Returned to sender")


class ShipmentStatus(models.TextChoices):
    SHIPPED = "shipped", _("Handed to the carrier")
    PICKED_UP = "picked_up", _("Picked up")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERED = "delivered", _("Delivered")
    FAILED_ATTEMPT = "failed_attempt", _("Delivery attempt failed")
    RETURNED = "returned", _("Returned to sender")


class Shipment(models.Model):
    """A parcel of an order with a carrier (``orders.carriers``) and its tracking number."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=20)
    tracking_number = models.CharField(max_length=40, blank=True)
    status = models.CharField(
        max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.SHIPPED
    )
    shipped_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A carrier's webhook names the parcel by number: one shipment per number.
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="shipment_tracking_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class TrackingEvent(models.Model):
    """One scan of a parcel. ``at`` is the carrier's time (the timeline's order; events may
    arrive late or twice); ``external_id`` is the carrier's name for the scan, so a scan sent
    again is stored once."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=TrackingKind.choices)
    at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=20)  # "manual" (the farm typed it) or the carrier's code
    external_id = models.CharField(max_length=120, blank=True)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["shipment", "at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "external_id"],
                condition=~Q(external_id=""),
                name="tracking_event_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


# Models of the app's packages, so Django finds them under the "orders" label.
from orders.notifications.models import Notification, NotificationStatus  # noqa: E402, F401
from orders.webhooks.models import (  # noqa: E402, F401
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
