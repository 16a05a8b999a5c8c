"""Writing outbox rows and relaying them to their subscribers.

``outbox_write`` is called inside the transaction of a change: a rolled-back transaction
leaves no row, so nothing is ever sent for it. After commit, one Celery task (``outbox.relay``)
is queued, coalesced through a Redis flag so a storm of commits queues a handful of tasks,
not one each; beat's sweep runs the same relay for anything a lost task or a dead worker left.

The relay hands each event, in id order, to the ``subscribers`` that higher apps register in
``AppConfig.ready`` (outbound webhooks, notifications). A subscriber writes its own delivery
rows in the relay's transaction, which also marks the event relayed: an event is fanned out
exactly once, whatever crashes. One relay runs at a time (a PostgreSQL advisory lock), so
for one key the fan-out follows the ids; and writers of one key hold that key's row lock
when they take an id (``orders.outbound``), so ids follow commit order.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from server.outbox.models import OutboxEvent
from server.redis import redis_client

log = logging.getLogger(__name__)

Subscriber = Callable[[OutboxEvent], None]
subscribers: list[Subscriber] = []

KICK_KEY = "outbox:kick"
# Any constant works: it only has to be the same number in every process.
RELAY_LOCK = 0x7461_6C61_6401


def outbox_write(*, topic: str, key: str, payload: dict[str, Any], now: datetime) -> OutboxEvent:
    """Record an event in the caller's transaction. Raises ``RuntimeError`` outside one: an
    event written on its own could be sent for a change that then rolls back."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_write belongs inside the transaction of the change")
    event = OutboxEvent.objects.create(
        event_id=f"evt_{uuid.uuid4().hex}", topic=topic, key=key, payload=payload, created_at=now
    )
    transaction.on_commit(outbox_kick, robust=True)
    return event


def outbox_kick() -> None:
    """Queue a relay unless one is already queued; a lost kick waits for beat's sweep."""
    if redis_client().set(KICK_KEY, 1, nx=True, ex=settings.OUTBOX_KICK_TTL_S):
        from server.outbox.tasks import relay  # the tasks module imports this one

        relay.apply_async(retry=False)


def outbox_relay(*, now: datetime) -> int:
    """Fan out every committed event not yet relayed; returns how many. Waits for a relay
    already running (it may have read before the commit that queued this one)."""
    redis_client().delete(KICK_KEY)  # before reading: a commit after this kicks again
    relayed = 0
    batch = settings.OUTBOX_RELAY_BATCH
    while True:
        with transaction.atomic():
            _relay_lock()
            events = list(
                OutboxEvent.objects.filter(relayed_at__isnull=True).order_by("id")[:batch]
            )
            for event in events:
                _fan_out(event, now)
        relayed += len(events)
        if len(events) < batch:
            return relayed


def _relay_lock() -> None:
    """Held to the end of the relay's transaction. SQLite needs none: it runs one writing
    transaction at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RELAY_LOCK])


def _fan_out(event: OutboxEvent, now: datetime) -> None:
    error = ""
    try:
        with transaction.atomic():
            for subscriber in subscribers:
                subscriber(event)
    except Exception as exc:
        log.exception("outbox event %s (%s) could not be relayed", event.event_id, event.topic)
        error = repr(exc)[:1000]
    OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=now, relay_error=error)
