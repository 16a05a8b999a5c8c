"""What the outside world hears about an order: one call, ``order_event``, made by every
order state change inside its own transaction. It writes one outbox row (``server.outbox``);
after commit the relay fans it out to webhook endpoints (``orders.webhooks``) and to the
buyer's and seller's notifications (``orders.notifications``). A change that rolls back
leaves no row, so nothing is sent for it.

The row carries the body webhooks send (docs/webhooks.md), in the Standard Webhooks shape
``{"type", "timestamp", "data"}``; ``data.order`` is the order's public shape
(``orders.selectors.order_data``) without what is only for its buyer's screen.
"""

from datetime import datetime

from orders.models import Order
from orders.selectors import order_data, order_prefetch
from server.outbox.services import outbox_write

TOPICS = (
    "order.created",
    "order.paid",
    "order.accepted",
    "order.packed",
    "order.cancelled",
    "shipment.created",
    "shipment.delivered",
    "order.completed",
    "refund.requested",
    "refund.completed",
)
# Only for the buyer's own screen (QR payloads, what the viewer may do next).
_PRIVATE = ("payment", "actions")


def order_key(order_id: int) -> str:
    return f"order:{order_id}"


def order_event(*, order: Order, topic: str, now: datetime, data: dict | None = None) -> None:
    """Record that ``order`` changed (``topic``, one of ``TOPICS``), in the caller's
    transaction, after the change is written; ``data``: what else the topic carries (the
    shipment, a reason), merged into the body's ``data``. Raises ``ValueError`` for an unknown
    topic and ``RuntimeError`` outside a transaction (both bugs, never a client's).

    Except for ``order.created`` (a row nobody else sees yet), the order is read again under
    its row lock: the body shows the committed state, and events of one order take their
    ids in the order their transactions commit, which is the order receivers get them in.
    """
    if topic not in TOPICS:
        raise ValueError(f"unknown order topic {topic!r}")
    created = topic == "order.created"
    if not created:
        # A transition's conditional UPDATE already holds this lock in the same transaction,
        # so the caller writes its move first and calls this last: no second lock is waited on.
        order = order_prefetch(Order.objects.select_for_update(of=("self",))).get(pk=order.pk)
    shape = {k: v for k, v in order_data(order, placed=created).items() if k not in _PRIVATE}
    outbox_write(
        topic=topic,
        key=order_key(order.pk),
        payload={
            "type": topic,
            "timestamp": now.isoformat(),
            "data": {**(data or {}), "order": shape},
        },
        now=now,
    )
