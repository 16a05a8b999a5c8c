"""Two real daphne nodes on one PostgreSQL and one Redis: the fleet on loopback.

Viewers on both nodes see one numbered stream; the viewer count is the sum over nodes; a node
killed without a goodbye (SIGKILL) loses nothing for its viewers, who reconnect to the other
node with ``last_seq``, and its viewers leave the count within a bounded time.
"""

import asyncio
import contextlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.nodes import Node, database_url, kill_node, start_node, tail, wait_ready
from catalog import services as catalog
from server import presence
from server.accounts import services as accounts
from server.publisher import publish_now
from server.redis import live_key, redis_client
from streams import events, services
from tests.conftest import PASSWORD

VIEWERS_PER_NODE = 3
# A dead node ages out after NODE_TTL_S; the survivor's next tick (1 s) and the coalescing
# interval (0.5 s) come on top, and loopback plus a busy CI machine get some slack.
COUNT_DROP_BOUND_S = presence.NODE_TTL_S + 4.0


def live_url(node: Node, session_id: int, last_seq: int | None = None) -> str:
    query = f"?last_seq={last_seq}" if last_seq is not None else ""
    return node.ws_url(f"/ws/live/{session_id}/{query}")


class Viewer:
    """A real WebSocket client that keeps every frame after its snapshot."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self.snapshot: dict[str, Any] = {}
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def open(self, url: str) -> None:
        self.closed = asyncio.Event()
        self.ws = await connect(url, open_timeout=10, ping_interval=None, max_size=2**22)
        first = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert first["type"] == "snapshot", first
        self.snapshot = first["data"]
        self.reader = asyncio.ensure_future(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if "seq" in f]

    def last_seq(self) -> int:
        return max(self.seqs(), default=self.snapshot["last_seq"])

    def counts(self) -> list[int]:
        return [f["data"]["count"] for f in self.frames if f["type"] == "viewers"]

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


async def until(check: Any, timeout: float, what: str) -> float:
    """Poll ``check()`` until true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def publish_stock(session_id: int, lefts: range) -> int:
    """Publish one ``stock`` event per value, from outside any node, as a service would."""
    seq = 0
    for left in lefts:
        seq = await asyncio.to_thread(publish_now, session_id, events.Stock(product=1, left=left))
    return seq


def contiguous(seqs: list[int], start: int, end: int) -> bool:
    return seqs == list(range(start, end + 1))


async def scenario(session_id: int, host_id: int, node_a: Node, node_b: Node) -> None:
    on_a = [Viewer(f"a{i}") for i in range(VIEWERS_PER_NODE)]
    on_b = [Viewer(f"b{i}") for i in range(VIEWERS_PER_NODE)]
    everyone = on_a + on_b
    try:
        # given viewers on both nodes
        for viewer in on_a:
            await viewer.open(live_url(node_a, session_id))
        for viewer in on_b:
            await viewer.open(live_url(node_b, session_id))

        # then the count is the sum over both nodes, as each node reported its own
        await until(
            lambda: presence.viewer_count(session_id) == 2 * VIEWERS_PER_NODE,
            10,
            "the fleet count to reach both nodes' viewers",
        )
        per_node = redis_client().hgetall(live_key(session_id, "presence"))
        assert sorted(int(n) for n in per_node.values()) == [VIEWERS_PER_NODE] * 2
        await until(
            lambda: all(2 * VIEWERS_PER_NODE in v.counts() for v in everyone),
            10,
            "every viewer to be told the fleet count",
        )

        # when events are published, every viewer on both nodes gets all of them, in order
        last = await publish_stock(session_id, range(30, 0, -1))
        await until(lambda: all(v.last_seq() >= last for v in everyone), 10, "30 events")
        for viewer in everyone:
            start = viewer.snapshot["last_seq"] + 1
            assert contiguous(viewer.seqs(), start, viewer.last_seq()), (viewer.name, viewer.seqs())
            stock = [f["data"]["left"] for f in viewer.frames if f["type"] == "stock"]
            assert stock == list(range(30, 0, -1)), viewer.name

        # and frames of every WebSocket length form (7-bit, 16-bit, 64-bit) arrive whole
        texts = ["short", "มะม่วง " * 30, "ทุเรียน " * 9000]
        for n, text in enumerate(texts):
            speaker = events.Speaker(
                id=host_id, username="host", display_name="host", host=True, staff=False
            )
            event = events.ChatPosted(
                id=n, user="host", user_id=host_id, speaker=speaker, text=text
            )
            last = await asyncio.to_thread(publish_now, session_id, event)
        await until(lambda: all(v.last_seq() >= last for v in everyone), 10, "long frames")
        for viewer in everyone:
            chat = [f["data"]["text"] for f in viewer.frames if f["type"] == "chat.message"]
            assert chat == texts, viewer.name

        # when node B dies without a goodbye
        seen_before = {v.name: v.seqs() for v in on_b}
        kill_node(node_b)
        killed_at = time.monotonic()
        await until(lambda: all(v.closed.is_set() for v in on_b), 10, "B's sockets to close")
        # and events go on while B's viewers are away
        await publish_stock(session_id, range(100, 110))

        # then the count drops B's viewers within a bounded time
        await until(
            lambda: all(v.counts()[-1:] == [VIEWERS_PER_NODE] for v in on_a),
            COUNT_DROP_BOUND_S,
            "A's viewers to see the dead node's viewers leave the count",
        )
        dropped_after = time.monotonic() - killed_at
        assert presence.viewer_count(session_id) == VIEWERS_PER_NODE
        assert dropped_after <= COUNT_DROP_BOUND_S
        print(f"the dead node's viewers left the count {dropped_after:.1f} s after SIGKILL")

        # when B's viewers reconnect to A with the last seq each of them saw
        resumed_from = {}
        for viewer in on_b:
            resumed_from[viewer.name] = viewer.last_seq()
            viewer.frames = []
            await viewer.open(live_url(node_a, session_id, last_seq=resumed_from[viewer.name]))
        final = await publish_stock(session_id, range(200, 205))
        await until(lambda: all(v.last_seq() >= final for v in everyone), 10, "the last event")

        # then each got exactly what it missed, then live, with no gap and no repeat
        for viewer in on_b:
            after = viewer.seqs()
            assert contiguous(after, resumed_from[viewer.name] + 1, final), (viewer.name, after)
            whole = seen_before[viewer.name] + after
            assert len(whole) == len(set(whole)), viewer.name
            stock = [f["data"]["left"] for f in viewer.frames if f["type"] == "stock"]
            assert stock == [*range(100, 110), *range(200, 205)], viewer.name
        # and A's viewers never saw a seam
        for viewer in on_a:
            start = viewer.snapshot["last_seq"] + 1
            assert contiguous(viewer.seqs(), start, viewer.last_seq()), viewer.name
        # and the count is whole again, all on A now
        await until(
            lambda: presence.viewer_count(session_id) == 2 * VIEWERS_PER_NODE,
            10,
            "the count to include the viewers who moved to A",
        )
    finally:
        for viewer in everyone:
            await viewer.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_two_nodes_one_stream_and_a_node_dies(settings: Any, tmp_path: Path) -> None:
    # given a live session, committed, so that the daphne processes see it
    host = accounts.user_register(username="multinode-host", password=PASSWORD, role="host")
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    now = timezone.now()
    session = services.session_create(
        host=host, farm=farm, title="Two nodes", now=now, scheduled_at=now + timedelta(hours=1)
    )
    services.session_start(session=session, actor=host, now=now)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "DB_POOL_MAX": "2",
    }
    nodes: list[Node] = []
    try:
        for name in ("node-a", "node-b"):
            nodes.append(start_node(name, env=env, log_dir=tmp_path))
        wait_ready(nodes)
        asyncio.run(asyncio.wait_for(scenario(session.pk, host.pk, *nodes), 90))
    except BaseException:
        for node in nodes:
            print(f"--- {node.name} ---\n{tail(node, 60)}")
        raise
    finally:
        for node in nodes:
            kill_node(node)
