"""Orders, their lines and payments, what happened to each order, and the records that make
retries harmless (idempotency keys, webhook events already acted on).

Statuses move only by conditional updates (``UPDATE ... WHERE status = <expected>``), so of
two concurrent transitions exactly one wins. Money is Decimal with two places; lines keep a
snapshot of what was bought at what price, so later catalogue edits change no past order.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


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


class Order(models.Model):
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
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
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
            # A coupon is redeemed by one live order at most; a cancelled order lets it go.
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(claim__isnull=False) & ~Q(status="cancelled"),
                name="order_claim_once",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk}"


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


# Models of the app's packages, so Django finds them under the "orders" label.
from orders.notifications.models import Notification, NotificationStatus  # noqa: E402, F401
from orders.webhooks.models import (  # noqa: E402, F401
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
