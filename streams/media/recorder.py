"""Recording a publication to WebM from the relay's own packets: no extra encoder.

The relay already encodes the top level (VP8) and the audio (Opus) once; a recording is
one more consumer of those packets, muxed into WebM on a writer thread of its own so file
I/O never stalls the event loop. Each publication is one part; a host who reconnects
starts the next part (docs/video.md), and ``Recording`` rows list them in order.
"""

from __future__ import annotations

import fractions
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
from av.packet import Packet

log = logging.getLogger(__name__)

# Packets the writer may fall behind by (about 10 s) before the recording drops some.
QUEUE_MAX = 1000
MS = fractions.Fraction(1, 1000)


class WebmRecorder:
    """Copies each packet (the relay shares them with subscribers) and muxes the copies."""

    def __init__(
        self,
        path: Path,
        *,
        video_shape: Callable[[], tuple[int, int]],
        audio_extradata: Callable[[], bytes | None],
    ) -> None:
        self.path = path
        self.video_shape = video_shape
        self.audio_extradata = audio_extradata
        self.width = self.height = 0
        self.queue: queue.Queue[tuple[str, Packet] | None] = queue.Queue(maxsize=QUEUE_MAX)
        self.started = False
        self.origin: dict[str, int] = {}
        self.t0 = 0.0
        self.dropped = 0
        self.packets = 0
        self.first_pts_s: float | None = None
        self.last_pts_s = 0.0
        self.thread = threading.Thread(target=self._write, name="recorder", daemon=True)
        self.thread.start()

    def __call__(self, kind: str, packet: Packet, keyframe: bool) -> None:
        """A relay sink: runs on the event loop, so it only copies and enqueues."""
        now = time.monotonic()
        if not self.started:
            if kind != "video" or not keyframe:
                return  # a file must open on a key frame
            self.started = True
            self.t0 = now
        if packet.pts is None or packet.time_base is None:
            return
        if kind not in self.origin:
            # Both tracks on one clock: each starts where the wall clock says it is.
            self.origin[kind] = packet.pts - int((now - self.t0) / packet.time_base)
        pts = packet.pts - self.origin[kind]
        if pts < 0:
            return
        copy = Packet(bytes(packet))
        copy.pts = copy.dts = pts
        copy.time_base = packet.time_base
        copy.is_keyframe = keyframe
        try:
            self.queue.put_nowait((kind, copy))
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Finish the file; returns once it is complete on disk."""
        self.queue.put(None)
        self.thread.join(timeout=10)

    @property
    def duration_s(self) -> float:
        return 0.0 if self.first_pts_s is None else max(0.0, self.last_pts_s - self.first_pts_s)

    def _write(self) -> None:
        container = None
        streams: dict[str, av.stream.Stream] = {}
        try:
            while (item := self.queue.get()) is not None:
                kind, packet = item
                if container is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    container = av.open(str(self.path), "w", format="webm")
                    video = container.add_stream("libvpx", rate=30)
                    video.width, video.height = self.width, self.height = self.video_shape()
                    video.time_base = MS
                    streams["video"] = video
                    extradata = self.audio_extradata()
                    if extradata:
                        audio = container.add_stream("libopus", rate=48000)
                        audio.codec_context.extradata = extradata
                        audio.time_base = MS
                        streams["audio"] = audio
                stream = streams.get(kind)
                if stream is None or packet.pts is None:
                    continue
                seconds = float(packet.pts * packet.time_base)
                if kind == "video":
                    if self.first_pts_s is None:
                        self.first_pts_s = 0.0
                    self.last_pts_s = max(self.last_pts_s, seconds)
                packet.stream = stream
                container.mux(packet)
                self.packets += 1
        except Exception:
            log.exception("recording %s failed; the part ends here", self.path)
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    log.exception("closing recording %s failed", self.path)
