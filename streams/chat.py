"""The live channel's own client messages: ping, chat and its moderation, reactions
(docs/protocol.md, "Client messages"). Registered with ``streams.handlers`` on import, as
higher apps register theirs (coupons: ``coupon.claim``)."""

import asyncio
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from streams import messages, services
from streams.handlers import LiveSocket, handles
from streams.models import LiveSession


async def in_session(socket: LiveSocket, work: Callable[[LiveSession], Any]) -> Any:
    """Run ``work(session)`` with a fresh row (status may have changed) on the DB thread."""

    def run() -> Any:
        return work(LiveSession.objects.select_related("farm").get(pk=socket.session_id))

    return await database_sync_to_async(run)()


@handles("ping", messages.Ping)
async def _ping(socket: LiveSocket, data: messages.Ping, msg_id: Any) -> dict[str, Any]:
    return {"type": "pong", "data": {}}


@handles("chat.send", messages.ChatSend)
async def _chat_send(socket: LiveSocket, data: messages.ChatSend, msg_id: Any) -> dict:
    user = socket.require_user()
    message = await in_session(
        socket,
        lambda session: services.chat_post(
            session=session, user=user, text=data.text, now=timezone.now()
        ),
    )
    return {"type": "chat.sent", "data": {"id": message.pk}}


@handles("reaction.send", messages.ReactionSend)
async def _reaction(socket: LiveSocket, data: messages.ReactionSend, msg_id: Any) -> None:
    await asyncio.to_thread(services.reaction_add, session_id=socket.session_id, kind=data.kind)


@handles("chat.delete", messages.ChatDelete)
async def _chat_delete(socket: LiveSocket, data: messages.ChatDelete, msg_id: Any) -> dict:
    user = socket.require_user()
    await in_session(
        socket,
        lambda session: services.chat_delete(
            session=session, actor=user, message_id=data.id, now=timezone.now()
        ),
    )
    return {"type": "chat.deleted.ok", "data": {"id": data.id}}


@handles("chat.mute", messages.ChatMute)
async def _chat_mute(socket: LiveSocket, data: messages.ChatMute, msg_id: Any) -> dict:
    user = socket.require_user()
    await in_session(
        socket, lambda session: services.chat_mute(session=session, actor=user, user_id=data.user)
    )
    return {"type": "chat.muted", "data": {"user": data.user}}


@handles("chat.unmute", messages.ChatMute)
async def _chat_unmute(socket: LiveSocket, data: messages.ChatMute, msg_id: Any) -> dict:
    user = socket.require_user()
    await in_session(
        socket,
        lambda session: services.chat_unmute(session=session, actor=user, user_id=data.user),
    )
    return {"type": "chat.unmuted", "data": {"user": data.user}}
