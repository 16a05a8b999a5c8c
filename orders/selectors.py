"""Order reads: who sees which orders, an order's public shape, a campaign's money."""

from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum

from coupons.models import Campaign
from orders.models import Order, OrderLine, OrderStatus, Payment
from orders.payments.providers import payment_instructions
from server.accounts.models import User
from server.errors import NotFound

VIEWS = ("buyer", "seller")


def orders_visible_to(*, user: User, view: str | None = None) -> QuerySet[Order]:
    """The user's own orders as a buyer and their farms' orders as a seller, merged;
    ``view`` keeps one side. Nobody else's, staff included (staff use the admin)."""
    mine = Q(buyer=user)
    theirs = Q(farm__owner=user)
    where = mine if view == "buyer" else theirs if view == "seller" else mine | theirs
    return (
        Order.objects.filter(where)
        .select_related("farm")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
            Prefetch("payments", queryset=Payment.objects.order_by("id")),
        )
        .order_by("-id")
    )


def order_for(*, order_id: int, user: User) -> Order:
    """An order its buyer or its farm's host may see; ``NotFound`` for anyone else."""
    order = orders_visible_to(user=user).filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def order_data(order: Order) -> dict[str, Any]:
    """The order's public shape (docs/api.md, "Orders"); plain JSON, so it is also what an
    ``Idempotency-Key`` replay answers."""
    payments = list(order.payments.all())
    payment = payment_instructions(payments[-1]) if payments else None
    if payment is not None:
        payment["due_at"] = _when(order.payment_due_at)
    return {
        "id": order.pk,
        "status": order.status,
        "buyer": order.buyer_id,
        "farm": {"id": order.farm_id, "name": order.farm.name},
        "session": order.session_id,
        "claim": order.claim_id,
        "currency": order.currency,
        "lines": [
            {
                "product": line.product_id,
                "name": line.name,
                "unit": line.unit,
                "unit_price": _money(line.unit_price),
                "qty": line.qty,
                "amount": _money(line.amount),
                "live": line.from_allotment > 0,
            }
            for line in order.lines.all()
        ],
        "subtotal": _money(order.subtotal),
        "discount": _money(order.discount),
        "shipping_fee": _money(order.shipping_fee),
        "total": _money(order.total),
        "payment_method": order.payment_method,
        "payment": payment,
        "payment_due_at": _when(order.payment_due_at),
        "address": order.address,
        "shipments": [],
        "tracking": [],
        "cancel_reason": order.cancel_reason,
        "created_at": _when(order.created_at),
        "updated_at": _when(order.updated_at),
    }


def campaign_money(campaign: Campaign) -> dict[str, Any]:
    """What a campaign's coupons did in orders (cancelled and refunded orders excluded): the
    discount they gave (the campaign's cost, paid by its funder), the orders and their value
    (GMV, before discount and shipping), the buyers, and the **new buyers**: buyers for whom
    the coupon's order was their first order with that farm (``new_buyers``) or on the
    platform at all (``new_buyers_platform``), counting every earlier order not cancelled.
    ``by_session``: the same per session the orders were placed in."""
    live = ~Q(status__in=(OrderStatus.CANCELLED, OrderStatus.REFUNDED))
    orders = Order.objects.filter(live, claim__campaign=campaign)
    earlier = Order.objects.filter(
        buyer=OuterRef("buyer"), id__lt=OuterRef("id")
    ).exclude(status=OrderStatus.CANCELLED)
    flagged = orders.annotate(
        returning_farm=Exists(earlier.filter(farm=OuterRef("farm"))),
        returning=Exists(earlier),
    )
    totals = flagged.aggregate(
        discount=Sum("discount"),
        gmv=Sum("subtotal"),
        orders=Count("id"),
        buyers=Count("buyer", distinct=True),
        new_buyers=Count("buyer", distinct=True, filter=Q(returning_farm=False)),
        new_buyers_platform=Count("buyer", distinct=True, filter=Q(returning=False)),
    )
    zero = Decimal("0.00")
    by_session = {
        row["session"]: {
            "orders": row["n"],
            "gmv": row["gmv"] or zero,
            "discount_given": row["discount"] or zero,
        }
        for row in orders.values("session")
        .annotate(n=Count("id"), gmv=Sum("subtotal"), discount=Sum("discount"))
        .order_by("session")
    }
    return {
        "discount_given": totals["discount"] or zero,
        "gmv": totals["gmv"] or zero,
        "orders": totals["orders"],
        "buyers": totals["buyers"],
        "new_buyers": totals["new_buyers"],
        "new_buyers_platform": totals["new_buyers_platform"],
        "by_session": by_session,
    }
