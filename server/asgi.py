"""ASGI entry point (``daphne server.asgi:application``): HTTP to Django, /ws/ to Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from orders.storm import OrderStorm  # noqa: E402
from server.accounts.consumers import WhoAmIConsumer  # noqa: E402
from server.ws_auth import websocket_stack  # noqa: E402
from streams.consumers import CLOSE_NOT_FOUND, LiveConsumer  # noqa: E402


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other /ws/ path: a clean close instead of a server error."""

    async def connect(self) -> None:
        # Accepted first: a close before the accept reaches the client as HTTP 403.
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)


websocket_urlpatterns = [
    path("ws/me/", WhoAmIConsumer.as_asgi()),
    path("ws/live/<int:session_id>/", LiveConsumer.as_asgi()),
    re_path(r"", NoSuchSocket.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        # A rush of orders is answered from the gate on the event loop (orders/storm.py).
        "http": OrderStorm(django_asgi_app),
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)
