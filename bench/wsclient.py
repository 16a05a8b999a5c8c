"""Light WebSocket clients: thousands of real sockets in one process without becoming the
thing measured.

A ``LightSocket`` is websockets' sans-I/O ``ClientProtocol`` driven by a bare
``asyncio.Protocol``: no task, queue or coroutine per socket or per message. The high-level
client costs about 50 µs a message, which at thousands of sockets would make the client the
thing measured. The receive time is taken once per ``data_received`` call, before parsing,
and every text frame goes to the subclass's ``on_text``.

A socket is ready (its ``ready`` future resolves) once its first text frame arrived: the
server's first frame (our ``snapshot``, the fan-out baselines' hello) comes after it joined
the socket to its session, so nothing published after ``ready`` can be missed.

The claim benchmark's ``ClaimSocket`` (``bench.claims.client``, also driven by
tests/integration/test_coupon_storm.py) and the fan-out benchmark's ``Viewer``
(``bench.fanout.client``) are both ``LightSocket``s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

MAX_FRAME = 2**22


class LightSocket(asyncio.Protocol):
    """One WebSocket: bytes in, websockets' parser, bytes (frames, pongs, close) out.

    Subclasses implement ``on_text`` and, when they care, ``on_lost``; the hot path is
    ``data_received``, so they keep ``__slots__`` where they have many sockets."""

    __slots__ = ("headers", "protocol", "ready", "transport")

    def __init__(
        self,
        url: str,
        *,
        ready: asyncio.Future[None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=MAX_FRAME)
        self.ready = ready if ready is not None else asyncio.get_running_loop().create_future()
        self.headers = headers
        self.transport: asyncio.Transport | None = None

    # --- hooks ----------------------------------------------------------------------------

    def on_text(self, payload: bytes, now: float) -> None:
        """One text frame, received at ``now`` (``time.monotonic()``)."""

    def on_lost(self, exc: Exception | None) -> None:
        """The connection is gone after the socket was ready (a handshake that fails
        fails ``ready`` instead)."""

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; both have write().
        self.transport = cast(asyncio.Transport, transport)
        request = self.protocol.connect()
        if self.headers:
            for name, value in self.headers.items():
                request.headers[name] = value
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        protocol = self.protocol
        ready = self.ready
        protocol.receive_data(data)
        for event in protocol.events_received():
            if type(event) is Response:
                if event.status_code != 101 and not ready.done():
                    ready.set_exception(ConnectionError(f"HTTP {event.status_code}"))
                continue
            if event.opcode is not Opcode.TEXT:  # type: ignore[union-attr]
                continue
            if not ready.done():
                ready.set_result(None)
            self.on_text(event.data, now)  # type: ignore[union-attr]
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready.done():
            self.on_lost(exc)
        else:
            self.ready.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    # --- plumbing -------------------------------------------------------------------------

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        for chunk in self.protocol.data_to_send():
            if chunk:
                transport.write(chunk)
            elif not transport.is_closing():
                transport.write_eof()
        if self.protocol.close_expected():
            transport.close()

    def close(self) -> None:
        """Drop the connection at once (no closing handshake: thousands close together)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


async def open_socket(
    sock: LightSocket, host: str, port: int, *, timeout: float, errors: Counter[str]
) -> bool:
    """Connect ``sock`` and wait until it is ready; on failure count it in ``errors`` by
    kind, drop the connection and return False."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.create_connection(lambda: sock, host, port), timeout)
        await asyncio.wait_for(sock.ready, timeout)
    except (OSError, TimeoutError, ConnectionError) as exc:
        errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        sock.close()
        return False
    return True


def new_loop(*, uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """uvloop when it is installed (and not refused): it halves the client's cost per
    received frame, which keeps the client, not the server, from setting the figures."""
    if uvloop:
        with contextlib.suppress(ImportError):
            import uvloop as uvloop_module

            return uvloop_module.new_event_loop()
    return asyncio.new_event_loop()
