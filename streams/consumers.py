"""``/ws/live/{session_id}/?last_seq=N``: the live channel (docs/protocol.md).

Thin: parse a frame, check it against its schema, call its handler (``streams.chat`` and
what higher apps register), reply. Broadcasts reach this socket through the process's
broadcaster (``server.fanout``), already encoded, and are written by ``streams.wire``;
the join snapshot comes from ``streams.snapshots``.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone
from pydantic import ValidationError

from server import jsonlimits
from server.errors import DomainError, NotAuthenticated, input_error, service_error
from server.fanout import broadcaster
from server.groups import host_group, user_group
from server.publisher import encode, now_ts, replay
from streams import chat, messages, metrics  # noqa: F401 (chat registers its handlers)
from streams.handlers import HANDLERS
from streams.live import live_loop
from streams.snapshots import shared_snapshots
from streams.wire import daphne_protocol, pending_bytes, write_text, ws_text_frame

log = logging.getLogger(__name__)

# Close codes (docs/protocol.md).
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_FLOOD = 4429

# A socket may send this many frames per FLOOD_WINDOW_S; past it frames are refused with
# rate_limited, and past FLOOD_CLOSE_AFTER refusals in one window the socket is closed.
FLOOD_FRAMES = 20
FLOOD_WINDOW_S = 2.0
FLOOD_CLOSE_AFTER = 40
# A viewer whose unsent bytes pass this is too far behind to catch up live: closed with
# CLOSE_TOO_SLOW, it reconnects with last_seq and gets a replay or a fresh snapshot.
SLOW_VIEWER_BYTES = 1024 * 1024
# The 4008 close frame waits behind what the viewer has not read; autobahn drops a socket
# that has not answered a close within one second, before a viewer that is slow rather
# than gone has read that far. Such a viewer gets this long to read it.
SLOW_CLOSE_GRACE_S = 10.0


class LiveConsumer(AsyncWebsocketConsumer):
    session_id: int
    sent_seq: int
    protocol: Any = None  # daphne's protocol once accepted (None elsewhere: tests, uvicorn)
    joined = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' consumer loop; whatever ends it (a disconnect, a fault, the server
        cancelling the task), this socket then leaves the session's viewers. A socket that
        died any other way than through ``disconnect`` used to count as a viewer for good."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._leave()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before each message.

        That call is a round trip to Channels' one database thread per frame, so in a claim
        storm every loser (who needs Redis alone) queued behind the winners' writes there
        (docs/benchmarks.md). This consumer reaches the database only through wrappers
        that close their connection themselves (``database_sync_to_async``, the claim
        writers' and the live loop's own threads), which leaves that call nothing to do.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Text under daphne goes the broadcasts' way (``write_text``): no ASGI send chain
        and no Twisted write scheduling per reply, and never ahead of a queued broadcast."""
        protocol = self.protocol
        if (
            protocol is not None
            and text_data is not None
            and not close
            and protocol.state == protocol.STATE_OPEN
        ):
            write_text(protocol, text_data.encode())
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.user = self.scope.get("user")
        self.state: dict[str, Any] = {}
        # A shared snapshot also tells whether the session exists: in a storm of joins the
        # socket is accepted without a database round trip of its own, well inside
        # daphne's 5 s handshake limit (per-viewer reads queued on channels' one database
        # thread refused most of 1,000 viewers joining at once; docs/benchmarks.md).
        snapshot = await shared_snapshots().get(self.session_id)
        # Accepted either way: a close before the accept is an HTTP 403 to the client, and
        # docs/protocol.md promises close code 4404 for a session that does not exist.
        await self.accept()
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Under daphne, broadcasts go straight to the protocol, skipping a task per socket
        # per event (None elsewhere: tests, uvicorn).
        self.protocol = daphne_protocol(self.base_send)
        self.sent_seq = 0
        self.tasks: set[asyncio.Future[None]] = set()
        self.syncing = True
        self.buffer: list[tuple[int, bytes]] = []
        self.flood_window_start = time.monotonic()
        self.flood_frames = 0
        self.flood_refused = 0
        # Receive first, then read: nothing published while the snapshot is read is lost.
        self.joined = True
        await broadcaster().join(self.session_id, self)
        signed_in = self.user is not None and self.user.is_authenticated
        if signed_in:
            await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        # The session's host (and only they) gets the live numbers (``host.numbers``).
        self.is_host = signed_in and self.user.pk == snapshot["session"]["host"]["id"]
        if self.is_host:
            await self.channel_layer.group_add(host_group(self.session_id), self.channel_name)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(metrics.host_numbers_reset, self.session_id)
        client = self.scope.get("client")
        await metrics.viewer_joined(
            session_id=self.session_id,
            member=metrics.viewer_member(
                user_id=self.user.pk if signed_in else None,
                client=client[0] if client else None,
            ),
            at=timezone.now(),
        )
        live_loop().ensure_running()
        await self._catch_up(_last_seq(self.scope), snapshot)

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _leave(self) -> None:
        """Leave the session's viewers and the user's group, once, whatever failed."""
        if not self.joined:
            return
        self.joined = False
        for task in getattr(self, "tasks", ()):
            task.cancel()
        with contextlib.suppress(Exception):
            await broadcaster().leave(self.session_id, self)
        if self.user is not None and self.user.is_authenticated:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        if getattr(self, "is_host", False):
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(
                    host_group(self.session_id), self.channel_name
                )

    # --- broadcasts ---------------------------------------------------------------------

    async def _catch_up(self, last_seq: int | None, shared: dict[str, Any] | None = None) -> None:
        """Snapshot, then what the client missed, then whatever arrived meanwhile.

        A ``shared`` snapshot may predate this socket's join to the broadcaster, so what
        was published after it comes from the replay log; a client that already holds
        newer events than that snapshot (``last_seq`` past it) gets a fresh one instead,
        which never takes its state back in time.
        """
        self.syncing = True
        snapshot, fresh = shared, False
        if snapshot is None or (last_seq is not None and last_seq > snapshot["last_seq"]):
            snapshot, fresh = await shared_snapshots().fresh(self.session_id), True
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send(text_data=encode({"type": "snapshot", "ts": now_ts(), "data": snapshot}))
        self.sent_seq = snapshot["last_seq"]
        # Read after the join, a fresh snapshot leaves nothing between it and the buffer.
        start = self.sent_seq if last_seq is None else min(last_seq, self.sent_seq)
        if start < self.sent_seq or not fresh:
            frames = await asyncio.to_thread(replay, self.session_id, start)
            if frames is None and start < self.sent_seq:  # the client's gap is too old
                frames = await asyncio.to_thread(replay, self.session_id, self.sent_seq)
            if frames is None:  # the log no longer reaches the shared snapshot: start over
                await self._catch_up(None)
                return
            for seq, frame in frames:
                await self.send(text_data=frame)
                self.sent_seq = max(self.sent_seq, seq)
        buffered, self.buffer = self.buffer, []
        self.syncing = False
        for seq, frame in buffered:
            self.deliver(seq, frame)

    def deliver(self, seq: int, frame: bytes) -> None:
        if self.syncing:
            self.buffer.append((seq, frame))
            return
        if seq <= self.sent_seq:
            return
        self.sent_seq = seq
        protocol = self.protocol
        if protocol is None:  # not under daphne (tests): the ordinary, slower send path
            task = asyncio.ensure_future(self.send(text_data=frame.decode()))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        if protocol.state != protocol.STATE_OPEN:
            return
        # Unknown (None: Twisted's buffer is not where streams.wire looks) is not "slow".
        if (pending_bytes(protocol.transport) or 0) > SLOW_VIEWER_BYTES:
            log.info("closing a viewer of session %s that fell behind", self.session_id)
            protocol.closeHandshakeTimeout = SLOW_CLOSE_GRACE_S
            protocol.sendClose(code=CLOSE_TOO_SLOW, reason="too slow; reconnect with last_seq")
            return
        write_text(protocol, frame, ws_text_frame(frame))

    def resync(self) -> None:
        self.syncing = True
        task = asyncio.ensure_future(self._catch_up(self.sent_seq))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def direct_frame(self, message: dict[str, Any]) -> None:
        """A per-user frame from the channel layer (``server.groups.send_to_user_async``)."""
        await self.send(text_data=encode(message["frame"]))

    # --- client messages ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """One client frame; whatever it holds, the client gets a reply or an ``error`` and
        the socket stays open (only flooding closes it, with ``CLOSE_FLOOD``)."""
        if not self._within_flood_budget():
            if self.flood_refused > FLOOD_CLOSE_AFTER:
                await self.close(code=CLOSE_FLOOD)
                return
            await self._error(None, "rate_limited", "Too many messages; slow down.")
            return
        msg_id: Any = None
        try:
            raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8")
            if len(raw.encode("utf-8", "surrogatepass")) > messages.MAX_FRAME_BYTES:
                raise DomainError(f"Frame too large: at most {messages.MAX_FRAME_BYTES} bytes.")
            parsed = jsonlimits.loads(raw)
            msg_id = _guess_id(parsed)
            envelope = messages.Envelope.model_validate(parsed)
            entry = HANDLERS.get(envelope.type)
            if entry is None:
                raise DomainError(f"Unknown message type {envelope.type!r}.")
            schema, handler = entry
            data = schema.model_validate(envelope.data)
        except (ValueError, ValidationError) as exc:  # not JSON we accept, or not its schema
            await self._error(msg_id, "invalid", f"Not a valid message: {_short(exc)}")
            return
        except Exception as exc:
            await self._refuse(msg_id, "?", exc)
            return
        try:
            reply = await handler(self, data, envelope.id)
            if reply is not None:
                await self.reply(msg_id, **reply)
        except Exception as exc:
            await self._refuse(msg_id, envelope.type, exc)

    async def _refuse(self, msg_id: Any, kind: str, exc: Exception) -> None:
        """The ``error`` reply for any fault in one frame: the refusal a service raised, or
        ``unavailable``/``invalid`` for the faults ``server.errors`` maps, else
        ``server_error`` (logged)."""
        refusal = exc if isinstance(exc, DomainError) else service_error(exc) or input_error(exc)
        if refusal is None:
            log.error("live message %s failed", kind, exc_info=exc)
            refusal = DomainError("Something went wrong on our side.", code="server_error")
        await self._error(msg_id, refusal.code, refusal.message, **refusal.extra)

    def _within_flood_budget(self) -> bool:
        now = time.monotonic()
        if now - self.flood_window_start > FLOOD_WINDOW_S:
            self.flood_window_start, self.flood_frames, self.flood_refused = now, 0, 0
        self.flood_frames += 1
        if self.flood_frames > FLOOD_FRAMES:
            self.flood_refused += 1
            return False
        return True

    async def reply(self, reply_to: Any, *, type: str, data: dict[str, Any]) -> None:
        await self.send(
            text_data=encode({"type": type, "ts": now_ts(), "data": data, "reply_to": reply_to})
        )

    async def _error(self, reply_to: Any, code: str, message: str, **extra: Any) -> None:
        data = messages.ErrorData(code=code, message=message, **extra).model_dump(exclude_none=True)
        await self.reply(reply_to, type="error", data=data)

    def require_user(self) -> Any:
        if self.user is None or not self.user.is_authenticated:
            raise NotAuthenticated("Log in to do this.")
        return self.user


def _last_seq(scope: dict[str, Any]) -> int | None:
    raw = parse_qs(scope.get("query_string", b"").decode("latin1")).get("last_seq", [""])[0]
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _guess_id(parsed: Any) -> Any:
    """The frame's ``id``, when it is one a reply can carry back, even if the rest is bad."""
    value = parsed.get("id") if isinstance(parsed, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value if len(str(value)) <= 64 else None


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        return f"{where}: {first['msg']}"
    return str(exc)[:200]
