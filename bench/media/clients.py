"""WHIP and WHEP clients on aiortc: a test-pattern publisher and two kinds of viewer.

For the tests, the benchmark (bench/media) and operators checking a media server by hand.
``Player(light=True)`` does SRTP and RTP parsing only (it counts frames by the RTP marker
bit and never decodes), so a benchmark's viewers do not cap what it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AUDIO_PTIME, AudioStreamTrack, MediaStreamError, VideoStreamTrack

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


def loopback_only() -> None:
    """Every candidate on 127.0.0.1: tests and benchmarks never leave loopback."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


def no_ice_servers() -> RTCConfiguration:
    """aiortc asks a public STUN server unless told there is none."""
    return RTCConfiguration(iceServers=[])


class TestPattern(VideoStreamTrack):
    """Moving bars at a steady frame rate; frames are made once, so the source costs
    nothing but the encoder's work."""

    __test__ = False  # not a pytest class

    def __init__(self, width: int = 640, height: int = 360, fps: int = 30) -> None:
        super().__init__()
        self.fps = fps
        self.frames = [_pattern(width, height, i) for i in range(30)]
        self.count = 0
        self.started: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self.started is None:
            self.started = now
        due = self.started + self.count / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        frame = self.frames[self.count % len(self.frames)]
        frame.pts = int(self.count * 90000 / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.count += 1
        return frame


def _pattern(width: int, height: int, i: int) -> av.VideoFrame:
    frame = av.VideoFrame(width=width, height=height, format="yuv420p")
    ramp = bytes(range(256)) * (width // 256 + 2)
    y = frame.planes[0]
    line = y.line_size
    rows = [ramp[(i * 8 + r) % 256 :][:width].ljust(line, b"\0") for r in range(height)]
    y.update(b"".join(rows)[: y.buffer_size])
    frame.planes[1].update(bytes([(i * 8) % 256]) * frame.planes[1].buffer_size)
    frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
    return frame


class Silence(AudioStreamTrack):
    """48 kHz stereo silence, 20 ms a frame (what Opus wants, no resampling)."""

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        samples = int(AUDIO_PTIME * 48000)
        if hasattr(self, "_timestamp"):
            self._timestamp += samples
            wait = self._start + self._timestamp / 48000 - time.time()
            await asyncio.sleep(max(0.0, wait))
        else:
            self._start = time.time()
            self._timestamp = 0
        frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = self._timestamp
        frame.sample_rate = 48000
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


async def _wait_gathered(pc: RTCPeerConnection) -> None:
    """aiortc gathers during setLocalDescription; the offer then holds every candidate."""
    await pc.setLocalDescription(await pc.createOffer())


@dataclass
class Publisher:
    pc: RTCPeerConnection
    location: str | None
    status: int
    body: str


async def publish(
    http: Any,
    url: str,
    *,
    token: str | None,
    video: Any = None,
    audio: Any = None,
) -> Publisher:
    """POST a WHIP offer (following a 307 as RFC 9725 asks) and apply the answer."""
    pc = RTCPeerConnection(no_ice_servers())
    for track in (video, audio):
        if track is not None:
            pc.addTransceiver(track, direction="sendonly")
    await _wait_gathered(pc)
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    reply = await http.post(
        url, content=pc.localDescription.sdp, headers=headers, follow_redirects=True
    )
    if reply.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.text, type="answer"))
    return Publisher(pc, reply.headers.get("Location"), reply.status_code, reply.text)


@dataclass
class Player:
    pc: RTCPeerConnection
    location: str | None = None
    status: int = 0
    body: str = ""
    frames: int = 0
    keyframes: int = 0
    audio_packets: int = 0
    frame_times: list[float] = field(default_factory=list)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def fps(self, since: float, until: float) -> float:
        n = sum(1 for t in self.frame_times if since <= t < until)
        return n / (until - since) if until > since else 0.0

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await task
        await self.pc.close()


async def play(
    http: Any,
    url: str,
    *,
    quality: str = "auto",
    light: bool = False,
    video: bool = True,
    audio: bool = True,
    keep_times: bool = True,
    token: str | None = None,
) -> Player:
    """POST a WHEP offer (as the user of ``token``, if given) and count what arrives:
    decoded frames, or (``light``) complete frames by RTP marker bit, with no decoding."""
    pc = RTCPeerConnection(no_ice_servers())
    player = Player(pc)
    if video:
        pc.addTransceiver("video", direction="recvonly")
    if audio:
        pc.addTransceiver("audio", direction="recvonly")

    @pc.on("track")
    def _track(track: Any) -> None:
        if not light:
            player.tasks.append(asyncio.ensure_future(_consume(player, track, keep_times)))

    await _wait_gathered(pc)
    sep = "&" if "?" in url else "?"
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    reply = await http.post(
        f"{url}{sep}quality={quality}",
        content=pc.localDescription.sdp,
        headers=headers,
        follow_redirects=True,
    )
    player.status, player.body = reply.status_code, reply.text
    player.location = reply.headers.get("Location")
    if reply.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.text, type="answer"))
        if light:
            _count_only(player, pc, keep_times)
    return player


async def _consume(player: Player, track: Any, keep_times: bool) -> None:
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            frame = await track.recv()
            if track.kind == "video":
                player.frames += 1
                player.sizes.add((frame.width, frame.height))
                if keep_times:
                    player.frame_times.append(time.monotonic())
            else:
                player.audio_packets += 1


def _count_only(player: Player, pc: RTCPeerConnection, keep_times: bool) -> None:
    """Replace the RTP parsing, jitter buffer and decoder with counters: SRTP has just been
    removed when this runs; only the RTP header is read (and the VP8 descriptor, for key
    frames), so one client process can stand in for hundreds of viewers."""
    video_types = {
        codec.payloadType
        for transceiver in pc.getTransceivers()
        if transceiver.kind == "video"
        for codec in transceiver._codecs
    }

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        if len(data) < 12 or (data[1] & 0x7F) not in video_types:
            player.audio_packets += 1
            return
        offset = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= offset + 4:  # header extension
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
        if vp8_is_keyframe(data[offset:]):
            player.keyframes += 1
        if data[1] & 0x80:  # marker: the last packet of a frame
            player.frames += 1
            if keep_times:
                player.frame_times.append(time.monotonic())

    for transport in {t.receiver.transport for t in pc.getTransceivers()}:
        transport._handle_rtp_data = handle


def vp8_is_keyframe(payload: bytes) -> bool:
    """Whether an RTP payload starts a VP8 key frame (RFC 7741 sections 4.2 and 4.3)."""
    if len(payload) < 2 or not payload[0] & 0x10 or payload[0] & 0x07:
        return False  # not the start of partition 0
    index = 1
    if payload[0] & 0x80:  # X: extension byte follows
        ext = payload[1]
        index = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            index += 2 if len(payload) > index and payload[index] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            index += 1
        if ext & 0x30:  # T or K: TID/KEYIDX
            index += 1
    return index < len(payload) and not payload[index] & 0x01


async def _main(argv: list[str] | None = None) -> int:
    """``python -m bench.media.clients play|publish URL``: check a media server by hand
    (prints a line a second), or stand in for a viewer or a host in process tests."""
    import argparse
    import sys

    import httpx

    parser = argparse.ArgumentParser(prog="python -m bench.media.clients")
    parser.add_argument("action", choices=["play", "publish"])
    parser.add_argument("url", help="the session's WHEP or WHIP URL")
    parser.add_argument("--quality", default="auto")
    parser.add_argument("--token", help="the host's token (publish)")
    parser.add_argument("--size", default="640x360", help="test pattern size (publish)")
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--loopback", action="store_true", help="host candidates on 127.0.0.1")
    options = parser.parse_args(argv)
    if options.loopback:
        loopback_only()
    async with httpx.AsyncClient(timeout=20) as http:
        if options.action == "play":
            peer: Any = await play(http, options.url, quality=options.quality, light=True,
                                   keep_times=False)  # fmt: skip
        else:
            width, height = (int(n) for n in options.size.split("x"))
            peer = await publish(http, options.url, token=options.token,
                                 video=TestPattern(width, height), audio=Silence())  # fmt: skip
        if peer.status != 201:
            print(f"refused: {peer.status} {peer.body}", flush=True)
            return 1
        started = time.monotonic()
        while time.monotonic() - started < options.seconds:
            await asyncio.sleep(1)
            state = peer.pc.connectionState
            frames = getattr(peer, "frames", None)
            print(f"{time.monotonic() - started:6.0f}s {state} frames={frames}", flush=True)
            if state in ("failed", "closed"):
                return 1
        await peer.pc.close()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main()))
