"""The media process's peer registry: who publishes and who watches each session here.

Peer connections live in the process that made them (aiortc runs on this event loop);
the registry keeps them, and one loop task per process (``tick``, once a second):

- closes peers whose ICE never connected within ``MEDIA_CONNECT_TIMEOUT_S`` (a peer
  connection whose ICE never starts stays ``new`` forever),
- reaps peers whose connection failed or closed (ICE consent expires about 30 s after
  the other side goes silent), so no task, track or encoder outlives its peer,
- tells viewers through ``session.state`` when the host's video drops and returns,
- sends the host ``stream.health`` (publishing, bitrate, frame rate, viewers on video),
- moves ``auto`` viewers between levels on the loss their receiver reports,
- ends the media of sessions that ended.

Everything the registry says to other processes goes through Redis (``routing``,
``server.publisher``, ``server.groups``), called off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from django.conf import settings

from server.loops import LoopLocal
from streams.media import routing
from streams.media.errors import BadOffer
from streams.media.ice import rtc_configuration
from streams.media.relay import LEVELS, PacketTrack, Relay, pin_codecs

log = logging.getLogger(__name__)

TICK_S = 1.0
HEALTH_EVERY_S = 2.0
# No frame for this long while publishing: viewers are told the video dropped.
VIDEO_STALL_S = 2.0
# Auto quality: step down after two reports over LOSS_DOWN, back up after ten under LOSS_UP.
LOSS_DOWN = 0.10
LOSS_UP = 0.02
AUTO_DOWN_AFTER = 2
AUTO_UP_AFTER = 10
QUALITIES = ("auto", *LEVELS, "audio")


@dataclass
class Peer:
    id: str
    role: str  # "publisher" | "viewer"
    session_id: int
    user_id: int | None
    pc: RTCPeerConnection
    quality: str = "hd"
    # Whom a viewer's slot counts against (streams.media.admission); "" for a publisher.
    client: str = ""
    tracks: list[PacketTrack] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    closing: bool = False
    lossy: int = 0
    clean: int = 0

    @property
    def level(self) -> str | None:
        video = next((t for t in self.tracks if t.kind == "video"), None)
        return video.level if video is not None else None


@dataclass
class SessionMedia:
    session_id: int
    host_id: int
    relay: Relay = field(default_factory=Relay)
    publisher: Peer | None = None
    viewers: dict[str, Peer] = field(default_factory=dict)
    video_on: bool = False
    last_health: float = 0.0
    health_sent_off: bool = False
    bytes_in: int = 0
    bytes_in_at: float = 0.0
    bitrate_in: int = 0
    frames_at: tuple[int, float] = (0, 0.0)
    fps_in: float = 0.0
    recording: Any = None  # recordings.Part while a part is being written
    publishing_since: float | None = None


class Hooks:
    """What the registry does outside itself, replaceable in the benchmark (no Django)."""

    async def video_changed(self, media: SessionMedia, on: bool) -> None:
        return None

    async def health(self, media: SessionMedia, data: dict[str, Any]) -> None:
        return None

    async def sessions_ended(self, session_ids: list[int]) -> list[int]:
        return []

    async def recording_start(self, media: SessionMedia) -> Any:
        return None

    async def recording_stop(self, media: SessionMedia, part: Any) -> None:
        return None

    async def released(self, session_id: int) -> None:
        return None


def _detached(coro: Any) -> asyncio.Task[Any]:
    """A task that outlives the request that started it. Tasks copy the creator's context,
    and a request's context carries asgiref's per-request thread executor, which is gone
    once the response is sent: ``sync_to_async`` from such a task would fail."""
    return asyncio.get_running_loop().create_task(coro, context=contextvars.Context())


def parse_offer(sdp: str) -> RTCSessionDescription:
    if "m=" not in sdp or not sdp.lstrip().startswith("v="):
        raise BadOffer("The body is not an SDP offer.")
    return RTCSessionDescription(sdp=sdp, type="offer")


def offered_kinds(sdp: str) -> list[str]:
    return [line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")]


class Registry:
    def __init__(self, hooks: Hooks | None = None) -> None:
        self.hooks = hooks or Hooks()
        self.sessions: dict[int, SessionMedia] = {}
        self.peers: dict[str, Peer] = {}
        # Offers being answered, per client key: they hold a slot before their peer exists.
        self.offering: Counter[str] = Counter()
        self.task: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[Any]] = set()
        self.last_status_check = 0.0

    # --- lifecycle ---------------------------------------------------------------------

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = _detached(self._run())
        routing.heartbeat().start()

    def load(self) -> int:
        return len(self.peers)

    def _spawn(self, coro: Any) -> None:
        task = _detached(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _media(self, session_id: int, host_id: int) -> SessionMedia:
        media = self.sessions.get(session_id)
        if media is None:
            media = self.sessions[session_id] = SessionMedia(session_id, host_id)
        return media

    def _new_pc(self, peer_id: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(rtc_configuration())

        @pc.on("connectionstatechange")
        def _changed() -> None:
            peer = self.peers.get(peer_id)
            if peer is None:
                return
            if pc.connectionState == "connected" and peer.connected_at is None:
                peer.connected_at = time.monotonic()
            elif pc.connectionState in ("failed", "closed") and not peer.closing:
                self._spawn(self.close_peer(peer_id, reason=pc.connectionState))

        return pc

    # --- publishing --------------------------------------------------------------------

    async def publish(
        self, *, session_id: int, host_id: int, user_id: int | None, offer: str, record: bool
    ) -> tuple[Peer, str]:
        """Answer a WHIP offer. The caller has checked who may publish; a publisher there
        already is replaced (the same host reconnecting)."""
        self.ensure_running()
        description = parse_offer(offer)
        media = self._media(session_id, host_id)
        old = media.publisher
        if old is not None:
            # Keep the session (and its Redis ownership) while the new publisher comes in.
            await self.close_peer(old.id, reason="replaced", release=False)
        peer_id = secrets.token_urlsafe(16)
        pc = self._new_pc(peer_id)
        peer = Peer(peer_id, "publisher", session_id, user_id, pc)
        received: dict[str, MediaStreamTrack] = {}
        pc.on("track", lambda track: received.setdefault(track.kind, track))
        try:
            await pc.setRemoteDescription(description)
            if "video" not in received and "audio" not in received:
                raise BadOffer("The offer sends neither video nor audio.")
            await pc.setLocalDescription(await pc.createAnswer())
        except BadOffer:
            await pc.close()
            self._drop_if_idle(media)
            raise
        except Exception as exc:
            await pc.close()
            self._drop_if_idle(media)
            raise BadOffer(f"Cannot use this offer: {type(exc).__name__}.") from None
        self.peers[peer_id] = peer
        media.publisher = peer
        media.publishing_since = time.monotonic()
        media.relay.attach(video=received.get("video"), audio=received.get("audio"))
        if record and "video" in received:
            try:
                media.recording = await self.hooks.recording_start(media)
            except Exception:  # the live goes on; only its recording is lost
                log.exception("session %s: recording could not start", session_id)
        return peer, pc.localDescription.sdp

    # --- playing -----------------------------------------------------------------------

    async def play(
        self,
        *,
        session_id: int,
        host_id: int,
        user_id: int | None,
        offer: str,
        quality: str,
        client: str = "",
    ) -> tuple[Peer, str]:
        """Answer a WHEP offer with the relay's tracks at ``quality``."""
        self.ensure_running()
        description = parse_offer(offer)
        kinds = offered_kinds(offer)
        if "video" not in kinds and "audio" not in kinds:
            raise BadOffer("The offer receives neither video nor audio.")
        media = self._media(session_id, host_id)
        level = None if quality == "audio" else ("hd" if quality == "auto" else quality)
        tracks = media.relay.subscribe(
            level=level if "video" in kinds else None, audio="audio" in kinds
        )
        peer_id = secrets.token_urlsafe(16)
        pc = self._new_pc(peer_id)
        peer = Peer(
            peer_id, "viewer", session_id, user_id, pc, quality=quality, client=client,
            tracks=tracks,
        )  # fmt: skip
        try:
            # Transceivers made before the offer is applied take its m-lines in order, with
            # our codec choice; the offered recvonly lines become our sendonly ones.
            for track in tracks:
                transceiver = pc.addTransceiver(track.kind, direction="sendonly")
                pin_codecs(transceiver, track.kind)
            await pc.setRemoteDescription(description)
            for transceiver, track in zip(pc.getTransceivers(), tracks, strict=False):
                transceiver.sender.replaceTrack(track)
                if track.kind == "video":
                    # aiortc's sender only flags its own encoder on PLI/FIR; ours is shared.
                    transceiver.sender._send_keyframe = track.request_keyframe
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            for track in tracks:
                track.stop()
            await pc.close()
            self._drop_if_idle(media)
            if isinstance(exc, BadOffer):
                raise
            raise BadOffer(f"Cannot use this offer: {type(exc).__name__}.") from None
        self.peers[peer_id] = peer
        media.viewers[peer_id] = peer
        return peer, pc.localDescription.sdp

    # --- ending ------------------------------------------------------------------------

    async def close_peer(self, peer_id: str, *, reason: str, release: bool = True) -> bool:
        """Close one peer and everything it held; False if it is not here. The session is
        let go of when nobody is left in it, unless ``release`` is False."""
        peer = self.peers.get(peer_id)
        if peer is None or peer.closing:
            return False
        peer.closing = True
        log.info("closing %s %s of session %s: %s", peer.role, peer_id, peer.session_id, reason)
        media = self.sessions.get(peer.session_id)
        try:
            for track in peer.tracks:
                track.stop()
            if media is not None and media.publisher is peer:
                media.publisher = None
                media.publishing_since = None
                media.relay.detach()
                if media.recording is not None:
                    part, media.recording = media.recording, None
                    try:
                        await self.hooks.recording_stop(media, part)
                    except Exception:
                        log.exception("session %s: recording did not finish", peer.session_id)
            await peer.pc.close()
        finally:
            self.peers.pop(peer_id, None)
            if media is not None:
                media.viewers.pop(peer_id, None)
                if media.publisher is None and media.video_on and release:
                    media.video_on = False
                    await self.hooks.video_changed(media, False)
                if release:
                    await self._release_if_idle(media)
        return True

    def _drop_if_idle(self, media: SessionMedia) -> None:
        if media.publisher is None and not media.viewers:
            self._spawn(self._release_if_idle(media))

    async def _release_if_idle(self, media: SessionMedia) -> None:
        if media.publisher is not None or media.viewers:
            return
        if self.sessions.get(media.session_id) is media:
            del self.sessions[media.session_id]
            await media.relay.close()
            await self.hooks.released(media.session_id)

    async def end_session(self, session_id: int, *, reason: str) -> None:
        media = self.sessions.get(session_id)
        if media is None:
            return
        for peer_id in [*media.viewers, *([media.publisher.id] if media.publisher else [])]:
            await self.close_peer(peer_id, reason=reason)

    async def close_all(self) -> None:
        for session_id in list(self.sessions):
            await self.end_session(session_id, reason="shutting down")
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)

    # --- the tick ----------------------------------------------------------------------

    async def _run(self) -> None:
        # Runs while there is anything to watch, so an idle process keeps no task.
        while self.peers or self.sessions:
            await asyncio.sleep(TICK_S)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media tick failed; trying again")

    async def tick(self) -> None:
        now = time.monotonic()
        timeout = settings.MEDIA_CONNECT_TIMEOUT_S
        for peer in list(self.peers.values()):
            if peer.connected_at is None and now - peer.created_at > timeout:
                await self.close_peer(peer.id, reason=f"not connected within {timeout:g}s")
        if self.sessions and now - self.last_status_check >= 2.0:
            self.last_status_check = now
            for session_id in await self.hooks.sessions_ended(list(self.sessions)):
                await self.end_session(session_id, reason="session ended")
        for media in list(self.sessions.values()):
            await self._session_tick(media, now)

    async def _session_tick(self, media: SessionMedia, now: float) -> None:
        stats = media.relay.stats
        publisher = media.publisher
        connected = publisher is not None and publisher.connected_at is not None
        frames_flowing = connected and now - stats.last_frame_at < VIDEO_STALL_S
        if frames_flowing != media.video_on:
            media.video_on = frames_flowing
            await self.hooks.video_changed(media, frames_flowing)
        if publisher is not None:
            await self._measure_input(media, publisher, now)
        if now - media.last_health >= HEALTH_EVERY_S:
            media.last_health = now
            if publisher is not None or not media.health_sent_off:
                media.health_sent_off = publisher is None
                await self.hooks.health(media, health_data(media))
            await self._adapt(media)

    async def _measure_input(self, media: SessionMedia, publisher: Peer, now: float) -> None:
        received = 0
        for transceiver in publisher.pc.getTransceivers():
            with contextlib.suppress(Exception):
                for stats in transceiver.receiver.transport._get_stats().values():
                    received = max(received, getattr(stats, "bytesReceived", 0) or 0)
                break
        if media.bytes_in_at and now > media.bytes_in_at:
            elapsed = now - media.bytes_in_at
            media.bitrate_in = int(max(0, received - media.bytes_in) * 8 / elapsed)
        media.bytes_in, media.bytes_in_at = received, now
        frames, at = media.frames_at
        if at and now > at:
            media.fps_in = round((media.relay.stats.frames_in - frames) / (now - at), 1)
        media.frames_at = (media.relay.stats.frames_in, now)

    async def _adapt(self, media: SessionMedia) -> None:
        """``auto`` viewers: one level down on sustained loss, back up when it clears.
        There is one encoder per level, not per viewer, so this is how bitrate adapts."""
        for peer in list(media.viewers.values()):
            if peer.quality != "auto" or peer.connected_at is None:
                continue
            loss = await viewer_loss(peer)
            if loss is None:
                continue
            peer.lossy = peer.lossy + 1 if loss > LOSS_DOWN else 0
            peer.clean = peer.clean + 1 if loss < LOSS_UP else 0
            target = decide_level(peer.level, peer.lossy, peer.clean)
            if target != peer.level:
                log.info("viewer %s moves to %s (loss %.0f%%)", peer.id, target, loss * 100)
                for track in peer.tracks:
                    track.switch(target)
                media.relay.request_keyframe(target)
                peer.lossy = peer.clean = 0


def decide_level(level: str | None, lossy: int, clean: int) -> str | None:
    """The level an ``auto`` viewer should be on, from its run of lossy or clean reports."""
    if level == "hd" and lossy >= AUTO_DOWN_AFTER:
        return "low"
    if level == "low" and clean >= AUTO_UP_AFTER:
        return "hd"
    return level


async def viewer_loss(peer: Peer) -> float | None:
    """The fraction of video packets the viewer's last receiver report says it lost."""
    for transceiver in peer.pc.getTransceivers():
        if transceiver.kind != "video":
            continue
        report = await transceiver.sender.getStats()
        for stats in report.values():
            if stats.type == "remote-inbound-rtp" and stats.fractionLost is not None:
                return min(1.0, stats.fractionLost / 256)
    return None


def health_data(media: SessionMedia) -> dict[str, Any]:
    """The host's ``stream.health`` frame (docs/protocol.md)."""
    stats = media.relay.stats
    counts = media.relay.subscriber_counts()
    viewers = [p for p in media.viewers.values() if p.connected_at is not None]
    return {
        "session": media.session_id,
        "publishing": media.publisher is not None and media.publisher.connected_at is not None,
        "video": media.video_on,
        "bitrate_kbps": round(media.bitrate_in / 1000),
        "fps": media.fps_in,
        "width": stats.width,
        "height": stats.height,
        "viewers": len(viewers),
        "levels": counts,
        "recording": media.recording is not None,
        "dropped_frames": stats.frames_dropped,
    }


_factory: Callable[[], Registry] = Registry
# Through a lambda: apps.ready swaps the factory after this module is imported.
_registries = LoopLocal(lambda: _factory())


def total_peers() -> int:
    return sum(len(r.peers) for r in _registries.values())


def sessions_held() -> list[int]:
    """The sessions this process's registries hold media for, on every loop."""
    return sorted({s for r in _registries.values() for s in r.sessions})


routing.set_load(total_peers)


def set_registry_factory(factory: Callable[[], Registry]) -> None:
    global _factory
    _factory = factory


def registry() -> Registry:
    """This loop's registry (one per process under daphne; one per test loop in tests)."""
    return _registries.get()
