"""The load client: N WebSocket viewers in one process, light enough not to be the limit.

Each viewer is a ``bench.wsclient.LightSocket`` (websockets' sans-I/O ``ClientProtocol`` on a
bare ``asyncio.Protocol``): no task, no queue and no coroutine per message. The high-level
client costs about 50 µs a message, which at 5,000 viewers and 2 events/s would make the
client the thing measured. Frames are not parsed as JSON: a benchmark tick is recognised by
its prefix and its index ``k`` read from the bytes, and the receive time is taken once per
``data_received`` call.

The runner (``bench.fanout.run``) drives it over stdin/stdout, one line each way:

    -> {"warm": n}                           the first --warm viewers are in
    <- ramp
    -> {"ready": n, "failed": f, "connect_s": s, "errors": {...}}
    <- go                                    start counting CPU
    -> {"done": true}                        every viewer has every event (at most once)
    <- report
    -> {"report": {...}}                     receive times per event, counts, CPU
    <- close

A viewer is ready once it has its first text frame (our snapshot, or the baselines' hello):
by then the server has subscribed it, so no benchmark event can be published too early.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import threading
import time
from collections import Counter

from websockets.uri import parse_uri

from bench.wsclient import LightSocket, new_loop, open_socket

TICK_PREFIX = b'{"type":"bench.tick"'
K_MARK = b'"k":'


class Recorder:
    """What every viewer received, kept as plain lists: one list of receive times per event."""

    def __init__(self, events: int) -> None:
        self.recv: list[list[float]] = [[] for _ in range(events)]
        self.events = events
        self.expected = 0
        self.got = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.lost_after_ready = 0
        self.done = asyncio.Event()

    def tick(self, viewer: Viewer, k: int, now: float) -> None:
        if k <= viewer.last_k:
            if k == viewer.last_k:
                self.duplicates += 1
            else:
                self.out_of_order += 1
            return
        viewer.last_k = k
        self.recv[k].append(now)
        self.got += 1
        if self.got == self.expected:
            self.done.set()


class Viewer(LightSocket):
    """One WebSocket viewer: a benchmark tick is recognised by its prefix and its index ``k``
    read from the bytes and recorded; other frames (the snapshot, viewer counts) are not
    looked at."""

    __slots__ = ("last_k", "recorder")

    def __init__(self, url: str, recorder: Recorder, ready: asyncio.Future[None]) -> None:
        super().__init__(url, ready=ready)
        self.recorder = recorder
        self.last_k = -1

    def on_text(self, payload: bytes, now: float) -> None:
        if payload.startswith(TICK_PREFIX):
            start = payload.index(K_MARK) + 4
            end = payload.index(b",", start)
            self.recorder.tick(self, int(payload[start:end]), now)

    def on_lost(self, exc: Exception | None) -> None:
        if self.last_k < self.recorder.events - 1:
            self.recorder.lost_after_ready += 1


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emit(payload: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Commands:
    """Lines from the runner, read on a thread so the event loop never blocks on stdin."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, line.strip())
        self._loop.call_soon_threadsafe(self.queue.put_nowait, "close")

    async def expect(self, word: str) -> None:
        got = await self.queue.get()
        if got != word:
            raise SystemExit(f"client: expected {word!r} from the runner, got {got!r}")


async def open_viewers(
    url: str,
    count: int,
    recorder: Recorder,
    viewers: list[Viewer],
    *,
    concurrency: int,
    timeout: float,
) -> Counter[str]:
    """Open ``count`` viewers, ``concurrency`` handshakes in flight at a time."""
    loop = asyncio.get_running_loop()
    uri = parse_uri(url)
    gate = asyncio.Semaphore(concurrency)
    errors: Counter[str] = Counter()

    async def one() -> None:
        async with gate:
            viewer = Viewer(url, recorder, loop.create_future())
            if await open_socket(viewer, uri.host, uri.port, timeout=timeout, errors=errors):
                viewers.append(viewer)

    await asyncio.gather(*(one() for _ in range(count)))
    return errors


async def main(options: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    commands = Commands(loop)
    recorder = Recorder(options.events)
    viewers: list[Viewer] = []
    kwargs = {"concurrency": options.concurrency, "timeout": options.connect_timeout}
    started = time.monotonic()
    errors = await open_viewers(options.url, options.warm, recorder, viewers, **kwargs)
    emit({"warm": len(viewers)})
    await commands.expect("ramp")
    errors += await open_viewers(
        options.url, options.clients - options.warm, recorder, viewers, **kwargs
    )
    connect_s = time.monotonic() - started
    recorder.expected = len(viewers) * options.events
    emit(
        {
            "ready": len(viewers),
            "failed": options.clients - len(viewers),
            "connect_s": round(connect_s, 3),
            "connect_cpu_s": round(cpu_s(), 3),
            "errors": dict(errors.most_common(5)),
        }
    )
    await commands.expect("go")
    cpu_start, wall_start = cpu_s(), time.monotonic()
    report_request = asyncio.ensure_future(commands.expect("report"))
    done = asyncio.ensure_future(recorder.done.wait())
    finished, _ = await asyncio.wait({report_request, done}, return_when=asyncio.FIRST_COMPLETED)
    if done in finished:
        emit({"done": True})
        await report_request
    done.cancel()
    emit(
        {
            "report": {
                "recv": recorder.recv,
                "got": recorder.got,
                "duplicates": recorder.duplicates,
                "out_of_order": recorder.out_of_order,
                "lost_after_ready": recorder.lost_after_ready,
                "cpu_s": round(cpu_s() - cpu_start, 4),
                "wall_s": round(time.monotonic() - wall_start, 4),
            }
        }
    )
    with contextlib.suppress(SystemExit):
        await commands.expect("close")
    for viewer in viewers:
        viewer.close()
    await asyncio.sleep(0.2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="ws://host:port/path")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio")
    return parser.parse_args(argv)


def run(options: argparse.Namespace) -> None:
    """Run on uvloop when it is installed (``bench.wsclient.new_loop``)."""
    with asyncio.Runner(loop_factory=lambda: new_loop(uvloop=not options.no_uvloop)) as runner:
        runner.run(main(options))


if __name__ == "__main__":
    run(parse_args())
