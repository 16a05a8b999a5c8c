"""The farm's side of an order: accept, pack, ship (a shipment with its tracking number),
deliver, and the sale becoming final some days after delivery.

Each is one move of the model's table (``orders.services.transitions``) guarded by who may
take it (``orders.services.rules``); the move, its history row, its outbox row and its other
writes (the shipment, the cash-on-delivery payment) commit together or not at all.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from orders.carriers import carrier_get
from orders.models import Order, OrderStatus, PaymentMethod, Shipment, ShipmentStatus
from orders.outbound import order_event
from orders.selectors import shipment_data
from orders.services.payments import payment_record_cod
from orders.services.rules import action_check
from orders.services.transitions import order_move, order_transition
from server.accounts.models import User
from server.errors import Conflict, NotFound

SWEEP_BATCH = 500


def _order(order_id: int) -> Order:
    order = Order.objects.select_related("farm").filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def order_accept(*, order_id: int, actor: User, now: datetime) -> Order:
    """The farm takes a paid order on. Raises ``NotFound``, ``Forbidden``, ``Conflict``."""
    order = _order(order_id)
    action_check(order, "accept", actor)
    with transaction.atomic():
        order_move(order=order, name="accept", kind="accepted", by="seller", actor=actor,
                   now=now, topic="order.accepted")  # fmt: skip
    return order


def order_pack(*, order_id: int, actor: User, now: datetime) -> Order:
    """Packed, waiting for the courier. Raises ``NotFound``, ``Forbidden``, ``Conflict``."""
    order = _order(order_id)
    action_check(order, "pack", actor)
    with transaction.atomic():
        order_move(order=order, name="pack", kind="packed", by="seller", actor=actor, now=now,
                   topic="order.packed")  # fmt: skip
    return order


def order_ship(
    *, order_id: int, actor: User, carrier: str, tracking_number: str, now: datetime
) -> Shipment:
    """Hand the parcel to ``carrier``: the order ships and gets its shipment. Raises
    ``Invalid`` (unknown carrier, a number that is not the carrier's), ``NotFound``,
    ``Forbidden``, ``Conflict`` (not packed, or the number is on another shipment)."""
    number = carrier_get(carrier).tracking_check(tracking_number)
    order = _order(order_id)
    action_check(order, "ship", actor)
    try:
        with transaction.atomic():
            order_move(order=order, name="ship", kind="shipped", by="seller", actor=actor,
                       now=now, data={"carrier": carrier, "tracking_number": number})  # fmt: skip
            shipment = Shipment.objects.create(
                order=order, carrier=carrier, tracking_number=number, shipped_at=now
            )
            order_event(order=order, topic="shipment.created", now=now,
                        data={"shipment": shipment_data(shipment)})  # fmt: skip
    except IntegrityError:  # shipment_tracking_once
        order.refresh_from_db()
        raise Conflict(f"{number} is already the tracking number of another shipment.") from None
    return shipment


def order_deliver(*, order_id: int, actor: User, now: datetime) -> Order:
    """The farm says a parcel it tracks by hand arrived. Raises ``NotFound``, ``Forbidden``,
    ``Conflict`` (not shipped, or its carrier reports deliveries itself)."""
    order = _order(order_id)
    action_check(order, "deliver", actor)
    with transaction.atomic():
        shipment = order.shipments.order_by("-id").first()
        delivered(order=order, shipment=shipment, by="seller", actor=actor, at=now, now=now)
    return order


def delivered(
    *,
    order: Order,
    shipment: Shipment | None,
    by: str,
    at: datetime,
    now: datetime,
    actor: User | None = None,
) -> None:
    """Deliver ``order`` (inside the caller's transaction): the move, the shipment's
    delivered time, and for cash on delivery the payment the courier took. Raises
    ``Conflict`` when the order is not ``shipped``."""
    order_move(order=order, name="deliver", kind="delivered", by=by, actor=actor, now=now,
               data={"shipment": shipment.pk if shipment else None})  # fmt: skip
    if shipment is not None:
        shipment.status, shipment.delivered_at = ShipmentStatus.DELIVERED, at
        shipment.save(update_fields=["status", "delivered_at"])
    if order.payment_method == PaymentMethod.COD:
        payment_record_cod(order=order, now=now)
    # Last, after every write of the move: the event's body shows the delivered parcel.
    order_event(order=order, topic="shipment.delivered", now=now,
                data={"shipment": shipment_data(shipment) if shipment else None})  # fmt: skip


def order_complete(*, order_id: int, now: datetime) -> bool:
    """The sale becomes final (no refund asked within the window); False if it moved on."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return False
    with transaction.atomic():
        return order_transition(order=order, name="complete", kind="completed", by="system",
                                now=now, topic="order.completed")  # fmt: skip


def orders_complete_delivered(*, now: datetime) -> int:
    """Beat's sweep: orders delivered ``ORDER_AUTO_COMPLETE_DAYS`` ago and untouched since."""
    cutoff = now - timedelta(days=settings.ORDER_AUTO_COMPLETE_DAYS)
    due = Order.objects.filter(status=OrderStatus.DELIVERED, updated_at__lte=cutoff)
    ids = list(due.order_by("updated_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    return sum(order_complete(order_id=pk, now=now) for pk in ids)
