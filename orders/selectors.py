"""Order reads: who sees which orders, an order's public shape, a campaign's money."""

from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum

from coupons.models import Campaign
from orders.carriers import CARRIERS
from orders.models import Order, OrderEvent, OrderLine, OrderStatus, Payment, Shipment
from orders.payments.providers import payment_instructions
from orders.services.rules import actions_for
from server.accounts.models import User
from server.errors import NotFound

VIEWS = ("buyer", "seller")
S = OrderStatus
# Only an order that went past ``packed`` can have a shipment: the others need no query.
MAY_HAVE_SHIPPED = frozenset({S.SHIPPED, S.DELIVERED, S.COMPLETED, S.REFUND_REQUESTED, S.REFUNDED})
# Who did it, for history rows written before they said so.
_BY_KIND = {"paid": "provider", "payment_failed": "provider", "payment_mismatch": "provider",
            "payment_after_cancel": "provider", "expired": "system"}  # fmt: skip


def order_prefetch(orders: QuerySet[Order]) -> QuerySet[Order]:
    """What ``order_data`` reads, in a few queries for a whole page."""
    return orders.select_related("farm").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
        Prefetch("payments", queryset=Payment.objects.order_by("id")),
        Prefetch("shipments", queryset=Shipment.objects.order_by("id").prefetch_related("events")),
        Prefetch("events", queryset=OrderEvent.objects.order_by("id")),
    )


def orders_visible_to(*, user: User, view: str | None = None) -> QuerySet[Order]:
    """The user's own orders as a buyer and their farms' orders as a seller, merged;
    ``view`` keeps one side. Nobody else's, staff included (staff use the admin)."""
    mine = Q(buyer=user)
    theirs = Q(farm__owner=user)
    where = mine if view == "buyer" else theirs if view == "seller" else mine | theirs
    return order_prefetch(Order.objects.filter(where)).order_by("-id")


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


def order_staff_view(*, order_id: int) -> Order:
    """An order as staff read it after acting on it (a refund); ``NotFound`` if none."""
    order = order_prefetch(Order.objects.filter(pk=order_id)).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def shipment_data(shipment: Shipment) -> dict[str, Any]:
    """A parcel as the order JSON lists it; also the ``shipment`` its webhooks carry."""
    carrier = CARRIERS.get(shipment.carrier)
    return {
        "id": shipment.pk,
        "carrier": shipment.carrier,
        "carrier_name": carrier.name if carrier else shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "shipped_at": _when(shipment.shipped_at),
        "delivered_at": _when(shipment.delivered_at),
        "status": shipment.status,
        # Ordered by the carrier's time: scans arrive late and out of order.
        "events": [
            {"kind": e.kind, "at": _when(e.at), "location": e.location, "note": e.note}
            for e in sorted(shipment.events.all(), key=lambda e: (e.at, e.pk))
        ],
    }


def _by(event: OrderEvent, order: Order) -> str:
    if "by" in event.data:
        return event.data["by"]
    if event.kind in _BY_KIND:
        return _BY_KIND[event.kind]
    if event.actor_id is None:
        return "system"
    return "buyer" if event.actor_id == order.buyer_id else "seller"


def order_data(order: Order, viewer: User | None = None, *, placed: bool = False) -> dict[str, Any]:
    """The order's public shape (docs/api.md, "Orders"); plain JSON, so it is also what an
    ``Idempotency-Key`` replay answers. ``viewer``: whose ``actions`` to list (none without).
    ``placed``: the order was just written by this request, so its history is its placing
    and it has no shipment (no queries for them on the storm path)."""
    if placed:
        shipments: list[dict[str, Any]] = []
        history = [{"kind": "placed", "at": _when(order.created_at), "by": "buyer"}]
    else:
        shipped = order.status in MAY_HAVE_SHIPPED
        shipments = [shipment_data(s) for s in order.shipments.all()] if shipped else []
        history = [
            {"kind": e.kind, "at": _when(e.at), "by": _by(e, order)} for e in order.events.all()
        ]
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
        "actions": actions_for(order, viewer) if viewer is not None else [],
        "shipments": shipments,
        "tracking": shipments[-1]["events"] if shipments else [],
        "history": history,
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
