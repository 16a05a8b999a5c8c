"""What-if: our app (``server.asgi:application``, gate path unchanged) with the live
consumer's per-message hop to Channels' database thread removed, in this process only.

Channels' ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()`` before every
message: a round trip to the single database thread and back, and a fight for the GIL with
it. The live consumer reaches the database only through wrappers that close their own
connections (``database_sync_to_async``, our worker threads), so a frame from the socket
does not need it. This app measures what skipping it for ``websocket.receive`` would give;
the change itself belongs in streams/consumers.py (see docs/benchmarks.md).

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.claims.nohop_app:application
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up and registers our handlers

# isort: split

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections

from streams.consumers import LiveConsumer

__all__ = ["application"]


async def dispatch(self: LiveConsumer, message: dict[str, Any]) -> None:
    handler = getattr(self, get_handler_name(message), None)
    if handler is None:
        raise ValueError(f"No handler for message type {message['type']}")
    if message["type"] != "websocket.receive":
        await aclose_old_connections()
    await handler(message)


LiveConsumer.dispatch = dispatch  # type: ignore[method-assign]
