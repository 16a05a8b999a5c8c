"""The live channel over WebsocketCommunicator: every message type and error path."""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from catalog import services as catalog
from server import publisher
from server.accounts import services as accounts
from server.asgi import application
from server.redis import redis_client
from streams import events, live, selectors, services
from streams.consumers import CLOSE_FLOOD, CLOSE_NOT_FOUND, FLOOD_FRAMES
from streams.models import ChatMessage
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def world():
    host = accounts.user_register(username="host1", password=PASSWORD, role="host")
    viewer = accounts.user_register(username="viewer1", password=PASSWORD)
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    product = catalog.product_create(
        actor=host, farm=farm, name="Mango", unit="kg", price=Decimal("90.00"), stock=50
    )
    now = timezone.now()
    session = services.session_create(
        host=host, farm=farm, title="Live", now=now, scheduled_at=now + timedelta(hours=1)
    )
    services.session_start(session=session, actor=host, now=now)
    return {"host": host, "viewer": viewer, "farm": farm, "product": product, "session": session}


async def connect(session_id: int, user=None, query: str = "") -> WebsocketCommunicator:
    headers = []
    if user is not None:
        key = await sync_to_async(accounts.token_get_or_create)(user=user)
        headers.append((b"authorization", f"Token {key}".encode()))
    ws = WebsocketCommunicator(application, f"/ws/live/{session_id}/{query}", headers=headers)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    return ws


async def next_frame(ws: WebsocketCommunicator, kind: str | None = None, timeout: float = 5):
    """The next frame (of ``kind``, skipping others)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await ws.receive_from(timeout=max(left, 0.01)))
        if kind is None or frame["type"] == kind:
            return frame


async def send(ws, type_, data=None, id_="c1"):
    await ws.send_to(text_data=json.dumps({"type": type_, "id": id_, "data": data or {}}))


async def test_snapshot_on_connect(world):
    ws = await connect(world["session"].pk)
    snap = await next_frame(ws)
    assert snap["type"] == "snapshot"
    assert "seq" not in snap
    data = snap["data"]
    assert data["session"]["status"] == "live"
    assert data["session"]["farm"]["province"] == "Nan"
    assert data["last_seq"] >= 1  # session.state live (and maybe a viewer count)
    assert data["pinned"] is None
    assert data["chat"] == []
    await ws.disconnect()


async def test_unknown_session_is_closed_with_not_found(world):
    # accepted, then closed with 4404 (a close before the accept is an HTTP 403)
    ws = WebsocketCommunicator(application, "/ws/live/999999/")
    connected, _ = await ws.connect(timeout=5)
    assert connected
    assert await ws.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CLOSE_NOT_FOUND,
    }


async def test_ping_pong(world):
    ws = await connect(world["session"].pk)
    await next_frame(ws, "snapshot")
    await send(ws, "ping", id_="p-1")
    pong = await next_frame(ws, "pong")
    assert pong["reply_to"] == "p-1"
    await ws.disconnect()


async def test_chat_is_broadcast_with_the_next_seq(world):
    alice = await connect(world["session"].pk, world["viewer"])
    watcher = await connect(world["session"].pk)
    base = (await next_frame(alice, "snapshot"))["data"]["last_seq"]
    await next_frame(watcher, "snapshot")
    await send(alice, "chat.send", {"text": "  สวัสดีค่ะ 🥭 "}, id_=7)
    # the broadcast may reach alice before her own reply does
    frames = {
        f["type"]: f for f in await drain(alice) if f["type"] in ("chat.sent", "chat.message")
    }
    sent = frames["chat.sent"]
    assert sent["reply_to"] == 7
    expected = {
        "id": sent["data"]["id"],
        "user": "viewer1",
        "user_id": world["viewer"].pk,
        "speaker": {
            "id": world["viewer"].pk,
            "username": "viewer1",
            "display_name": "viewer1",
            "host": False,
            "staff": False,
        },
        "text": "สวัสดีค่ะ 🥭",
    }
    assert frames["chat.message"]["data"] == expected
    watched = await next_frame(watcher, "chat.message")
    assert watched["data"] == expected
    seqs = {frames["chat.message"]["seq"], watched["seq"]}
    assert len(seqs) == 1 and seqs.pop() > base
    await alice.disconnect()
    await watcher.disconnect()


async def test_anonymous_cannot_chat(world):
    ws = await connect(world["session"].pk)
    await next_frame(ws, "snapshot")
    await send(ws, "chat.send", {"text": "hi"}, id_="a")
    error = await next_frame(ws, "error")
    assert error["reply_to"] == "a"
    assert error["data"]["code"] == "not_authenticated"
    await ws.disconnect()


async def test_muted_user_is_refused_and_host_can_delete(world):
    host = await connect(world["session"].pk, world["host"])
    viewer = await connect(world["session"].pk, world["viewer"])
    await next_frame(host, "snapshot")
    await next_frame(viewer, "snapshot")
    await send(viewer, "chat.send", {"text": "spam spam"})
    message = await next_frame(host, "chat.message")
    # the host deletes it for everyone
    await send(host, "chat.delete", {"id": message["data"]["id"]}, id_="d")
    deleted = await next_frame(viewer, "chat.deleted")
    assert deleted["data"] == {"id": message["data"]["id"]}
    # a viewer cannot moderate
    await send(viewer, "chat.mute", {"user": world["host"].pk}, id_="m0")
    assert (await next_frame(viewer, "error"))["data"]["code"] == "forbidden"
    # the host mutes the viewer
    await send(host, "chat.mute", {"user": world["viewer"].pk}, id_="m")
    assert (await next_frame(host, "chat.muted"))["reply_to"] == "m"
    await send(viewer, "chat.send", {"text": "again"}, id_="x")
    error = await next_frame(viewer, "error")
    assert (error["reply_to"], error["data"]["code"]) == ("x", "forbidden")
    await host.disconnect()
    await viewer.disconnect()


async def test_chat_rate_limit(world):
    ws = await connect(world["session"].pk, world["viewer"])
    await next_frame(ws, "snapshot")
    replies = []
    for i in range(7):
        await send(ws, "chat.send", {"text": f"message {i}"}, id_=i)
        replies.append(await next_frame(ws, "chat.sent" if i < 5 else "error"))
    assert [r["type"] for r in replies] == ["chat.sent"] * 5 + ["error"] * 2
    assert replies[-1]["data"]["code"] == "rate_limited"
    await ws.disconnect()


@pytest.mark.parametrize(
    ("raw", "reply_to"),
    [
        ("{not json", None),
        ('{"type": "nope", "id": "u"}', "u"),
        ('{"type": "chat.send", "id": "w", "data": {"text": 5}}', "w"),
        ('{"type": "chat.send", "id": "e", "data": {"text": "x", "extra": 1}}', "e"),
        ('{"type": "ping", "id": "e2", "data": {}, "more": 1}', "e2"),
        ("[1, 2]", None),
        ('{"type": "reaction.send", "id": "k", "data": {"kind": "poop"}}', "k"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays(world, raw, reply_to):
    ws = await connect(world["session"].pk, world["viewer"])
    await next_frame(ws, "snapshot")
    await ws.send_to(text_data=raw)
    error = await next_frame(ws, "error")
    assert error["data"]["code"] == "invalid"
    assert error.get("reply_to") == reply_to
    await send(ws, "ping", id_="still-open")
    assert (await next_frame(ws, "pong"))["reply_to"] == "still-open"
    await ws.disconnect()


async def test_oversize_frame(world):
    ws = await connect(world["session"].pk, world["viewer"])
    await next_frame(ws, "snapshot")
    await send(ws, "chat.send", {"text": "x" * 10_000})
    error = await next_frame(ws, "error")
    assert error["data"]["code"] == "invalid"
    assert "too large" in error["data"]["message"]
    await send(ws, "ping", id_="after")
    assert (await next_frame(ws, "pong"))["reply_to"] == "after"
    await ws.disconnect()


async def test_flood_is_limited_then_closed(world):
    ws = await connect(world["session"].pk)
    await next_frame(ws, "snapshot")
    for i in range(FLOOD_FRAMES * 4):
        await send(ws, "ping", id_=i)
    kinds = []
    while True:
        output = await ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == CLOSE_FLOOD
            break
        kinds.append(json.loads(output["text"])["type"])
    assert kinds.count("pong") == FLOOD_FRAMES
    assert "error" in kinds


async def test_reactions_are_coalesced(world):
    ws = await connect(world["session"].pk)
    await next_frame(ws, "snapshot")
    for i in range(40):
        await send(ws, "reaction.send", {"kind": "heart" if i % 4 else "clap"}, id_=i)
        if i % FLOOD_FRAMES == FLOOD_FRAMES - 1:
            await asyncio.sleep(2.1)  # stay inside the per-socket flood budget
    await asyncio.sleep(publisher_interval := 0.6)
    await live.live_loop().tick_now()  # the trailing flush
    total: dict[str, int] = {}
    frames = [f for f in await drain(ws) if f["type"] == "reactions"]
    for frame in frames:
        for kind, n in frame["data"]["counts"].items():
            total[kind] = total.get(kind, 0) + n
    assert total == {"heart": 30, "clap": 10}
    assert len(frames) <= 2 * (4.2 + publisher_interval) / 0.5 + 2  # at most ~2 per second
    await ws.disconnect()


async def drain(ws, seconds: float = 0.5) -> list[dict]:
    """Every frame until the socket is quiet for ``seconds`` (the app keeps running)."""
    frames = []
    while not await ws.receive_nothing(timeout=seconds):
        frames.append(json.loads(await ws.receive_from()))
    return frames


async def test_reconnect_with_last_seq_replays_what_was_missed(world):
    session = world["session"]
    ws = await connect(session.pk)
    await next_frame(ws, "snapshot")
    await sync_to_async(publisher.publish_now)(session.pk, events.Stock(product=1, left=9))
    seen = (await next_frame(ws, "stock"))["seq"]
    await ws.disconnect()
    # while away
    for left in (8, 7, 6):
        await sync_to_async(publisher.publish_now)(session.pk, events.Stock(product=1, left=left))
    back = await connect(session.pk, query=f"?last_seq={seen}")
    snapshot = await next_frame(back)
    assert snapshot["type"] == "snapshot"
    await sync_to_async(publisher.publish_now)(session.pk, events.Stock(product=1, left=5))
    frames = await drain(back)
    # every event after last_seq, once, in order, replayed and then live without a seam
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(seen + 1, seen + 1 + len(seqs)))
    assert [f["data"]["left"] for f in frames if f["type"] == "stock"] == [8, 7, 6, 5]
    await back.disconnect()


async def test_gap_older_than_the_log_gets_only_a_fresh_snapshot(world):
    session = world["session"]
    for left in range(40):
        await sync_to_async(publisher.publish_now)(session.pk, events.Stock(product=1, left=left))
    # what the capped log does to old entries
    redis_client().xtrim(publisher.log_key(session.pk), maxlen=5, approximate=False)
    ws = await connect(session.pk, query="?last_seq=1")
    snapshot = await next_frame(ws)
    assert snapshot["type"] == "snapshot"
    assert snapshot["data"]["last_seq"] >= 41
    later = await drain(ws, 0.3)
    assert all(f["seq"] > snapshot["data"]["last_seq"] for f in later)  # no stale replay
    assert not [f for f in later if f["type"] == "stock"]
    await ws.disconnect()


async def test_viewer_count_is_published(world):
    a = await connect(world["session"].pk)
    b = await connect(world["session"].pk, world["viewer"])
    await next_frame(a, "snapshot")
    await next_frame(b, "snapshot")
    await expect_viewers(a, 2)
    await b.disconnect()
    await expect_viewers(a, 1)
    await a.disconnect()


async def expect_viewers(ws, count: int) -> None:
    """The count reaches ``count`` within a few coalescing intervals (it may pass through
    intermediate values on the way)."""
    for _ in range(10):
        await live.live_loop().tick_now()
        for frame in await drain(ws, 0.2):
            if frame["type"] == "viewers" and frame["data"]["count"] == count:
                return
        await asyncio.sleep(0.3)
    raise AssertionError(f"viewer count never reached {count}")


async def test_rest_lifecycle_and_pin_reach_viewers(world, client_for):
    session, host = world["session"], world["host"]
    ws = await connect(session.pk)
    await next_frame(ws, "snapshot")
    api = await sync_to_async(client_for)(host)
    added = await sync_to_async(api.post)(
        f"/api/sessions/{session.pk}/showcase/",
        {"product": world["product"].pk, "live_price": "79.00", "allotment": 20},
        format="json",
    )
    assert added.status_code == 201, added.json()
    pinned = await sync_to_async(api.post)(
        f"/api/sessions/{session.pk}/pin/", {"product": world["product"].pk}, format="json"
    )
    assert pinned.status_code == 200
    frame = await next_frame(ws, "product.pinned")
    assert frame["data"] == {
        "product": world["product"].pk,
        "name": "Mango",
        "live_price": "79.00",
        "currency": "THB",
        "unit": "kg",
        "left": 20,
    }
    ended = await sync_to_async(api.post)(f"/api/sessions/{session.pk}/end/")
    assert ended.json()["status"] == "ended"
    assert (await next_frame(ws, "session.state"))["data"] == {"status": "ended", "video": None}
    await ws.disconnect()


async def test_chat_speaker_says_who_is_the_host_whatever_the_name(world):
    host, viewer = world["host"], world["viewer"]
    # a viewer who names themself after the host
    await sync_to_async(type(viewer).objects.filter(pk=host.pk).update)(display_name="ลุงสมชาย")
    await sync_to_async(type(viewer).objects.filter(pk=viewer.pk).update)(display_name="ลุงสมชาย")
    as_host = await connect(world["session"].pk, host)
    as_viewer = await connect(world["session"].pk, viewer)
    await next_frame(as_host, "snapshot")
    await next_frame(as_viewer, "snapshot")
    await send(as_viewer, "chat.send", {"text": "I am the host"}, id_="v")
    await send(as_host, "chat.send", {"text": "I really am"}, id_="h")
    said = {}
    for _ in range(2):
        frame = await next_frame(as_viewer, "chat.message")
        said[frame["data"]["text"]] = frame["data"]
    assert said["I am the host"]["user"] == said["I really am"]["user"] == "ลุงสมชาย"
    assert said["I am the host"]["speaker"] == {
        "id": viewer.pk,
        "username": "viewer1",
        "display_name": "ลุงสมชาย",
        "host": False,
        "staff": False,
    }
    assert said["I really am"]["speaker"] == {
        "id": host.pk,
        "username": "host1",
        "display_name": "ลุงสมชาย",
        "host": True,
        "staff": False,
    }
    # the snapshot's chat says the same (read now: joins share a snapshot for a second)
    snapshot = await sync_to_async(selectors.session_snapshot)(session_id=world["session"].pk)
    chat = snapshot["chat"]
    assert {m["text"]: m["speaker"]["host"] for m in chat} == {
        "I am the host": False,
        "I really am": True,
    }
    for ws in (as_host, as_viewer):
        await ws.disconnect()


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "bell\x07", "esc\x1b[31mred", "cr\rlf"])
async def test_chat_refuses_control_characters(world, text):
    ws = await connect(world["session"].pk, world["viewer"])
    await next_frame(ws, "snapshot")
    await send(ws, "chat.send", {"text": text}, id_="nul")
    error = await next_frame(ws, "error")
    assert (error["reply_to"], error["data"]["code"]) == ("nul", "invalid")
    assert not await sync_to_async(ChatMessage.objects.exists)()
    # newline and tab are text
    await send(ws, "chat.send", {"text": "two\nlines\tand a tab"}, id_="ok")
    assert (await next_frame(ws, "chat.sent"))["reply_to"] == "ok"
    await ws.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "chat.delete", "id": "big", "data": {"id": 2**63}}, "invalid"),
        ({"type": "chat.mute", "id": "big", "data": {"user": 10**30}}, "invalid"),
        ({"type": "chat.delete", "id": "big", "data": {"id": 0}}, "invalid"),
        # coupons' own schema: no such drop, and never a server error
        ({"type": "coupon.claim", "id": "big", "data": {"drop": 2**64}}, "not_found"),
    ],
)
async def test_ids_past_the_database_range_are_refused(world, frame, code):
    ws = await connect(world["session"].pk, world["host"])
    await next_frame(ws, "snapshot")
    await ws.send_to(text_data=json.dumps(frame))
    error = await next_frame(ws, "error")
    assert (error["reply_to"], error["data"]["code"]) == ("big", code)
    await ws.disconnect()


async def test_nested_frame_is_an_error_and_the_socket_stays(world):
    ws = await connect(world["session"].pk)
    await next_frame(ws, "snapshot")
    await ws.send_to(text_data="[" * 2048 + "]" * 2048)
    error = await next_frame(ws, "error")
    assert (error["reply_to"], error["data"]["code"]) == (None, "invalid")
    await send(ws, "ping", id_="still")
    assert (await next_frame(ws, "pong"))["reply_to"] == "still"
    await ws.disconnect()
