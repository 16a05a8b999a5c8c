"""The client side: the publisher (``--role publish``) and a process of light viewers
(``--role viewers``) that takes ``add N`` / ``report SECONDS`` / ``quit`` on stdin and
answers one JSON line each. Viewers do ICE, DTLS and SRTP and read RTP headers only
(``bench.media.clients``, ``light=True``): no decoding, so they do not cap the count.

    python -m bench.media.peers --role publish|viewers --port P
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from bench.media import clients


class Signalling:
    """Looks enough like an HTTP client for ``clients.publish`` / ``clients.play``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = asyncio.Lock()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ask(self, request: dict) -> dict:
        async with self.lock:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(json.dumps(request).encode() + b"\n")
            await self.writer.drain()
            return json.loads(await self.reader.readline())

    async def post(self, url: str, *, content: str, **_: object) -> Reply:
        role = "publish" if url.startswith("publish") else "play"
        answer = await self.ask({"role": role, "sdp": content})
        return Reply(answer["sdp"])


class Reply:
    status_code = 201
    headers: dict[str, str] = {}

    def __init__(self, text: str) -> None:
        self.text = text


async def publish(port: int) -> None:
    signalling = Signalling(port)
    publisher = await clients.publish(
        signalling, "publish", token=None, video=clients.TestPattern(640, 360, 30)
    )
    print("ready", flush=True)
    while publisher.pc.connectionState not in ("failed", "closed"):
        await asyncio.sleep(1)


async def viewers(port: int) -> None:
    # The load tool yields to the system under test: its packets wait in socket buffers
    # (2 s of video each) and are still counted, so this never lowers what it measures.
    os.nice(10)
    signalling = Signalling(port)
    players: list[clients.Player] = []
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await stdin.readline():
        command, _, arg = line.decode().strip().partition(" ")
        if command == "add":
            for _ in range(int(arg)):
                players.append(await clients.play(signalling, "play", light=True, audio=False))
            reply = {"viewers": len(players)}
        elif command == "report":
            before = [p.frames for p in players]
            started = time.monotonic()
            await asyncio.sleep(float(arg))
            elapsed = time.monotonic() - started
            fps = [(p.frames - b) / elapsed for p, b in zip(players, before, strict=True)]
            connected = sum(1 for p in players if p.pc.connectionState == "connected")
            reply = {"fps": fps, "connected": connected}
        else:
            break
        print(json.dumps(reply), flush=True)
    for player in players:
        await player.pc.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["publish", "viewers"], required=True)
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    clients.loopback_only()
    asyncio.run(publish(options.port) if options.role == "publish" else viewers(options.port))


if __name__ == "__main__":
    main()
