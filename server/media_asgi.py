"""ASGI entry point of the ``media`` process: ``daphne server.media_asgi:application``.

WebRTC work (aiortc peer connections, the relay's encoders, recording) runs here, in its
own process(es), so encoding never stalls the WebSocket plane of the ``web`` processes.
It serves only WHIP/WHEP and the health probes; anything else is a 404 in the contract's
shape, so the media port exposes nothing else.

``MEDIA_NODE_URL`` (this process's base URL, as clients reach it) makes it a media node:
it announces itself in Redis at start-up (``streams.media.routing``), so web processes can
send hosts here, and withdraws on a clean exit, so its sessions are free at once.
"""

import atexit
import json
import logging
import os
import re

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

from django.conf import settings  # noqa: E402

from streams.media import hooks, peers, routing  # noqa: E402

log = logging.getLogger("server.media")

MEDIA_PATH = re.compile(r"^/(api/sessions/[0-9]+/(whip|whep)(/[A-Za-z0-9_-]*)?/?|healthz|readyz)$")
NOT_FOUND = json.dumps(
    {"error": {"code": "not_found", "message": "The media server serves WHIP and WHEP only."}}
).encode()


async def application(scope: dict, receive, send) -> None:
    if scope["type"] == "http" and MEDIA_PATH.match(scope["path"]):
        await django_asgi_app(scope, receive, send)
    elif scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": NOT_FOUND})
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4404})


def _withdraw() -> None:
    """Free this node's sessions now rather than after ``MEDIA_NODE_TTL_S``."""
    session_ids = sorted({s for r in peers._registries.values() for s in r.sessions})
    try:
        routing.heartbeat().stop()
        routing.node_withdraw(session_ids=session_ids)
        for session_id in session_ids:
            hooks.redis_client().delete(hooks.video_key(session_id))
    except Exception as exc:  # Redis away at exit: the TTL frees them instead
        log.warning("media node could not withdraw cleanly: %s", exc)


if settings.MEDIA_NODE_URL:
    routing.heartbeat().start()
    atexit.register(_withdraw)
else:
    log.warning("MEDIA_NODE_URL is not set: this media process cannot be found by web processes")
