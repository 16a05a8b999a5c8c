"""WebSocket identity: cookie session, token header, single-use ticket; origins checked."""

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from server.accounts import services as accounts
from server.asgi import application
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _whoami(headers=(), query: str = "") -> dict | None:
    communicator = WebsocketCommunicator(application, f"/ws/me/{query}", headers=list(headers))
    connected, _ = await communicator.connect(timeout=5)
    if not connected:
        return {"refused": True}
    frame = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert frame["type"] == "me"
    return frame["data"]["user"]


@pytest.fixture
def user():
    return accounts.user_register(username="ws-user", password=PASSWORD, role="host")


async def test_anonymous_socket_has_no_user():
    assert await _whoami() is None


async def test_token_header(user):
    key = await _sync(accounts.token_get_or_create, user=user)
    me = await _whoami(headers=[(b"authorization", f"Token {key}".encode())])
    assert me == {"id": user.pk, "username": "ws-user", "roles": ["viewer", "host"]}


async def test_bad_token_stays_anonymous(user):
    assert await _whoami(headers=[(b"authorization", b"Token nope")]) is None


async def test_ticket_is_single_use(user):
    ticket = await _sync(accounts.ws_ticket_issue, user=user, ttl_s=30)
    assert (await _whoami(query=f"?ticket={ticket}"))["id"] == user.pk
    assert await _whoami(query=f"?ticket={ticket}") is None


async def test_expired_ticket_is_refused(user):
    from server.redis import redis_client

    ticket = await _sync(accounts.ws_ticket_issue, user=user, ttl_s=30)
    redis_client().delete(f"{accounts.WS_TICKET_PREFIX}{ticket}")  # what expiry does
    assert await _whoami(query=f"?ticket={ticket}") is None


async def test_session_cookie(user):
    client = Client()
    await _sync(client.login, username="ws-user", password=PASSWORD)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    me = await _whoami(headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000")])
    assert me["id"] == user.pk


async def test_foreign_origin_is_refused(user):
    key = await _sync(accounts.token_get_or_create, user=user)
    refused = await _whoami(
        headers=[(b"origin", b"https://evil.example"), (b"authorization", f"Token {key}".encode())]
    )
    assert refused == {"refused": True}


async def test_own_origin_is_accepted():
    assert await _whoami(headers=[(b"origin", b"http://127.0.0.1:8000")]) is None


async def _sync(func, **kwargs):
    from asgiref.sync import sync_to_async

    return await sync_to_async(func)(**kwargs)
