"""Who is on the other end of a WebSocket, and whether their page may open one.

Three ways in (docs/api.md): the session cookie (our pages), ``Authorization: Token``
(apps and tools), or a single-use ``?ticket=`` (browsers that cannot set headers, without
putting a long-lived token in a URL). A bad credential leaves the socket anonymous, which
can watch but not chat, claim or buy.
"""

from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from rest_framework.authtoken.models import Token

from server.accounts.models import User
from server.accounts.services import ws_ticket_redeem
from server.origins import origin_allowed, own_origin


@database_sync_to_async
def _user_by_token(key: str) -> User | None:
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else None


@database_sync_to_async
def _user_by_id(user_id: int) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first()


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


class TokenTicketAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` from a ticket or token; runs inside the cookie middleware,
    so a credential given explicitly wins over a browser's ambient cookie."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = await self._explicit_user(scope)
        if user is not None:
            scope = {**scope, "user": user}
        return await super().__call__(scope, receive, send)

    async def _explicit_user(self, scope: dict[str, Any]) -> User | None:
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        if ticket := query.get("ticket", [""])[0]:
            user_id = await sync_to_async(ws_ticket_redeem, thread_sensitive=False)(ticket=ticket)
            return await _user_by_id(user_id) if user_id is not None else None
        authorization = _header(scope, b"authorization") or ""
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() == "token" and key and len(key) <= 64:
            return await _user_by_token(key.strip())
        return None


class BrowserOriginValidator:
    """Refuse a browser page from a foreign origin, compared in full: scheme, host and
    port (server.origins; cross-site WebSocket hijacking rides on the victim's cookies).
    Browsers always send ``Origin``; a client without one is an app or tool, which has no
    ambient cookie to abuse and authenticates explicitly."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = _header(scope, b"origin")
        if scope["type"] == "websocket" and origin is not None:
            own = own_origin(
                scheme=scope.get("scheme", "ws"), host_header=_header(scope, b"host") or ""
            )
            if not origin_allowed(origin, own=own):
                return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


def websocket_stack(inner: Any) -> Any:
    """Origin check, then cookie session, then token/ticket, then the URL router."""
    return BrowserOriginValidator(AuthMiddlewareStack(TokenTicketAuthMiddleware(inner)))
