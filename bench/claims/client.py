"""Light WebSocket claimers: thousands of real sockets in one process without becoming the
thing measured.

Each socket is a ``bench.wsclient.LightSocket`` (websockets' sans-I/O ``ClientProtocol`` on a
bare ``asyncio.Protocol``: no task, queue or coroutine per socket), so 5,000 of them cost the
client little CPU next to the servers. Broadcast frames (viewers, coupons left, drop closed)
are counted, not parsed; only frames carrying ``reply_to`` are decoded.

A socket authenticates with ``Authorization: Token`` (docs/api.md) and is ready once its
first frame (the ``snapshot``) arrived: by then the server has joined it to the session.
The storm test (tests/integration/test_coupon_storm.py) and the benchmark
(``bench.claims.run``) both drive these sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.uri import parse_uri

from bench.wsclient import LightSocket, open_socket

REPLY_MARK = b'"reply_to"'
_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    """The server's answer to one claim: ``coupon.claimed`` (``code`` is ``"claimed"``), an
    ``error`` with its contract code, or a client-side ``timeout`` / ``connection_lost``."""

    type: str
    code: str
    sent: float
    received: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> float:
        return self.received - self.sent

    @property
    def won(self) -> bool:
        return self.type == "coupon.claimed"


class ClaimSocket(LightSocket):
    """One viewer's socket, authenticated by its token, that sends claims and matches
    their replies; broadcasts are counted, not parsed."""

    def __init__(self, url: str, token: str | None, user_id: int) -> None:
        super().__init__(url, headers={"Authorization": f"Token {token}"} if token else None)
        self.url = url
        self.user_id = user_id
        self.token = token
        self.loop = loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.waiting: dict[str, tuple[float, asyncio.Future[Reply]]] = {}
        self.broadcasts = 0
        self.broadcast_types: Counter[str] = Counter()
        self.count_types = False

    def on_text(self, payload: bytes, now: float) -> None:
        if REPLY_MARK in payload:
            self._reply(json.loads(payload), now)
        else:
            self.broadcasts += 1
            if self.count_types:
                self.broadcast_types[json.loads(payload)["type"]] += 1

    def on_lost(self, exc: Exception | None) -> None:
        now = time.monotonic()
        for sent, future in self.waiting.values():
            if not future.done():
                future.set_result(Reply("lost", "connection_lost", sent, now))
        self.waiting.clear()
        if not self.lost.done():
            self.lost.set_result(None)

    # --- claims ---------------------------------------------------------------------------

    def send_claim(self, drop: int, *, kind: str = "coupon.claim") -> asyncio.Future[Reply]:
        """Send one claim now; the future resolves with the server's reply."""
        msg_id = f"c{next(_ids)}"
        future: asyncio.Future[Reply] = self.loop.create_future()
        if self.transport is None or self.transport.is_closing():
            now = time.monotonic()
            future.set_result(Reply("lost", "connection_lost", now, now))
            return future
        frame = json.dumps({"type": kind, "id": msg_id, "data": {"drop": drop}})
        self.waiting[msg_id] = (time.monotonic(), future)
        self.protocol.send_text(frame.encode())
        self._flush()
        return future

    def _reply(self, message: dict[str, Any], now: float) -> None:
        entry = self.waiting.pop(str(message.get("reply_to")), None)
        if entry is None:
            return
        sent, future = entry
        data = message.get("data") or {}
        code = "claimed" if message["type"] == "coupon.claimed" else str(data.get("code"))
        if not future.done():
            future.set_result(Reply(message["type"], code, sent, now, data))


async def open_sockets(
    urls: Sequence[str],
    users: Sequence[tuple[int, str | None]],
    *,
    concurrency: int = 200,
    timeout: float = 60.0,
) -> tuple[list[ClaimSocket], Counter[str]]:
    """One socket per ``(user_id, token)``, spread round-robin over ``urls`` (the web
    nodes), ``concurrency`` handshakes in flight. Returns the sockets that got their
    snapshot, in ``users`` order, and the failures by kind."""
    limit = asyncio.Semaphore(concurrency)
    errors: Counter[str] = Counter()
    sockets: list[ClaimSocket | None] = [None] * len(users)

    async def one(i: int, user_id: int, token: str | None) -> None:
        url = urls[i % len(urls)]
        uri = parse_uri(url)
        async with limit:
            sock = ClaimSocket(url, token, user_id)
            if await open_socket(sock, uri.host, uri.port, timeout=timeout, errors=errors):
                sockets[i] = sock

    await asyncio.gather(*(one(i, u, t) for i, (u, t) in enumerate(users)))
    return [s for s in sockets if s is not None], errors


async def storm(
    sockets: Iterable[ClaimSocket],
    drop: int,
    *,
    kind: str = "coupon.claim",
    timeout: float = 60.0,
    spread_s: float = 0.0,
) -> list[Reply]:
    """Every socket claims ``drop`` once; returns the replies in socket order.

    With ``spread_s`` 0 the frames are written in one pass of the loop (as close to
    simultaneous as one client process gets); otherwise evenly over ``spread_s`` seconds,
    a storm that goes on while something else happens (a fault)."""
    sockets = list(sockets)
    futures: list[asyncio.Future[Reply]] = []
    start = time.monotonic()
    for i, sock in enumerate(sockets):
        if spread_s > 0:
            due = start + spread_s * i / len(sockets)
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
        futures.append(sock.send_claim(drop, kind=kind))
    if futures:
        await asyncio.wait(futures, timeout=timeout)
    now = time.monotonic()
    replies = []
    for sock, future in zip(sockets, futures, strict=True):
        if future.done():
            replies.append(future.result())
        else:
            future.cancel()
            sent = next((s for s, f in sock.waiting.values() if f is future), now)
            replies.append(Reply("timeout", "timeout", sent, now))
    return replies


def close_all(sockets: Iterable[ClaimSocket]) -> None:
    for sock in sockets:
        sock.close()
