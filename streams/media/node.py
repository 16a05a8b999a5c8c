"""This process as a media node: found by web processes while it runs, gone when it exits.

A media process with ``MEDIA_NODE_URL`` set announces itself in Redis (``routing``), so web
processes can send hosts and viewers here, and withdraws on a clean exit, so the sessions
it held are free at once rather than after ``MEDIA_NODE_TTL_S``.
"""

from __future__ import annotations

import atexit
import logging

from django.conf import settings

from streams.media import hooks, peers, routing

log = logging.getLogger(__name__)


def node_start() -> bool:
    """Announce this process as a media node and withdraw it at exit; False (with a
    warning) when ``MEDIA_NODE_URL`` is unset and nobody could find it."""
    if not settings.MEDIA_NODE_URL:
        log.warning("MEDIA_NODE_URL is not set: web processes cannot find this media process")
        return False
    routing.heartbeat().start()
    atexit.register(node_withdraw)
    return True


def node_withdraw() -> None:
    """Stop announcing this node and free the sessions it holds (their owner and "video
    on" keys). Redis away at exit is no error: the keys' TTLs free them instead."""
    session_ids = peers.sessions_held()
    try:
        routing.heartbeat().stop()
        routing.node_withdraw(session_ids=session_ids)
        for session_id in session_ids:
            hooks.redis_client().delete(hooks.video_key(session_id))
    except Exception as exc:
        log.warning("media node could not withdraw cleanly: %s", exc)
