"""What a farm is owed for an order, and when: one definition for payouts, session reports
and the impact page (docs/api.md, "Payouts").

- An order is **settled** when it is paid and delivered: status ``delivered`` or
  ``completed`` (cash on delivery is paid at delivery; PromptPay and card orders were paid
  before shipping and count once delivered too). Refunded and cancelled orders never count.
- It settles at the time it was delivered (its latest ``delivered`` history entry; an order
  without one, moved by hand, at its last update).
- The farm is owed ``total + promoter-funded discount - platform fee``: the buyer paid the
  total, the promoter pays back a discount it funded (a farm-funded voucher is the farm's own
  cost), and the fee is ``PLATFORM_FEE_PERCENT`` of the goods (the payout before shipping,
  which passes through to the courier), rounded half up to the cent, per order.
"""

from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round

from coupons.models import Funder
from orders.models import Order, OrderEvent, OrderStatus

SETTLED = (OrderStatus.DELIVERED, OrderStatus.COMPLETED)
# Orders undone after they were placed: not part of what a session sold.
UNDONE = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
PAID = (
    OrderStatus.PAID, OrderStatus.ACCEPTED, OrderStatus.PACKED, OrderStatus.SHIPPED,
    OrderStatus.DELIVERED, OrderStatus.COMPLETED,
)  # fmt: skip
MONEY = DecimalField(max_digits=14, decimal_places=2)
ZERO = Value(Decimal("0.00"), output_field=MONEY)


def fee_percent() -> Decimal:
    return Decimal(settings.PLATFORM_FEE_PERCENT)


def with_payout(orders: QuerySet[Order]) -> QuerySet[Order]:
    """``orders`` annotated with ``promoter_discount``, ``fee``, ``payout`` and
    ``settled_at`` (the rules above, in SQL, so sums over many orders stay in the database)."""
    delivered_at = (
        OrderEvent.objects.filter(order=OuterRef("pk"), kind="delivered")
        .order_by("-at")
        .values("at")[:1]
    )
    promoter = Case(
        When(claim__campaign__funded_by=Funder.PROMOTER, then=F("discount")),
        default=ZERO,
        output_field=MONEY,
    )
    goods = ExpressionWrapper(
        F("total") + F("promoter_discount") - F("shipping_fee"), output_field=MONEY
    )
    fee = Round(
        ExpressionWrapper(goods * Value(fee_percent()) / Value(Decimal(100)), output_field=MONEY),
        2,
        output_field=MONEY,
    )
    return (
        orders.annotate(
            promoter_discount=promoter,
            settled_at=Coalesce(Subquery(delivered_at), F("updated_at")),
        )
        .annotate(fee=fee)
        .annotate(
            payout=ExpressionWrapper(
                F("total") + F("promoter_discount") - F("fee"), output_field=MONEY
            )
        )
    )


def settled(orders: QuerySet[Order]) -> QuerySet[Order]:
    return with_payout(orders.filter(status__in=SETTLED))
