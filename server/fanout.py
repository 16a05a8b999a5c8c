"""Per-process fan-out: one Redis subscription per live session, one encoded frame per event,
handed to every local socket of that session.

The channel layer's ``group_send`` costs a Redis round trip and a JSON decode and encode per
viewer per event (about 0.33 ms of CPU each, measured; see docs/benchmarks.md); here a web
process pays once per event and then only the socket write. The channel layer stays for
per-user and control messages (``server.groups``).
"""

import asyncio
import contextlib
import logging
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings

from server.loops import LoopLocal
from server.publisher import fanout_channel

log = logging.getLogger(__name__)


class Sink(Protocol):
    """A local socket's side of the fan-out (the live consumer)."""

    def deliver(self, seq: int, frame: bytes) -> None:
        """Take one broadcast frame; must not block (the broadcaster serves all sockets)."""

    def resync(self) -> None:
        """The subscription was lost and restored: events may have been missed."""


class Broadcaster:
    """One Redis pub/sub connection for this process, subscribed to the sessions that have
    local sockets; it lives on the event loop that created it."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._sinks: dict[int, set[Sink]] = {}
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.left = 0  # sockets that ever left (server.heap counts turnover with it)

    def open_sockets(self) -> int:
        return sum(len(sinks) for sinks in self._sinks.values())

    def sessions(self) -> list[int]:
        return list(self._sinks)

    def local_count(self, session_id: int) -> int:
        return len(self._sinks.get(session_id, ()))

    async def join(self, session_id: int, sink: Sink) -> None:
        """Add a sink; returns once this process receives the session's events, so a
        snapshot read after it misses nothing published in between."""
        async with self._lock:
            await self._ensure_started()
            sinks = self._sinks.setdefault(session_id, set())
            sinks.add(sink)
            if len(sinks) == 1:
                await self._subscribe(session_id)

    async def leave(self, session_id: int, sink: Sink) -> None:
        async with self._lock:
            sinks = self._sinks.get(session_id)
            if not sinks:
                return
            if sink in sinks:
                sinks.discard(sink)
                self.left += 1
            if not sinks:
                del self._sinks[session_id]
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(fanout_channel(session_id))

    async def _ensure_started(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        self._client = aioredis.Redis.from_url(self._url, health_check_interval=10)
        self._pubsub = self._client.pubsub()
        # A pub/sub connection needs a first SUBSCRIBE before its reader can listen.
        await self._pubsub.subscribe("live:__broadcaster__")
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())

    async def _subscribe(self, session_id: int) -> None:
        channel = fanout_channel(session_id).encode()
        confirmed = asyncio.get_running_loop().create_future()
        self._pending[channel] = confirmed
        assert self._pubsub is not None
        await self._pubsub.subscribe(channel)
        try:
            await asyncio.wait_for(confirmed, timeout=5)
        finally:
            self._pending.pop(channel, None)

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: reconnect, resubscribe, resync
                log.warning("fan-out subscription lost (%s); reconnecting", exc)
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await self._reconnect()

    async def _reconnect(self) -> None:
        assert self._pubsub is not None
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        assert self._client is not None
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(
            "live:__broadcaster__", *(fanout_channel(s) for s in self._sinks)
        )
        for sinks in list(self._sinks.values()):
            for sink in list(sinks):
                sink.resync()

    async def _read(self) -> None:
        assert self._pubsub is not None
        pubsub = self._pubsub
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=30)
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                self._dispatch(message["channel"], message["data"])
            elif kind == "subscribe":
                future = self._pending.get(message["channel"])
                if future is not None and not future.done():
                    future.set_result(None)

    def _dispatch(self, channel: bytes, payload: bytes) -> None:
        session_id = int(channel.split(b"{session:")[1].split(b"}")[0])
        sinks = self._sinks.get(session_id)
        if not sinks:
            return
        space = payload.index(b" ")
        seq = int(payload[:space])
        frame = payload[space + 1 :]
        # Iterate over a copy: a sink may leave (a slow viewer is dropped) while we deliver.
        for sink in tuple(sinks):
            try:
                sink.deliver(seq, frame)
            except Exception:
                log.exception("fan-out delivery failed")


_broadcasters = LoopLocal(Broadcaster)


def broadcaster() -> Broadcaster:
    """This event loop's broadcaster (one per process under daphne)."""
    return _broadcasters.get(settings.REDIS_URL)
