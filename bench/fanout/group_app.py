"""The channel-layer variant: the same Django project under daphne, broadcasts through
``group_send`` to one group per session, one consumer per viewer.

This is the path docs/architecture.md keeps for per-user and control messages only; it is
measured here so that the choice of the per-process broadcaster stays a measured one. The
runner publishes with ``channel_layer.group_send(session_group(id), ...)``.

    daphne -e tcp:port=8766:interface=127.0.0.1:backlog=1024 bench.fanout.group_app:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.fanout import session_group  # noqa: E402

HELLO = '{"type":"hello"}'


class GroupViewer(AsyncWebsocketConsumer):
    """Joins the session's group; each broadcast arrives as one channel-layer message."""

    group: str

    async def connect(self) -> None:
        self.group = session_group(int(self.scope["url_route"]["kwargs"]["session_id"]))
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=HELLO)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def bench_frame(self, message: dict[str, str]) -> None:
        await self.send(text_data=message["frame"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/group/<int:session_id>/", GroupViewer.as_asgi())]),
    }
)
