"""The encode-once relay: one publisher's picture, decoded once, encoded once per quality
level, and the same encoded packets handed to every subscriber.

Stock ``MediaRelay`` hands every subscriber the decoded frames, so each subscriber's
``RTCRtpSender`` runs its own VP8 encoder: about 13% of a core per 640x360 viewer on a
2-core box, so about ten viewers in all. aiortc 1.16's sender packetises an ``av.Packet``
with the codec's ``pack()`` and does not encode it, so here each level's encoder runs once
(on one worker thread per relay, off the event loop) and its packets go to every
subscriber's bounded queue. What that needs, and where it is handled:

- A joining subscriber needs a key frame: its queue drops packets until one comes, and
  joining asks the level's encoder for one (``VideoLevel.request_keyframe``).
- aiortc's sender ignores PLI/FIR for packets (it only flags its own encoder) and REMB, so
  a subscriber's PLI is routed to the shared encoder, rate-limited per subscriber and per
  level (``KEYFRAME_MIN_INTERVAL_S``): one bad client cannot flood everyone with key frames.
- "Latest frame only" breaks with packets (a lost delta frame corrupts the picture), so a
  subscriber that falls behind has its queue flushed and resumes at the next key frame.
  Decoded frames are different: between the decoder and the encoders only the newest
  frame is kept, which bounds latency and memory when the encoder cannot keep up.
- Every packet carries ``pts`` and ``time_base``; the relay's output clock is its own and
  only moves forward, so a publisher that reconnects (its timestamps restart at 0) never
  makes libvpx see pts going backwards nor a subscriber see RTP time jump back.
- Codecs are pinned on the subscriber's transceiver (``pin_codecs``), so these VP8
  and Opus bytes are never packed as H.264 or G.711.

This module knows aiortc and PyAV only (no Django), so the benchmark and the tests can
drive it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.frame import AudioFrame
from av.packet import Packet
from av.video.frame import PictureType, VideoFrame

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
# Longest gap between two source frames that the output clock reproduces; a longer one
# (the host's phone froze, the publisher reconnected) advances it by one nominal frame.
MAX_FRAME_GAP_S = 1.0
NOMINAL_FRAME_S = 1 / 30
# Decoded frames that may wait for the encoder (about 100 ms at 30 fps); older ones are
# skipped, which bounds both delay and memory when the encoder cannot keep up.
MAX_DECODED_BACKLOG = 2
# At most one forced key frame per level per this interval, whoever asks.
KEYFRAME_MIN_INTERVAL_S = 0.5
# One subscriber's PLI/FIR counts at most once per this interval.
SUBSCRIBER_PLI_INTERVAL_S = 1.0
# A safety net only: joins and PLIs force key frames when they are needed.
KEYFRAME_EVERY_S = 4.0
# Packets a subscriber may hold unsent: about 2 s of video (one packet per frame), 1 s of
# audio (one per 20 ms). Past that it is flushed (video resumes at the next key frame).
VIDEO_QUEUE_MAX = 60
AUDIO_QUEUE_MAX = 50


@dataclass(frozen=True)
class LevelSpec:
    """One quality a viewer may choose: the largest picture and the bitrate it gets."""

    name: str
    width: int
    height: int
    bitrate: int


# 640x360 for most (600 kb/s: about 0.27 GB an hour); 320x180 for a weak or costly
# connection (a third of that). aiortc's own encoder defaults to 500 kb/s.
LEVELS: dict[str, LevelSpec] = {
    "hd": LevelSpec("hd", 640, 360, 600_000),
    "low": LevelSpec("low", 320, 180, 200_000),
}
AUDIO_BITRATE = 32_000


def fit(width: int, height: int, spec: LevelSpec) -> tuple[int, int]:
    """The source's shape scaled to fit inside the level, never up, in even numbers."""
    scale = min(1.0, spec.width / width, spec.height / height)
    return max(2, int(width * scale) & ~1), max(2, int(height * scale) & ~1)


class VideoEncoder:
    """libvpx for one level. Runs on the relay's worker thread only."""

    def __init__(self, spec: LevelSpec) -> None:
        self.spec = spec
        self.codec: av.VideoCodecContext | None = None
        self.last_pts = -1

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = VIDEO_TIME_BASE
        codec.framerate = 30
        codec.bit_rate = self.spec.bitrate
        codec.gop_size = int(KEYFRAME_EVERY_S * 30)
        codec.thread_count = 1
        codec.options = {
            # Real-time constant bitrate, no look-ahead: every frame leaves at once.
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "bufsize": str(self.spec.bitrate),
            "minrate": str(self.spec.bitrate),
            "maxrate": str(self.spec.bitrate),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            "static-thresh": "1",
            "partitions": "0",
            "error-resilient": "1",
        }
        codec.open()
        return codec

    def encode(self, frame: VideoFrame, pts: int, keyframe: bool) -> list[Packet]:
        width, height = fit(frame.width, frame.height, self.spec)
        scaled = frame.reformat(width=width, height=height, format="yuv420p")
        codec = self.codec
        # libvpx refuses pts that do not rise; a new shape needs a new encoder.
        if codec is None or (codec.width, codec.height) != (width, height) or pts <= self.last_pts:
            codec = self.codec = self._open(width, height)
            keyframe = True
        self.last_pts = pts
        scaled.pts = pts
        scaled.time_base = VIDEO_TIME_BASE
        scaled.pict_type = PictureType.I if keyframe else PictureType.NONE
        packets = codec.encode(scaled)
        for packet in packets:
            packet.time_base = VIDEO_TIME_BASE
        return packets


class PacketTrack(MediaStreamTrack):
    """What one subscriber's ``RTCRtpSender`` reads: shared encoded packets, through a
    bounded queue of its own. Joins its level on the first ``recv`` (when the sender
    starts), leaves it on ``stop`` (when the sender or the peer connection stops)."""

    def __init__(self, relay: Relay, kind: str, level: str | None) -> None:
        super().__init__()
        self.kind = kind
        self.relay = relay
        self.level = level
        self.queue: deque[Packet] = deque()
        self.limit = VIDEO_QUEUE_MAX if kind == "video" else AUDIO_QUEUE_MAX
        self.need_keyframe = kind == "video"
        self.joined = False
        self.waiter: asyncio.Future[None] | None = None
        self.last_pli = 0.0
        self.sent = 0
        self.flushes = 0

    def push(self, packet: Packet, keyframe: bool) -> None:
        if self.need_keyframe:
            if not keyframe:
                return
            self.need_keyframe = False
        if len(self.queue) >= self.limit:
            # Behind by more than the queue holds: catching up would only add delay.
            self.queue.clear()
            self.flushes += 1
            if self.kind == "video" and not keyframe:
                self.need_keyframe = True
                self.relay.request_keyframe(self.level)
                return
        self.queue.append(packet)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> Packet:
        if not self.joined:
            self.joined = True
            self.relay._join(self)
        while not self.queue:
            if self.readyState != "live":
                raise MediaStreamError
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        self.sent += 1
        return self.queue.popleft()

    def request_keyframe(self) -> None:
        """A PLI or FIR from this subscriber, passed on to the shared encoder."""
        now = time.monotonic()
        if self.kind == "video" and now - self.last_pli >= SUBSCRIBER_PLI_INTERVAL_S:
            self.last_pli = now
            self.relay.request_keyframe(self.level)

    def switch(self, level: str) -> None:
        """Move to another level without renegotiating: same SSRC, new key frame."""
        if level == self.level or self.kind != "video":
            return
        self.relay._leave(self)
        self.level = level
        self.queue.clear()
        self.need_keyframe = True
        if self.joined:
            self.relay._join(self)

    def stop(self) -> None:
        if self.readyState == "live":
            self.relay._leave(self)
            self.queue.clear()
        super().stop()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class VideoLevel:
    def __init__(self, spec: LevelSpec) -> None:
        self.spec = spec
        self.encoder = VideoEncoder(spec)
        self.subscribers: set[PacketTrack] = set()
        self.keyframe_pending = True
        self.last_forced = -KEYFRAME_MIN_INTERVAL_S
        self.frames = 0
        self.bytes = 0
        self.keyframes = 0

    def take_keyframe(self, now: float) -> bool:
        if self.keyframe_pending and now - self.last_forced >= KEYFRAME_MIN_INTERVAL_S:
            self.keyframe_pending = False
            self.last_forced = now
            return True
        return False


@dataclass
class RelayStats:
    frames_in: int = 0
    frames_dropped: int = 0
    width: int = 0
    height: int = 0
    last_frame_at: float = 0.0
    audio_frames_in: int = 0


PacketSink = Callable[[str, Packet, bool], None]


class Relay:
    """One session's relay. Outlives publishers: when the host reconnects, the new
    publication is attached to the same relay and every subscriber carries on."""

    def __init__(self, levels: dict[str, LevelSpec] | None = None) -> None:
        self.levels = {name: VideoLevel(spec) for name, spec in (levels or LEVELS).items()}
        self.audio_subscribers: set[PacketTrack] = set()
        self.sinks: dict[str, tuple[str, PacketSink]] = {}  # recorders: id -> (level, sink)
        self.stats = RelayStats()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-encode")
        self.tasks: set[asyncio.Task[None]] = set()
        self.video_pts = -1
        self.last_source_pts: int | None = None
        self.last_source_at = 0.0
        self.audio_pts = 0
        self.audio_encoder: av.AudioCodecContext | None = None
        self.resampler: av.AudioResampler | None = None
        self.closed = False

    # --- publisher side ------------------------------------------------------------------

    def attach(self, *, video: MediaStreamTrack | None, audio: MediaStreamTrack | None) -> None:
        """Start reading a (new) publisher's tracks; any previous reader is stopped."""
        self.detach()
        self.last_source_pts = None
        for level in self.levels.values():
            level.keyframe_pending = True
        loop = asyncio.get_running_loop()
        if video is not None:
            self._spawn(loop, self._read_video(video))
        if audio is not None:
            self._open_audio_encoder()  # so a recording can write Opus's header at once
            self._spawn(loop, self._read_audio(audio))

    def detach(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    def _spawn(self, loop: asyncio.AbstractEventLoop, coro: object) -> None:
        # A fresh context: the request that attached the publisher ends long before this.
        task = loop.create_task(coro, context=contextvars.Context())  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _next_video_pts(self, frame: VideoFrame) -> int:
        """Source timing where it is sane, otherwise one nominal frame: only ever forward."""
        now = time.monotonic()
        step = int(NOMINAL_FRAME_S * 90000)
        if self.last_source_pts is not None and frame.pts is not None and frame.time_base:
            source = int(frame.pts * frame.time_base * 90000)
            delta = source - self.last_source_pts
            if 0 < delta <= MAX_FRAME_GAP_S * 90000:
                step = delta
        elif self.video_pts >= 0 and self.last_source_at:
            # A new publisher: keep the wall-clock gap (bounded) so players stay in time.
            gap = min(now - self.last_source_at, MAX_FRAME_GAP_S)
            step = max(step, int(gap * 90000))
        if frame.pts is not None and frame.time_base:
            self.last_source_pts = int(frame.pts * frame.time_base * 90000)
        self.last_source_at = now
        self.video_pts = self.video_pts + step if self.video_pts >= 0 else 0
        return self.video_pts

    async def _read_video(self, source: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        backlog: asyncio.Queue | None = getattr(source, "_queue", None)
        try:
            while True:
                frame = await source.recv()
                # Frames queued past a few are delay, not picture: skip to the newest. A
                # couple are let through, so a loop that was briefly late loses none.
                while backlog is not None and backlog.qsize() > MAX_DECODED_BACKLOG:
                    newer = backlog.get_nowait()
                    if newer is None:
                        return
                    self.stats.frames_dropped += 1
                    frame = newer
                self.stats.frames_in += 1
                self.stats.width, self.stats.height = frame.width, frame.height
                self.stats.last_frame_at = time.monotonic()
                active = [
                    level
                    for name, level in self.levels.items()
                    if level.subscribers or any(lv == name for lv, _ in self.sinks.values())
                ]
                if not active:
                    self.video_pts = self._next_video_pts(frame)
                    continue
                pts = self._next_video_pts(frame)
                now = time.monotonic()
                jobs = [(level, level.take_keyframe(now)) for level in active]
                results = await loop.run_in_executor(self.executor, _encode_all, frame, pts, jobs)
                for level, packets in results:
                    self._fan_out(level, packets)
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("video relay stopped")

    def _fan_out(self, level: VideoLevel, packets: list[Packet]) -> None:
        for packet in packets:
            keyframe = packet.is_keyframe
            level.frames += 1
            level.bytes += packet.size
            if keyframe:
                level.keyframes += 1
            for track in tuple(level.subscribers):
                track.push(packet, keyframe)
            for sink_level, sink in self.sinks.values():
                if sink_level == level.spec.name:
                    sink("video", packet, keyframe)

    async def _read_audio(self, source: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await source.recv()
                self.stats.audio_frames_in += 1
                if not self.audio_subscribers and not self.sinks:
                    continue
                for packet in self._encode_audio(frame):
                    for track in tuple(self.audio_subscribers):
                        track.push(packet, True)
                    for _, sink in self.sinks.values():
                        sink("audio", packet, True)
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("audio relay stopped")

    def _encode_audio(self, frame: AudioFrame) -> list[Packet]:
        """Opus, once for everyone; about 0.1 ms per 20 ms frame, so on the loop."""
        self._open_audio_encoder()
        assert self.resampler is not None and self.audio_encoder is not None
        packets: list[Packet] = []
        for chunk in self.resampler.resample(frame):
            chunk.pts = self.audio_pts
            chunk.time_base = AUDIO_TIME_BASE
            self.audio_pts += chunk.samples
            for packet in self.audio_encoder.encode(chunk):
                packet.time_base = AUDIO_TIME_BASE
                packets.append(packet)
        return packets

    def _open_audio_encoder(self) -> None:
        if self.audio_encoder is None:
            codec = av.CodecContext.create("libopus", "w")
            codec.sample_rate = AUDIO_RATE
            codec.layout = "stereo"
            codec.format = "s16"
            codec.bit_rate = AUDIO_BITRATE
            codec.time_base = AUDIO_TIME_BASE
            codec.open()
            self.audio_encoder = codec
            self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)

    def audio_extradata(self) -> bytes | None:
        return bytes(self.audio_encoder.extradata) if self.audio_encoder is not None else None

    # --- subscriber side -----------------------------------------------------------------

    def subscribe(self, *, level: str | None, audio: bool = True) -> list[PacketTrack]:
        """Tracks for one subscriber: video at ``level`` (None: audio only), and audio."""
        tracks = []
        if level is not None:
            if level not in self.levels:
                raise ValueError(f"unknown level {level!r}")
            tracks.append(PacketTrack(self, "video", level))
        if audio:
            tracks.append(PacketTrack(self, "audio", None))
        return tracks

    def _join(self, track: PacketTrack) -> None:
        if self.closed:
            return
        if track.kind == "audio":
            self.audio_subscribers.add(track)
        elif track.level in self.levels:
            self.levels[track.level].subscribers.add(track)
            self.request_keyframe(track.level)

    def _leave(self, track: PacketTrack) -> None:
        self.audio_subscribers.discard(track)
        for level in self.levels.values():
            level.subscribers.discard(track)

    def request_keyframe(self, level: str | None) -> None:
        if level in self.levels:
            self.levels[level].keyframe_pending = True

    def add_sink(self, sink_id: str, level: str, sink: PacketSink) -> None:
        """A recorder: gets ``level``'s video and the audio, as subscribers do."""
        self.sinks[sink_id] = (level, sink)
        self.request_keyframe(level)

    def remove_sink(self, sink_id: str) -> None:
        self.sinks.pop(sink_id, None)

    def subscriber_counts(self) -> dict[str, int]:
        counts = {name: len(level.subscribers) for name, level in self.levels.items()}
        counts["audio"] = len(self.audio_subscribers)
        return counts

    async def close(self) -> None:
        """Stop reading, end every subscriber's track, free the encoder thread."""
        self.closed = True
        self.detach()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for level in self.levels.values():
            for track in tuple(level.subscribers):
                track.stop()
        for track in tuple(self.audio_subscribers):
            track.stop()
        self.sinks.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)


def pin_codecs(transceiver: Any, kind: str) -> None:
    """Only what the relay sends (VP8 + RTX, Opus), whatever the offer prefers, so the
    sender never packs VP8 bytes as H.264."""
    wanted = ("video/vp8", "video/rtx") if kind == "video" else ("audio/opus",)
    codecs = [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]
    transceiver.setCodecPreferences(codecs)


def _encode_all(
    frame: VideoFrame, pts: int, jobs: list[tuple[VideoLevel, bool]]
) -> list[tuple[VideoLevel, list[Packet]]]:
    """On the relay's worker thread: every active level, one after another, so no two
    threads ever touch the same frame."""
    results = []
    for level, keyframe in jobs:
        try:
            results.append((level, level.encoder.encode(frame, pts, keyframe)))
        except (av.FFmpegError, ValueError) as exc:
            log.warning("encoding level %s failed (%s); reopening", level.spec.name, exc)
            level.encoder.codec = None
            level.keyframe_pending = True
    return results


with contextlib.suppress(AttributeError):  # quiet libav's own logging of routine events
    av.logging.set_level(av.logging.ERROR)
