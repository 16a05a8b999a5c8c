"""``/ws/live/{session_id}/?last_seq=N``: the live channel (CONTRACT.md, docs/protocol.md).

Thin: parse a frame, check it against its schema, call a service, reply. Broadcasts reach
this socket through the process's broadcaster (``server.fanout``), already encoded; replies
and per-user messages go out through ``send``.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone
from pydantic import ValidationError

from server.errors import DomainError, NotAuthenticated
from server.fanout import broadcaster
from server.groups import user_group
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

def _pending_bytes(transport: Any) -> int:
    """Bytes Twisted holds for this socket and has not written yet (0 if unknown)."""
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return 0


class LiveConsumer(AsyncWebsocketConsumer):
    session_id: int
    sent_seq: int

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.user = self.scope.get("user")
        self.state: dict[str, Any] = {}
        self.joined = False
        if not await _session_exists(self.session_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        # Under daphne, ``send`` is partial(server.handle_reply, protocol): broadcasts go
        # straight to the protocol, skipping a coroutine per socket per event.
        self.protocol = getattr(self.base_send, "args", (None,))[0]
        if not hasattr(self.protocol, "sendMessage"):
            self.protocol = None
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
        await self._catch_up(_last_seq(self.scope))

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            self.joined = False
            await broadcaster().leave(self.session_id, self)
            if self.user is not None and self.user.is_authenticated:
                await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

    # --- broadcasts ---------------------------------------------------------------------

    async def _catch_up(self, last_seq: int | None) -> None:
        """Snapshot, then what the client missed, then whatever arrived meanwhile."""
        self.syncing = True
        snapshot = await database_sync_to_async(session_snapshot)(session_id=self.session_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send(text_data=encode({"type": "snapshot", "ts": now_ts(), "data": snapshot}))
        self.sent_seq = snapshot["last_seq"]
        if last_seq is not None and last_seq < self.sent_seq:
            frames = await asyncio.to_thread(replay, self.session_id, last_seq) or []
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
        protocol.sendMessage(frame, False)

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
        except DomainError as exc:
            await self._error(envelope.id, exc.code, exc.message, **exc.extra)
            return
        except Exception:
            log.exception("live message %s failed", envelope.type)
            await self._error(envelope.id, "server_error", "Something went wrong on our side.")
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


@database_sync_to_async
def _session_exists(session_id: int) -> bool:
    return LiveSession.objects.filter(pk=session_id).exists()


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


# --- the handlers of CONTRACT.md (others register theirs the same way) -------------------


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
