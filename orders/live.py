"""Orders on the live channel: the trailing ``stock`` flush each tick, offers closing with
their session."""

from datetime import datetime

from django.db import transaction

from orders.services.stock import offers_close, stock_flush
from streams.models import LiveSession


def tick(session_id: int) -> None:
    """Each second, per session with viewers on this node: publish stock that moved since
    the last ``stock`` events (at most twice a second across the fleet)."""
    stock_flush(session_id)


def offers_end(session: LiveSession, now: datetime) -> None:
    """The session ended (its allotments went back to the shop in the same transaction):
    after commit its offers admit nobody, and buyers fall through to the shop's stock."""
    product_ids = list(session.showcase.values_list("product_id", flat=True))
    transaction.on_commit(
        lambda: offers_close(session_id=session.pk, product_ids=product_ids), robust=True
    )
