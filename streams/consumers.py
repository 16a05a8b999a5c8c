"""``/ws/live/{session_id}/?last_seq=N``: the live channel (docs/protocol.md).

Thin: parse a frame, check it against its schema, call a service, reply. Broadcasts reach
this socket through the process's broadcaster (``server.fanout``), already encoded; replies
and per-user messages go out through ``send``.
"""

import asyncio
import functools
import json
import logging
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone
from pydantic import ValidationError

from server.errors import DomainError, NotAuthenticated, service_error
from server.fanout import broadcaster
from server.groups import user_group
from server.loops import LoopLocal
from server.publisher import encode, now_ts, replay
from streams import messages, services
from streams.handlers import HANDLERS, handles
from streams.live import live_loop
from streams.models import LiveSession
from streams.selectors import session_snapshot

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
# Viewers of one session who join within this many seconds share one snapshot read.
SNAPSHOT_SHARE_S = 1.0


def _pending_bytes(transport: Any) -> int:
    """Bytes Twisted holds for this socket and has not written yet (0 if unknown)."""
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return 0


def text_frame(payload: bytes) -> bytes:
    """The unmasked WebSocket text frame a server sends for ``payload`` (RFC 6455, 5.2)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


# A broadcast's frame, built once per process for every viewer: a server's frames are not
# masked (RFC 6455, 5.1), so every socket of the session gets the same bytes. The
# broadcaster hands each viewer the same ``payload`` object, so after the first viewer the
# cache hit costs a dict lookup (the bytes' hash is kept).
ws_text_frame = functools.lru_cache(maxsize=16)(text_frame)


def _write_now(transport: Any, wire: bytes) -> None:
    """Write to a Twisted TCP socket that holds nothing unsent, past Twisted's buffer.

    ``transport.write`` never writes at once: it registers the socket for writing and
    sends on the next loop turn, which on daphne's asyncio reactor costs an ``epoll_ctl``
    and a selector update to add the writer, and again to remove it, per socket per event:
    about two thirds of daphne's CPU in a broadcast (measured, docs/benchmarks.md). With
    nothing queued, a direct ``send`` keeps the order; what the kernel does not take now
    goes to Twisted's buffer and leaves after it, in order (and counts toward the
    slow-viewer limit). Errors are left to Twisted's write, which closes the connection.
    """
    try:
        sent = transport.socket.send(wire)
    except OSError:  # EAGAIN, or a dead peer: Twisted's write path deals with both
        sent = 0
    if sent < len(wire):
        transport.write(wire[sent:])


def write_text(protocol: Any, payload: bytes, wire: bytes | None = None) -> None:
    """Send one text message on daphne's open ``protocol``: ``wire`` (its frame) straight to
    the socket when nothing is queued before it, else behind what is, in order.

    Replies and broadcasts both go this way, so they can never overtake each other; only
    deflate and autobahn's own queue keep autobahn's ``sendMessage``.
    """
    if getattr(protocol, "_perMessageCompress", None) is not None or protocol.send_queue:
        protocol.sendMessage(payload, False)
        return
    transport = protocol.transport
    wire = text_frame(payload) if wire is None else wire
    if _pending_bytes(transport) == 0 and not getattr(transport, "TLS", True):
        _write_now(transport, wire)
    else:
        transport.write(wire)


def daphne_protocol(send: Any) -> Any:
    """The daphne protocol object behind a consumer's ``send``, or None.

    Daphne hands the application ``partial(server.handle_reply, protocol)``, but channels'
    session middleware (in ``AuthMiddlewareStack``) replaces ``send`` with its own bound
    method that keeps the original as ``real_send`` and passes ``websocket.send`` messages
    through untouched (it acts on ``http.response.start`` only). Looking at the outermost
    ``send`` alone missed the protocol behind that wrapper, and every broadcast then cost a
    task and the whole ASGI send chain per socket (measured: docs/benchmarks.md).
    """
    for _ in range(4):
        if isinstance(send, functools.partial):
            protocol = send.args[0] if send.args else None
            return protocol if hasattr(protocol, "sendMessage") else None
        send = getattr(getattr(send, "__self__", None), "real_send", None)
    return None


class LiveConsumer(AsyncWebsocketConsumer):
    session_id: int
    sent_seq: int
    protocol: Any = None  # daphne's protocol once accepted (None elsewhere: tests, uvicorn)

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
        self.joined = False
        # A shared snapshot also tells whether the session exists: in a storm of joins the
        # socket is accepted without a database round trip of its own, well inside
        # daphne's 5 s handshake limit (per-viewer reads queued on channels' one database
        # thread refused most of 1,000 viewers joining at once; docs/benchmarks.md).
        snapshot = await shared_snapshots().get(self.session_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
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
        await broadcaster().join(self.session_id, self)
        self.joined = True
        if self.user is not None and self.user.is_authenticated:
            await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        live_loop().ensure_running()
        await self._catch_up(_last_seq(self.scope), snapshot)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            self.joined = False
            await broadcaster().leave(self.session_id, self)
            if self.user is not None and self.user.is_authenticated:
                await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

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
        if _pending_bytes(protocol.transport) > SLOW_VIEWER_BYTES:
            log.info("closing a viewer of session %s that fell behind", self.session_id)
            protocol.sendClose(code=CLOSE_TOO_SLOW, reason="too slow; reconnect with last_seq")
            return
        write_text(protocol, frame, ws_text_frame(frame))

    def resync(self) -> None:
        self.syncing = True
        task = asyncio.ensure_future(self._catch_up(self.sent_seq))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def direct_frame(self, message: dict[str, Any]) -> None:
        """A per-user frame from the channel layer (``server.groups.send_to_user``)."""
        await self.send(text_data=encode(message["frame"]))

    # --- client messages ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self._within_flood_budget():
            if self.flood_refused > FLOOD_CLOSE_AFTER:
                await self.close(code=CLOSE_FLOOD)
                return
            await self._error(None, "rate_limited", "Too many messages; slow down.")
            return
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw.encode("utf-8")) > messages.MAX_FRAME_BYTES:
            await self._error(
                None, "invalid", f"Frame too large: at most {messages.MAX_FRAME_BYTES} bytes."
            )
            return
        try:
            envelope = messages.Envelope.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            await self._error(_guess_id(raw), "invalid", f"Not a valid message: {_short(exc)}")
            return
        entry = HANDLERS.get(envelope.type)
        if entry is None:
            await self._error(envelope.id, "invalid", f"Unknown message type {envelope.type!r}.")
            return
        schema, handler = entry
        try:
            data = schema.model_validate(envelope.data)
        except ValidationError as exc:
            await self._error(envelope.id, "invalid", f"Bad data: {_short(exc)}")
            return
        try:
            reply = await handler(self, data, envelope.id)
        except Exception as exc:
            refusal = exc if isinstance(exc, DomainError) else service_error(exc)
            if refusal is None:
                log.exception("live message %s failed", envelope.type)
                refusal = DomainError("Something went wrong on our side.", code="server_error")
            await self._error(envelope.id, refusal.code, refusal.message, **refusal.extra)
            return
        if reply is not None:
            await self.reply(envelope.id, **reply)

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


class SharedSnapshots:
    """One snapshot read per session per ``SNAPSHOT_SHARE_S`` in this process, shared by
    every viewer who joins meanwhile (concurrent joins wait for the same read).

    A storm of joins otherwise reads the same rows once per viewer, one after another on
    channels' single database thread: about 90 joins/s per process (docs/benchmarks.md).
    Sharing is safe because each viewer then replays the log from the snapshot's seq.
    """

    def __init__(self) -> None:
        self._reads: dict[int, tuple[float, asyncio.Future[dict[str, Any] | None]]] = {}

    async def get(self, session_id: int) -> dict[str, Any] | None:
        now = time.monotonic()
        entry = self._reads.get(session_id)
        if entry is None or now - entry[0] > SNAPSHOT_SHARE_S or _failed(entry[1]):
            entry = self._start(session_id, now)
        # One viewer giving up (a closed socket) must not cancel the read for the others.
        return await asyncio.shield(entry[1])

    async def fresh(self, session_id: int) -> dict[str, Any] | None:
        """A snapshot read now (and shared from now on)."""
        return await asyncio.shield(self._start(session_id, time.monotonic())[1])

    def _start(
        self, session_id: int, now: float
    ) -> tuple[float, asyncio.Future[dict[str, Any] | None]]:
        if len(self._reads) > 1000:
            self._reads = {k: v for k, v in self._reads.items() if now - v[0] <= SNAPSHOT_SHARE_S}
        read = asyncio.ensure_future(
            database_sync_to_async(session_snapshot)(session_id=session_id)
        )
        self._reads[session_id] = entry = (now, read)
        return entry


def _failed(read: asyncio.Future[Any]) -> bool:
    return read.done() and (read.cancelled() or read.exception() is not None)


_snapshots = LoopLocal(SharedSnapshots)


def shared_snapshots() -> SharedSnapshots:
    """This event loop's snapshot reads (one per process under daphne; one per test loop)."""
    return _snapshots.get()


async def in_session(consumer: "LiveConsumer", work: Callable[[LiveSession], Any]) -> Any:
    """Run ``work(session)`` with a fresh row (status may have changed) on the DB thread."""

    def run() -> Any:
        return work(LiveSession.objects.select_related("farm").get(pk=consumer.session_id))

    return await database_sync_to_async(run)()


def _last_seq(scope: dict[str, Any]) -> int | None:
    raw = parse_qs(scope.get("query_string", b"").decode("latin1")).get("last_seq", [""])[0]
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _guess_id(raw: str) -> Any:
    try:
        value = json.loads(raw).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str | int) and len(str(value)) <= 64 else None


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        return f"{where}: {first['msg']}"
    return str(exc)[:200]


# --- the public handlers (others register theirs the same way) -------------------


@handles("ping", messages.Ping)
async def _ping(consumer: LiveConsumer, data: messages.Ping, msg_id: Any) -> dict[str, Any]:
    return {"type": "pong", "data": {}}


@handles("chat.send", messages.ChatSend)
async def _chat_send(consumer: LiveConsumer, data: messages.ChatSend, msg_id: Any) -> dict:
    user = consumer.require_user()
    message = await in_session(
        consumer,
        lambda session: services.chat_post(
            session=session, user=user, text=data.text, now=timezone.now()
        ),
    )
    return {"type": "chat.sent", "data": {"id": message.pk}}


@handles("reaction.send", messages.ReactionSend)
async def _reaction(consumer: LiveConsumer, data: messages.ReactionSend, msg_id: Any) -> None:
    await asyncio.to_thread(services.reaction_add, session_id=consumer.session_id, kind=data.kind)


@handles("chat.delete", messages.ChatDelete)
async def _chat_delete(consumer: LiveConsumer, data: messages.ChatDelete, msg_id: Any) -> dict:
    user = consumer.require_user()
    await in_session(
        consumer,
        lambda session: services.chat_delete(
            session=session, actor=user, message_id=data.id, now=timezone.now()
        ),
    )
    return {"type": "chat.deleted.ok", "data": {"id": data.id}}


@handles("chat.mute", messages.ChatMute)
async def _chat_mute(consumer: LiveConsumer, data: messages.ChatMute, msg_id: Any) -> dict:
    user = consumer.require_user()
    await in_session(
        consumer, lambda session: services.chat_mute(session=session, actor=user, user_id=data.user)
    )
    return {"type": "chat.muted", "data": {"user": data.user}}


@handles("chat.unmute", messages.ChatMute)
async def _chat_unmute(consumer: LiveConsumer, data: messages.ChatMute, msg_id: Any) -> dict:
    user = consumer.require_user()
    await in_session(
        consumer,
        lambda session: services.chat_unmute(session=session, actor=user, user_id=data.user),
    )
    return {"type": "chat.unmuted", "data": {"user": data.user}}
