"""ASGI entry point (``daphne server.asgi:application``): HTTP to Django, /ws/ to Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from server.accounts.consumers import WhoAmIConsumer  # noqa: E402
from server.ws_auth import websocket_stack  # noqa: E402

websocket_urlpatterns = [
    path("ws/me/", WhoAmIConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)
