"""The server side of the benchmark: one process, one relay (ours or stock), peers made
exactly as the media process makes them (loopback candidates, VP8 pinned, PLI routed to
the shared encoder for ours). Signalling is one JSON line per peer over TCP, so the
numbers measure the relay and WebRTC, not HTTP or Django.

Both relays encode at the same bitrate, our ``hd`` level's: stock aiortc's per-viewer
encoders are held there (aiortc would start each at 500 kb/s and move it with the
receiver's estimate), so the comparison is of the relays, not of how many bits they send.

    python -m bench.media.server --mode ours|stock --port P
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import vpx
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from bench.media.clients import loopback_only, no_ice_servers
from streams.media.relay import LEVELS, Relay, pin_codecs


def hold_stock_bitrate(bitrate: int) -> None:
    """Every aiortc VP8 encoder in this process starts at ``bitrate`` and stays there:
    its setter clamps what receiver estimates (REMB) ask for to [MIN, MAX]."""
    vpx.DEFAULT_BITRATE = vpx.MIN_BITRATE = vpx.MAX_BITRATE = bitrate


class Counting(MediaStreamTrack):
    """The publisher's decoded track, counted: the rate that reaches the relay."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source
        self._queue = getattr(source, "_queue", None)  # lets our relay skip to the newest
        self.frames = 0

    async def recv(self):
        frame = await self.source.recv()
        self.frames += 1
        return frame


class Server:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.ours = Relay() if mode == "ours" else None
        self.stock = MediaRelay() if mode == "stock" else None
        self.source = None
        self.pcs: set[RTCPeerConnection] = set()
        self.frames_in = 0

    async def publish(self, offer: str) -> str:
        pc = RTCPeerConnection(no_ice_servers())
        self.pcs.add(pc)

        @pc.on("track")
        def _track(track) -> None:
            if track.kind == "video":
                self.source = Counting(track)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        if self.ours is not None:
            self.ours.attach(video=self.source, audio=None)
        return pc.localDescription.sdp

    async def play(self, offer: str) -> str:
        pc = RTCPeerConnection(no_ice_servers())
        self.pcs.add(pc)
        transceiver = pc.addTransceiver("video", direction="sendonly")
        pin_codecs(transceiver, "video")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if self.ours is not None:
            track = self.ours.subscribe(level="hd", audio=False)[0]
            transceiver.sender._send_keyframe = track.request_keyframe
        else:
            # The stock way: a proxy per viewer, whose sender encodes for that viewer alone.
            track = self.stock.subscribe(self.source, buffered=False)
        transceiver.sender.replaceTrack(track)
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    def stats(self) -> dict:
        dropped = self.ours.stats.frames_dropped if self.ours is not None else 0
        return {"frames_in": self.source.frames if self.source else 0, "dropped": dropped}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            if request["role"] == "publish":
                reply = {"sdp": await self.publish(request["sdp"])}
            elif request["role"] == "play":
                reply = {"sdp": await self.play(request["sdp"])}
            else:
                reply = self.stats()
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["ours", "stock"], required=True)
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    loopback_only()
    if options.mode == "stock":
        hold_stock_bitrate(LEVELS["hd"].bitrate)
    server = Server(options.mode)
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", options.port)
    print("ready", flush=True)
    async with tcp:
        await tcp.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
