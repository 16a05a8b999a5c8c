"""ASGI entry point of the ``media`` process: ``daphne server.media_asgi:application``.

WebRTC work (aiortc peer connections, the relay's encoders, recording) runs here, in its
own process(es), so encoding never stalls the WebSocket plane of the ``web`` processes.
It serves only WHIP/WHEP and the health probes; anything else is a 404 in the contract's
shape, so the media port exposes nothing else.

``MEDIA_NODE_URL`` (this process's base URL, as clients reach it) makes it a media node
(``streams.media.node``): found by web processes while it runs, withdrawn on a clean exit.
"""

import json
import os
import re

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

from streams.media.node import node_start  # noqa: E402

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


node_start()
