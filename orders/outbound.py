"""What every order state change tells the world outside: one call, inside its transaction.

This branch's copy only fixes the signature the transitions call. The outbox (outbound
webhooks and notifications, written as rows in the caller's transaction and delivered by
the worker) replaces it; until then a state change is told to nobody outside.
"""

from datetime import datetime
from typing import Any

from orders.models import Order


def order_event(
    *, order: Order, topic: str, now: datetime, data: dict[str, Any] | None = None
) -> None:
    """Record ``topic`` for ``order`` to be delivered after commit (nothing in this copy)."""
    return None
