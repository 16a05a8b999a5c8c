"""WHIP and WHEP as services: who may publish or watch, which process holds the session,
and the registry call. Async, because aiortc runs on the event loop; each raises a
``streams.media.errors`` or ``streams.errors`` refusal with a contract code.

A request that reaches a process which does not hold the session gets a ``Redirect`` to
the one that does (``routing``); a web process (not a media node) always redirects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from server.errors import NotAuthenticated, NotFound
from streams.errors import NotSessionHost
from streams.media import admission, routing
from streams.media.db import on_db_thread
from streams.media.errors import MediaUnavailable, NotLive, NotPublishing, PublisherExists
from streams.media.peers import registry
from streams.models import LiveSession, SessionStatus


@dataclass(frozen=True)
class Answer:
    sdp: str
    resource: str  # the peer's id; the view turns it into the Location URL


@dataclass(frozen=True)
class Redirect:
    node_url: str


@dataclass(frozen=True)
class SessionFacts:
    id: int
    host_id: int
    status: str


@on_db_thread
def _session_row(session_id: int) -> dict[str, Any] | None:
    return LiveSession.objects.filter(pk=session_id).values("host_id", "status").first()


async def _session(session_id: int) -> SessionFacts:
    row = await _session_row(session_id)
    if row is None:
        raise NotFound("No such session.")
    return SessionFacts(session_id, row["host_id"], row["status"])


def _require_host(*, session: SessionFacts, actor: Any) -> None:
    if actor is None or not actor.is_authenticated:
        raise NotAuthenticated("Publishing needs the host's token (Authorization: Bearer).")
    if not (actor.is_staff or actor.pk == session.host_id):
        raise NotSessionHost("Only this session's host may publish its video.")


async def publication_start(
    *, session_id: int, actor: Any, offer: str, record: bool | None = None
) -> Answer | Redirect:
    """Take the host's WHIP offer. Raises ``NotAuthenticated``, ``NotFound``,
    ``NotSessionHost``, ``NotLive``, ``PublisherExists`` (someone else publishes; the
    host reconnecting replaces their own), ``BadOffer``, ``MediaUnavailable``."""
    session = await _session(session_id)
    _require_host(session=session, actor=actor)
    if session.status != SessionStatus.LIVE:
        raise NotLive("Start the session before sending video.")
    if not routing.is_media_node():
        holder = await asyncio.to_thread(routing.owner_get, session_id=session_id)
        holder = holder or await asyncio.to_thread(routing.node_pick)
        if holder is None:
            raise MediaUnavailable("No media server is running; try again shortly.")
        return Redirect(holder.url)
    holder = await asyncio.to_thread(routing.owner_claim, session_id=session_id)
    if holder is not None:
        return Redirect(holder.url)
    media = registry().sessions.get(session_id)
    publisher = media.publisher if media is not None else None
    if publisher is not None and publisher.user_id != actor.pk:
        raise PublisherExists("Someone else is sending this session's video.")
    peer, sdp = await registry().publish(
        session_id=session_id,
        host_id=session.host_id,
        user_id=actor.pk,
        offer=offer,
        record=settings.MEDIA_RECORDING if record is None else record,
    )
    return Answer(sdp, peer.id)


async def publication_stop(*, session_id: int, resource: str, actor: Any) -> Redirect | None:
    """End a publication (WHIP DELETE). Raises ``NotAuthenticated``, ``NotSessionHost``,
    ``NotFound``."""
    session = await _session(session_id)
    _require_host(session=session, actor=actor)
    return await _stop(session_id=session_id, resource=resource, role="publisher")


async def playback_start(
    *, session_id: int, viewer: Any, client_address: str, offer: str, quality: str
) -> Answer | Redirect:
    """Answer a viewer's WHEP offer. Raises ``NotFound``, ``NotLive``, ``NotPublishing``,
    ``BadOffer``, ``RateLimited`` (this viewer, or this address when not signed in, holds
    its share of playbacks), ``MediaUnavailable`` (this media process is full, or its
    share for anonymous viewers is; ``streams.media.admission``)."""
    session = await _session(session_id)
    if session.status != SessionStatus.LIVE:
        raise NotLive(
            "This session has ended."
            if session.status == SessionStatus.ENDED
            else "This session has not started yet."
        )
    holder = await asyncio.to_thread(routing.owner_get, session_id=session_id)
    if holder is not None and (holder.id != routing.NODE_ID or not routing.is_media_node()):
        return Redirect(holder.url)
    media = registry().sessions.get(session_id) if holder is not None else None
    if media is None or media.publisher is None:
        raise NotPublishing("The host is not sending video right now; try again shortly.")
    user_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    client = admission.client_key(user_id=user_id, address=client_address)
    with admission.playback_slot(registry(), client=client):
        peer, sdp = await registry().play(
            session_id=session_id, host_id=session.host_id, user_id=user_id, offer=offer,
            quality=quality, client=client,
        )  # fmt: skip
    return Answer(sdp, peer.id)


async def playback_stop(*, session_id: int, resource: str) -> Redirect | None:
    """End a playback (WHEP DELETE): the resource URL is the viewer's capability.
    Raises ``NotFound``."""
    return await _stop(session_id=session_id, resource=resource, role="viewer")


async def _stop(*, session_id: int, resource: str, role: str) -> Redirect | None:
    peer = registry().peers.get(resource) if routing.is_media_node() else None
    if peer is None:
        holder = await asyncio.to_thread(routing.owner_get, session_id=session_id)
        if holder is not None and holder.id != routing.NODE_ID:
            return Redirect(holder.url)
    if peer is None or peer.session_id != session_id or peer.role != role:
        raise NotFound("No such publication or playback here (it may have ended).")
    await registry().close_peer(resource, reason="deleted by the client")
    return None
