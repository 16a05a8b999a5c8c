"""Live video with real peers: aiortc publishers and viewers over WHIP/WHEP, in-process
against the real ASGI app, on loopback only (no STUN, host candidates on 127.0.0.1)."""

import asyncio
import gc
import json
import math
import threading
import time
from datetime import timedelta

import av
import httpx
import pytest
from aiortc import RTCPeerConnection
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from bench.media import clients
from catalog import services as catalog
from server import settings as shipped
from server.accounts import services as accounts
from server.asgi import application
from server.redis import redis_client
from streams import services as sessions
from streams.media import hooks, ice, node, peers, routing
from streams.media.db import on_db_thread
from streams.media.models import Recording
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def media_settings(settings, tmp_path):
    settings.MEDIA_NODE_URL = "http://testserver"
    settings.MEDIA_ICE_HOST_ADDRESSES = ["127.0.0.1"]
    settings.MEDIA_ICE_SERVERS = []
    settings.MEDIA_ROOT = tmp_path
    settings.MEDIA_RECORDING = True
    settings.MEDIA_CONNECT_TIMEOUT_S = 3.0
    clients.loopback_only()
    return settings


@pytest.fixture(autouse=True)
async def media_registry():
    """Each test's peers end with it, whatever the test did."""
    yield
    await peers.registry().close_all()


@pytest.fixture
def world():
    host = accounts.user_register(username="host1", password=PASSWORD, role="host")
    viewer = accounts.user_register(username="viewer1", password=PASSWORD)
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    now = timezone.now()
    live = sessions.session_create(host=host, farm=farm, title="Live", now=now)
    sessions.session_start(session=live, actor=host, now=now)
    later = sessions.session_create(
        host=host, farm=farm, title="Later", now=now, scheduled_at=now + timedelta(hours=2)
    )
    return {
        "host": host,
        "viewer": viewer,
        "live": live,
        "later": later,
        "host_token": accounts.token_get_or_create(user=host),
        "viewer_token": accounts.token_get_or_create(user=viewer),
    }


def http_client(address: str = "127.0.0.1") -> httpx.AsyncClient:
    """The in-process app, reached from ``address`` (its REMOTE_ADDR)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application, client=(address, 40000)),
        base_url="http://testserver",
        timeout=20,
    )


async def until(predicate, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.1)


def assert_error(reply: httpx.Response, status: int, code: str) -> dict:
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert "Traceback" not in reply.text
    return body["error"]


async def host_socket(world) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        application,
        f"/ws/live/{world['live'].pk}/",
        headers=[(b"authorization", f"Token {world['host_token']}".encode())],
    )
    connected, _ = await ws.connect(timeout=5)
    assert connected
    return ws


async def frames_of(ws: WebsocketCommunicator, seconds: float) -> list[dict]:
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # receive_from's timeout would cancel the consumer; only read what is there.
        if not await ws.receive_nothing(timeout=0.1, interval=0.02):
            frames.append(json.loads(await ws.receive_from(timeout=5)))
    return frames


def media_threads() -> list[str]:
    names = ("relay-encode", "recorder", "video-decoder", "audio-decoder")
    return [t.name for t in threading.enumerate() if t.name.startswith(names)]


async def test_one_publisher_three_viewers_then_nothing_left_behind(world):
    session_id = world["live"].pk
    base = f"/api/sessions/{session_id}"
    ws = await host_socket(world)
    await frames_of(ws, 0.3)
    # The live channel's own loops (fan-out, presence) run on; count what comes after.
    tasks_before = len(asyncio.all_tasks())
    async with http_client() as http:
        # given: the host publishes a 640x360 test pattern with sound
        publisher = await clients.publish(
            http, f"{base}/whip", token=world["host_token"],
            video=clients.TestPattern(640, 360, 30), audio=clients.Silence(),
        )  # fmt: skip
        assert publisher.status == 201, publisher.body
        assert publisher.location.startswith(f"http://testserver{base}/whip/")

        # when: three viewers play at three qualities
        players = [
            await clients.play(http, f"{base}/whep", quality=quality)
            for quality in ("hd", "low", "auto")
        ]
        assert [p.status for p in players] == [201, 201, 201], [p.body for p in players]
        await until(lambda: all(p.frames >= 60 for p in players), 30, "60 frames each")

        # then: each got real frames at its level's size
        assert players[0].sizes == {(640, 360)}
        assert players[1].sizes == {(320, 180)}
        assert players[2].sizes == {(640, 360)}
        assert all(p.audio_packets > 0 for p in players)
        events = await frames_of(ws, 2.5)
        for _ in range(4):  # a loaded machine may be slower; what came is kept
            if {"session.state", "stream.health"} <= {f["type"] for f in events}:
                break
            events += await frames_of(ws, 1.0)
        states = [f["data"] for f in events if f["type"] == "session.state"]
        assert {"status": "live", "video": True} in states, [f["type"] for f in events]
        health = [f["data"] for f in events if f["type"] == "stream.health"]
        assert health, [f["type"] for f in events]
        last = health[-1]
        assert last["session"] == session_id and last["publishing"] and last["video"]
        assert last["viewers"] == 3 and last["levels"] == {"hd": 2, "low": 1, "audio": 3}
        assert last["fps"] > 20 and last["bitrate_kbps"] > 50 and last["recording"]
        assert (last["width"], last["height"]) == (640, 360)
        assert "reply_to" not in events[-1] and "seq" not in health[-1]

        # when: every viewer and the publisher DELETE their resources
        for player in players:
            assert (await http.delete(player.location)).status_code == 200
        reply = await http.delete(
            publisher.location, headers={"Authorization": f"Bearer {world['host_token']}"}
        )
        assert reply.status_code == 200
        assert (await http.delete(publisher.location)).status_code == 401
        for player in players:
            await player.close()
        await publisher.pc.close()

    # then: viewers were told the video went away; nothing is left in the registry
    events = await frames_of(ws, 1.5)
    assert {"status": "live", "video": False} in [
        f["data"] for f in events if f["type"] == "session.state"
    ]
    await ws.disconnect()
    registry = peers.registry()
    await until(lambda: not registry.peers and not registry.sessions, 5, "an empty registry")
    assert await asyncio.to_thread(routing.owner_get, session_id=session_id) is None
    await until(
        lambda: len(asyncio.all_tasks()) <= tasks_before, 10,
        lambda: f"tasks to finish: {[t.get_coro() for t in asyncio.all_tasks()]}",
    )  # fmt: skip
    await until(lambda: not media_threads(), 5, lambda: f"threads to end: {media_threads()}")
    players = player = publisher = None  # the clients' own; the server's are gone already
    gc.collect()
    # type(), not isinstance(): other tests leave dead weak proxies, which isinstance trips on
    assert [o for o in gc.get_objects() if type(o) is RTCPeerConnection] == []

    # and the publication was recorded, as one complete part that plays
    part = await on_db_thread(Recording.objects.get)(session_id=session_id)
    assert (part.part, part.status, part.width, part.height) == (1, "complete", 640, 360)
    assert part.size_bytes > 10_000 and part.duration_s > 1.5
    from django.conf import settings

    with av.open(str(settings.MEDIA_ROOT / part.file)) as container:
        kinds = sorted(s.type for s in container.streams)
        decoded = sum(1 for _ in container.decode(video=0))
    assert kinds == ["audio", "video"] and decoded >= 45


async def test_refusals_are_clear_and_in_the_contract_shape(world):
    live, later = world["live"].pk, world["later"].pk
    sdp_headers = {"Content-Type": "application/sdp"}
    host = {"Authorization": f"Bearer {world['host_token']}", **sdp_headers}
    offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    async with http_client() as http:
        reply = await http.post(f"/api/sessions/{live}/whip", content=offer, headers=sdp_headers)
        assert_error(reply, 401, "not_authenticated")
        assert reply.headers["www-authenticate"].startswith("Bearer")
        reply = await http.post(
            f"/api/sessions/{live}/whip", content=offer,
            headers={"Authorization": "Bearer not-a-token", **sdp_headers},
        )  # fmt: skip
        assert_error(reply, 401, "not_authenticated")
        reply = await http.post(
            f"/api/sessions/{live}/whip", content=offer,
            headers={"Authorization": f"Bearer {world['viewer_token']}", **sdp_headers},
        )  # fmt: skip
        assert_error(reply, 403, "forbidden")
        reply = await http.post(
            f"/api/sessions/{live}/whip", content="{}",
            headers={"Authorization": f"Bearer {world['host_token']}",
                     "Content-Type": "application/json"},
        )  # fmt: skip
        assert reply.status_code == 415
        assert_error(reply, 415, "invalid")
        error = assert_error(
            await http.post(f"/api/sessions/{later}/whip", content=offer, headers=host),
            409, "conflict",
        )  # fmt: skip
        assert error["reason"] == "not_live"
        error = assert_error(
            await http.post(f"/api/sessions/{later}/whep", content=offer, headers=sdp_headers),
            409, "conflict",
        )  # fmt: skip
        assert error["reason"] == "not_live"
        error = assert_error(
            await http.post(f"/api/sessions/{live}/whep", content=offer, headers=sdp_headers),
            409, "conflict",
        )  # fmt: skip
        assert error["reason"] == "not_publishing"
        assert_error(
            await http.post("/api/sessions/99999/whep", content=offer, headers=sdp_headers),
            404, "not_found",
        )  # fmt: skip
        error = assert_error(
            await http.post(
                f"/api/sessions/{live}/whep?quality=8k", content=offer, headers=sdp_headers
            ),
            400, "invalid",
        )  # fmt: skip
        assert "quality" in error["fields"]
        assert_error(
            await http.post(f"/api/sessions/{live}/whip", content="hello", headers=host),
            400, "invalid",
        )  # fmt: skip
        assert_error(
            await http.post(f"/api/sessions/{live}/whip", content=b"v=0\xff\xfe", headers=host),
            400, "invalid",
        )  # fmt: skip
        assert_error(await http.get(f"/api/sessions/{live}/whip"), 405, "invalid")
        assert_error(await http.delete(f"/api/sessions/{live}/whep/nope"), 404, "not_found")
        assert_error(await http.patch(f"/api/sessions/{live}/whep/nope"), 405, "invalid")
    assert peers.registry().peers == {}


async def test_host_reconnect_replaces_own_publisher_and_viewers_carry_on(world, make_user):
    session_id = world["live"].pk
    base = f"/api/sessions/{session_id}"
    staff = await sync_to_thread_user(make_user, "staff")
    async with http_client() as http:
        zero = await clients.publish(
            http, f"{base}/whip", token=world["host_token"], video=clients.TestPattern(320, 180)
        )
        assert zero.status == 201
        registry = peers.registry()
        await until(lambda: registry.sessions[session_id].relay.stats.frames_in > 10, 10, "video")
        # a reconnect with nobody watching yet keeps the session on this process
        first = await clients.publish(
            http, f"{base}/whip", token=world["host_token"], video=clients.TestPattern(320, 180)
        )
        assert first.status == 201
        await zero.pc.close()
        viewer = await clients.play(http, f"{base}/whep", quality="hd", audio=False)
        assert viewer.status == 201, viewer.body
        await until(lambda: viewer.frames >= 20, 15, "frames from the first publication")

        # someone else (staff may publish) is refused while the host publishes
        other = await clients.publish(
            http, f"{base}/whip", token=staff, video=clients.TestPattern(320, 180)
        )
        assert other.status == 409 and json.loads(other.body)["error"]["reason"] == (
            "publisher_exists"
        )
        await other.pc.close()

        # the host reconnecting (new phone network, same account) replaces the old one
        second = await clients.publish(
            http, f"{base}/whip", token=world["host_token"], video=clients.TestPattern(320, 180)
        )
        assert second.status == 201 and second.location != first.location
        before = viewer.frames
        await until(lambda: viewer.frames >= before + 30, 15, "frames after the reconnect")
        assert [p.role for p in registry.peers.values()].count("publisher") == 1
        assert (await http.delete(viewer.location)).status_code == 200
        auth = {"Authorization": f"Bearer {world['host_token']}"}
        assert (await http.delete(first.location, headers=auth)).status_code == 404
        assert (await http.delete(second.location, headers=auth)).status_code == 200
        for pc in (first.pc, second.pc, viewer.pc):
            await pc.close()
    await until(lambda: not registry.sessions, 5, "an empty registry")
    parts = await on_db_thread(
        lambda: list(Recording.objects.filter(session_id=session_id).values_list("part", "status"))
    )()
    assert [p for p, _ in parts] == [1, 2, 3]  # one part per publication, in order
    assert [status for _, status in parts][1:] == ["complete", "complete"]


async def sync_to_thread_user(make_user, role: str) -> str:
    def make() -> str:
        user = make_user("viewer", username=f"{role}-user")
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        return accounts.token_get_or_create(user=user)

    return await on_db_thread(make)()


async def test_requests_reach_the_media_process_that_holds_the_session(world, settings):
    session_id = world["live"].pk
    base = f"/api/sessions/{session_id}"
    client = redis_client()
    # given: another media process, alive, holds this session
    client.set(routing.node_key("other"), json.dumps({"url": "http://media-b:8001", "peers": 3}))
    client.sadd(routing.NODES_KEY, "other")
    client.set(routing.owner_key(session_id), "other")
    host = {"Authorization": f"Bearer {world['host_token']}", "Content-Type": "application/sdp"}
    offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    async with http_client() as http:
        # then: WHIP and WHEP are sent there, method and body kept (307)
        reply = await http.post(f"{base}/whip?record=0", content=offer, headers=host)
        assert reply.status_code == 307
        assert reply.headers["location"] == f"http://media-b:8001{base}/whip?record=0"
        reply = await http.post(
            f"{base}/whep", content=offer, headers={"Content-Type": "application/sdp"}
        )
        assert (reply.status_code, reply.headers["location"]) == (
            307, f"http://media-b:8001{base}/whep",
        )  # fmt: skip
        assert (await http.delete(f"{base}/whep/abc")).status_code == 307

        # when: that process dies (stops saying it is alive), this one takes the session
        client.delete(routing.node_key("other"))
        publisher = await clients.publish(
            http, f"{base}/whip", token=world["host_token"], video=clients.TestPattern(160, 90)
        )
        assert publisher.status == 201
        assert client.get(routing.owner_key(session_id)) == routing.NODE_ID.encode()

        # and a web process (not a media node) sends clients to the holder
        routing.node_announce(peers=1)
        settings.MEDIA_NODE_URL = ""
        reply = await http.post(f"{base}/whep", content=offer, headers=host)
        assert reply.status_code == 307
        auth = {"Authorization": f"Bearer {world['host_token']}"}
        settings.MEDIA_NODE_URL = "http://testserver"
        assert (await http.delete(publisher.location, headers=auth)).status_code == 200
        await publisher.pc.close()
        await until(lambda: client.get(routing.owner_key(session_id)) is None, 5, "release")

        # a web process with no media process at all says so (503), not 500
        settings.MEDIA_NODE_URL = ""
        client.delete(routing.node_key(routing.NODE_ID))
        error = assert_error(
            await http.post(f"{base}/whip", content=offer, headers=host), 503, "unavailable"
        )
        assert "media" in error["message"]


async def test_a_peer_whose_ice_never_connects_is_reaped(world, settings):
    settings.MEDIA_CONNECT_TIMEOUT_S = 1.5
    base = f"/api/sessions/{world['live'].pk}"
    async with http_client() as http:
        publisher = await clients.publish(
            http, f"{base}/whip", token=world["host_token"], video=clients.TestPattern(160, 90)
        )
        # an offer is answered, but the viewer never applies the answer: ICE never starts
        pc = RTCPeerConnection(clients.no_ice_servers())
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        reply = await http.post(
            f"{base}/whep", content=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        )  # fmt: skip
        assert reply.status_code == 201
        registry = peers.registry()
        assert len(registry.peers) == 2
        await until(lambda: len(registry.peers) == 1, 6, "the silent viewer to be reaped")
        assert next(iter(registry.peers.values())).role == "publisher"
        await pc.close()
        auth = {"Authorization": f"Bearer {world['host_token']}"}
        assert (await http.delete(publisher.location, headers=auth)).status_code == 200
        await publisher.pc.close()


async def test_an_auto_viewer_moves_between_levels_without_renegotiating(world):
    base = f"/api/sessions/{world['live'].pk}"
    async with http_client() as http:
        publisher = await clients.publish(
            http, f"{base}/whip", token=world["host_token"], video=clients.TestPattern(640, 360)
        )
        viewer = await clients.play(http, f"{base}/whep", quality="auto", audio=False)
        await until(lambda: viewer.frames >= 15, 10, "hd frames")
        assert viewer.sizes == {(640, 360)}
        # when: its receiver reports heavy loss twice (what decide_level acts on)
        registry = peers.registry()
        media = registry.sessions[world["live"].pk]
        peer = media.viewers[viewer.location.rsplit("/", 1)[1]]
        for track in peer.tracks:
            track.switch(peers.decide_level("hd", lossy=peers.AUTO_DOWN_AFTER, clean=0))
        before = viewer.frames
        # then: the same connection carries the low level from its next key frame
        await until(lambda: viewer.frames >= before + 15, 10, "low frames")
        assert (320, 180) in viewer.sizes
        assert peer.level == "low" and media.relay.subscriber_counts()["low"] == 1
        assert peer.pc.connectionState == "connected"
        await viewer.close()
        await publisher.pc.close()


async def test_ice_servers_from_settings_reach_clients_as_link_headers(world, settings):
    settings.MEDIA_ICE_SERVERS = [
        {"urls": ["stun:stun.example.net:3478"]},
        {"urls": "turn:turn.example.net:3478", "username": "farm", "credential": "s3cret"},
    ]
    async with http_client() as http:
        reply = await http.options(
            f"/api/sessions/{world['live'].pk}/whip",
            headers={"Origin": "http://127.0.0.1:8000",
                     "Access-Control-Request-Method": "POST"},
        )  # fmt: skip
    assert reply.status_code == 204
    assert reply.headers["link"] == (
        '<stun:stun.example.net:3478>; rel="ice-server", '
        '<turn:turn.example.net:3478>; rel="ice-server"; username="farm"; '
        'credential="s3cret"; credential-type="password"'
    )
    assert reply.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert "POST" in reply.headers["access-control-allow-methods"]
    config = ice.rtc_configuration()
    assert [s.urls for s in config.iceServers] == [
        ["stun:stun.example.net:3478"], ["turn:turn.example.net:3478"],
    ]  # fmt: skip
    async with http_client() as http:
        foreign = await http.options(
            f"/api/sessions/{world['live'].pk}/whip", headers={"Origin": "https://evil.example"}
        )
    assert "access-control-allow-origin" not in foreign.headers


async def test_a_flood_of_offers_cannot_take_every_video_slot(world, settings):
    settings.MEDIA_MAX_PEERS = 10
    settings.MEDIA_PEERS_PER_CLIENT = 3
    settings.MEDIA_ANONYMOUS_SHARE = 0.5  # 5 peers for anonymous viewers, 5 kept back
    # how long an offer never followed up holds its slot: the shipped default
    settings.MEDIA_CONNECT_TIMEOUT_S = shipped.MEDIA_CONNECT_TIMEOUT_S
    whep = f"/api/sessions/{world['live'].pk}/whep"
    sdp = {"Content-Type": "application/sdp"}
    registry = peers.registry()
    async with http_client() as http:
        publisher = await clients.publish(
            http, whep.replace("whep", "whip"), token=world["host_token"],
            video=clients.TestPattern(160, 90),
        )  # fmt: skip
    assert publisher.status == 201
    # offers whose answers are never applied: ICE never starts, as from a script
    silent = RTCPeerConnection(clients.no_ice_servers())
    silent.addTransceiver("video", direction="recvonly")
    await silent.setLocalDescription(await silent.createOffer())

    async def flood(address: str, offers: int) -> list[httpx.Response]:
        async with http_client(address) as http:
            return await asyncio.gather(
                *(http.post(whep, content=silent.localDescription.sdp, headers=sdp)
                  for _ in range(offers))
            )  # fmt: skip

    # when: one address sends 40 anonymous offers at once
    replies = await flood("203.0.113.7", 40)

    # then: it holds its 3 slots and hears 429 for the rest
    assert sorted(r.status_code for r in replies) == [201] * 3 + [429] * 37
    refused = next(r for r in replies if r.status_code == 429)
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == str(math.ceil(settings.MEDIA_CONNECT_TIMEOUT_S))

    # and anonymous viewers together stop at their share, the rest kept for signed-in ones
    replies = await flood("198.51.100.1", 3)
    assert sorted(r.status_code for r in replies) == [201, 201, 503]
    full = next(r for r in replies if r.status_code == 503)
    assert_error(full, 503, "unavailable")
    assert int(full.headers["retry-after"]) >= 1
    assert len(registry.peers) == 1 + 5

    # and a signed-in viewer, even from the flooding address, still gets a slot and plays
    async with http_client("203.0.113.7") as http:
        viewer = await clients.play(
            http, whep, quality="hd", audio=False, token=world["viewer_token"]
        )
    assert viewer.status == 201, viewer.body
    await until(lambda: viewer.frames >= 5, 10, "the signed-in viewer's frames")

    # and the slots offers never followed up held are free within seconds
    started = time.monotonic()
    await until(
        lambda: len(registry.peers) == 2, settings.MEDIA_CONNECT_TIMEOUT_S + 3, "silent peers"
    )
    assert time.monotonic() - started <= 6.0
    assert sorted(p.role for p in registry.peers.values()) == ["publisher", "viewer"]
    assert [r.status_code for r in await flood("203.0.113.7", 1)] == [201]
    await viewer.close()
    await silent.close()
    await publisher.pc.close()


async def test_a_media_node_that_withdraws_frees_its_sessions_at_once(world):
    session_id = world["live"].pk
    client = redis_client()
    async with http_client() as http:
        publisher = await clients.publish(
            http, f"/api/sessions/{session_id}/whip", token=world["host_token"],
            video=clients.TestPattern(160, 90),
        )  # fmt: skip
        assert publisher.status == 201
        await until(lambda: client.get(hooks.video_key(session_id)) == b"1", 10, "video on")
    assert client.get(routing.owner_key(session_id)) == routing.NODE_ID.encode()
    await asyncio.to_thread(routing.node_announce, peers=1)  # its heartbeat, now
    assert client.sismember(routing.NODES_KEY, routing.NODE_ID)

    # when: the process exits cleanly (what media_asgi registers at exit)
    await asyncio.to_thread(node.node_withdraw)

    # then: its node, the session's owner and its "video on" mark are gone, not left to TTLs
    assert client.get(routing.owner_key(session_id)) is None
    assert not client.exists(routing.node_key(routing.NODE_ID))
    assert not client.sismember(routing.NODES_KEY, routing.NODE_ID)
    assert client.get(hooks.video_key(session_id)) is None
    await publisher.pc.close()
