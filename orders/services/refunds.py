"""Refunds: the buyer asks, the farm (or staff) grants.

The buyer may ask once money was taken and until the sale is final (``completed``). Granting
moves the money back (``payments_refund``). An order that never shipped also gives back its
units and its coupon, through the cancel path's ``order_give_back``; after shipping, the
goods are out of the shop and the coupon stays used.
"""

from datetime import datetime

from django.db import transaction

from orders.models import Order
from orders.services.cancelling import order_give_back
from orders.services.payments import payments_refund
from orders.services.rules import action_check
from orders.services.transitions import order_move
from server.accounts.models import User
from server.errors import NotFound

MAX_REASON = 500


def _locked(order_id: int) -> Order:
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("farm")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise NotFound("No such order.")
    return order


def order_refund_request(*, order_id: int, actor: User, reason: str, now: datetime) -> Order:
    """The buyer asks for the money back. Raises ``NotFound``, ``Forbidden``, ``Conflict``
    (nothing paid, or the sale is final)."""
    with transaction.atomic():
        order = _locked(order_id)
        action_check(order, "refund_request", actor)
        order_move(order=order, name="refund_request", kind="refund_requested", by="buyer",
                   actor=actor, now=now, topic="refund.requested",
                   data={"reason": reason[:MAX_REASON]})  # fmt: skip
    return order


def order_refund(*, order_id: int, actor: User, now: datetime) -> Order:
    """The farm or staff grant a refund. Raises ``NotFound``, ``Forbidden``, ``Conflict``."""
    with transaction.atomic():
        order = _locked(order_id)
        roles = action_check(order, "refund", actor)
        by = "seller" if "seller" in roles else "system"  # staff act for the platform
        shipped = order.shipments.exists()
        order_move(order=order, name="refund", kind="refunded", by=by, actor=actor, now=now,
                   topic="refund.completed", data={"returned_stock": not shipped})  # fmt: skip
        payments_refund(order=order, kind="refund_due", by=by, actor=actor, now=now)
        effects = [] if shipped else order_give_back(order=order, now=now)
        transaction.on_commit(lambda: [effect() for effect in effects], robust=True)
    return order
