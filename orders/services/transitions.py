"""Moving an order from one status to the next, exactly once under any interleaving."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from orders.models import Order, OrderEvent


def order_transition(
    *,
    order_id: int,
    source: Iterable[str],
    target: str,
    kind: str,
    now: datetime,
    actor: Any = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move the order to ``target`` if its status is one of ``source``, and log ``kind``.

    One conditional ``UPDATE``: of two concurrent callers exactly one sees its row move, the
    other gets ``False`` and changes nothing. Call inside the transaction whose other writes
    belong with the move, so the history row and the move commit together.
    """
    moved = Order.objects.filter(pk=order_id, status__in=list(source)).update(
        status=target, updated_at=now, **fields
    )
    if moved:
        OrderEvent.objects.create(
            order_id=order_id, kind=kind, actor=actor, data=data or {}, at=now
        )
    return bool(moved)
