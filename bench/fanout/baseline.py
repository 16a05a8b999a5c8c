"""The baseline: the smallest broadcast server ``websockets`` allows, with no Django.

It takes the same events from the same place as our path (the publisher's Redis pub/sub
channel for one session, ``<seq> <frame>``) and hands each frame to every connection with
``websockets.broadcast``, which encodes once and writes to each socket without a coroutine.
What our path costs beyond this is what Django, Channels, daphne and our broadcaster add.

    python -m bench.fanout.baseline --port 8765 --channel 'live:{session:1}:fanout'
"""

from __future__ import annotations

import argparse
import asyncio

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

HELLO = '{"type":"hello"}'


async def main(options: argparse.Namespace) -> None:
    viewers: set[ServerConnection] = set()

    async def handler(connection: ServerConnection) -> None:
        viewers.add(connection)
        try:
            await connection.send(HELLO)  # the client counts a viewer ready on its first frame
            await connection.wait_closed()
        finally:
            viewers.discard(connection)

    client = aioredis.Redis.from_url(options.redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(options.channel)
    async with serve(
        handler, options.host, options.port, backlog=1024, compression=None, max_size=2**16
    ):
        print(f"baseline listening on {options.host}:{options.port}", flush=True)
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
            if message is None or message["type"] != "message":
                continue
            payload: bytes = message["data"]
            broadcast(viewers, payload[payload.index(b" ") + 1 :], text=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--channel", required=True, help="the session's fan-out channel")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
