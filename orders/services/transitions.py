"""Moving an order from one status to the next, exactly once under any interleaving.

The legal moves are the ``@transition`` methods of ``Order`` (one table, django-fsm); this is
the one place that takes them. The move is saved by ``ConcurrentTransitionMixin`` as one
conditional ``UPDATE ... WHERE id = <id> AND status = <as read>``: of two concurrent callers
exactly one sees its row move, the other changes nothing and hears so.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django_fsm import ConcurrentTransition, can_proceed

from orders.models import Order, OrderEvent
from orders.outbound import order_event
from server.errors import Conflict


def order_transition(
    *,
    order: Order,
    name: str,
    kind: str,
    by: str,
    now: datetime,
    topic: str | None = None,
    actor: Any = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Take the table's move ``name`` from ``order``'s status as read, save it with ``fields``,
    log ``kind`` (done ``by`` buyer | seller | system | carrier | provider) and tell the
    outbox ``topic``. False, with nothing changed and ``order`` re-read, when the move is not
    legal from that status or another transition moved the row first.

    Call inside the transaction whose other writes belong with the move, so the history row,
    the outbox row and the move commit together.
    """
    move = getattr(order, name)
    if not can_proceed(move):
        return False
    was = order.status
    try:
        with transaction.atomic():
            move()
            for field, value in fields.items():
                setattr(order, field, value)
            order.updated_at = now
            order.save(update_fields=["status", "updated_at", *fields])
    except ConcurrentTransition:
        order.refresh_from_db()
        return False
    info = {"by": by, "from": was, **(data or {})}
    OrderEvent.objects.create(order=order, kind=kind, actor=actor, data=info, at=now)
    if topic is not None:
        order_event(order=order, topic=topic, now=now, data=data)
    return True


def order_move(*, order: Order, name: str, **kwargs: Any) -> None:
    """``order_transition`` for a service whose caller must hear why nothing moved: raises
    ``Conflict`` naming the status the order is in now."""
    if not order_transition(order=order, name=name, **kwargs):
        raise Conflict(
            f"The order is {order.status} now: {name!r} is not a move from there.",
            status=order.status,
        )
