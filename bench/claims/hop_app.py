"""Before/after: our app (``server.asgi:application``, gate path unchanged) with the live
consumer's dispatch put back to Channels' own, which awaits ``aclose_old_connections()``
before every message: a round trip to Channels' single database thread per frame.

``LiveConsumer.dispatch`` skips that call (streams/consumers.py says why); this app shows
what the skip is worth in a storm, in the bench's process only.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.claims.hop_app:application
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")

from server.asgi import application  # first: sets Django up and registers our handlers

# isort: split

from channels.consumer import AsyncConsumer

from streams.consumers import LiveConsumer

__all__ = ["application"]

LiveConsumer.dispatch = AsyncConsumer.dispatch  # type: ignore[method-assign]
