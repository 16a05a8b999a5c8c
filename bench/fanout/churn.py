"""Viewer churn against ``server.heap``: what freezing the heap costs in memory, and what it
saves in stalls, while an audience comes and goes.

One daphne node (our app, core 0) per variant; this process (core 1) holds ``--clients``
viewers on one live session, publishes an event every 0.5 s, and every ``--round-s``
seconds closes ``--turnover`` random viewers and opens as many new ones. After each round
it prints the node's RSS and the worst delivery latency of the round's events (a full
collection shows as a stall of every viewer at once). Variants:

- ``freeze``   ``LIVE_GC_FREEZE_MIN_SOCKETS`` at its default (1,000): ``server.heap`` on
- ``nofreeze`` ``LIVE_GC_FREEZE_MIN_SOCKETS=0``: CPython's own full collections only

    .venv/bin/python -m bench.fanout.churn --clients 3000 --turnover 500 --rounds 12

It uses the fan-out benchmark's database and Redis db (``--database-url``, ``--redis-url``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.fanout.client import K_MARK, TICK_PREFIX
from bench.fanout.run import tick_event
from bench.nodes import Node, raise_nofile, start_node, stop_node, wait_ready
from bench.stage import add_run_arguments, live_session, parse_run_arguments, setup_django
from bench.wsclient import LightSocket, new_loop, open_socket

VARIANTS = ("freeze", "nofreeze")
EVENT_EVERY_S = 0.5


class Watcher(LightSocket):
    """A viewer that notes, per event, the latest delivery across viewers."""

    __slots__ = ("worst",)

    def __init__(self, url: str, worst: dict[int, float]) -> None:
        super().__init__(url)
        self.worst = worst

    def on_text(self, payload: bytes, now: float) -> None:
        if payload.startswith(TICK_PREFIX):
            start = payload.index(K_MARK) + 4
            k = int(payload[start : payload.index(b",", start)])
            if now > self.worst.get(k, 0.0):
                self.worst[k] = now


def rss_mb(node: Node) -> float:
    import psutil

    return float(psutil.Process(node.proc.pid).memory_info().rss) / 2**20


async def churn(node: Node, session_id: int, options: argparse.Namespace) -> list[str]:
    from server.publisher import publish_now

    url = node.ws_url(f"/ws/live/{session_id}/")
    worst: dict[int, float] = {}
    sent: dict[int, float] = {}
    errors: Counter[str] = Counter()
    limit = asyncio.Semaphore(200)

    async def join() -> Watcher | None:
        sock = Watcher(url, worst)
        async with limit:
            ok = await open_socket(sock, "127.0.0.1", node.port, timeout=30, errors=errors)
        return sock if ok else None

    async def join_many(n: int) -> list[Watcher]:
        return [s for s in await asyncio.gather(*(join() for _ in range(n))) if s is not None]

    stop = asyncio.Event()

    async def publish() -> None:
        k = 0
        while not stop.is_set():
            sent[k] = time.monotonic()
            publish_now(session_id, tick_event(k, 0))
            k += 1
            await asyncio.sleep(EVENT_EVERY_S)

    lines = []
    viewers = await join_many(options.clients)
    await asyncio.sleep(3)
    lines.append(f"round  0: {len(viewers)} viewers, RSS {rss_mb(node):7.1f} MB")
    publisher = asyncio.get_running_loop().create_task(publish())
    try:
        for round_no in range(1, options.rounds + 1):
            first_k = len(sent)
            random.shuffle(viewers)
            leaving, viewers = viewers[: options.turnover], viewers[options.turnover :]
            for sock in leaving:
                sock.close()
            viewers += await join_many(options.turnover)
            await asyncio.sleep(options.round_s)
            done = [k for k in range(first_k, len(sent) - 2) if k in worst]
            stall = max((worst[k] - sent[k] for k in done), default=float("nan"))
            lines.append(
                f"round {round_no:2}: {len(viewers)} viewers, RSS {rss_mb(node):7.1f} MB,"
                f" worst delivery {stall * 1000:6.0f} ms over {len(done)} events"
            )
            print(f"  {lines[-1]}", flush=True)
    finally:
        stop.set()
        await publisher
        for sock in viewers:
            sock.close()
    if errors:
        lines.append(f"connect errors: {dict(errors)}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout.churn", description=__doc__)
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--turnover", type=int, default=500, help="viewers replaced per round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--round-s", type=float, default=4.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    add_run_arguments(parser, database="talad_bench_fanout", redis_db=13)
    options = parse_run_arguments(parser, argv, VARIANTS)
    raise_nofile()
    os.environ.setdefault("DEBUG", "false")
    setup_django(database_url=options.database_url, redis_url=options.redis_url)
    os.sched_setaffinity(0, {1})
    log_dir = Path(tempfile.mkdtemp(prefix="bench-churn-"))
    report = {}
    for variant in options.variant_list:
        _, session = live_session(title="Churn bench")
        env = {**os.environ, "LOG_LEVEL": "INFO"}
        if variant == "nofreeze":
            env["LIVE_GC_FREEZE_MIN_SOCKETS"] = "0"
        node = start_node(f"churn-{variant}", env=env, log_dir=log_dir, cpus="0")
        try:
            wait_ready([node])
            print(f"{variant}: node pid {node.proc.pid}, log {node.log_path}", flush=True)
            with asyncio.Runner(loop_factory=new_loop) as runner:
                report[variant] = runner.run(churn(node, int(session.pk), options))
            refreshes = node.log_path.read_text(errors="replace").count("heap refreshed")
            report[variant].append(f"heap refreshes logged: {refreshes}")
        finally:
            stop_node(node)
    for variant, lines in report.items():
        print(f"\n{variant} ({options.clients} viewers, {options.turnover} replaced per round)")
        for line in lines:
            print(f"  {line}")


if __name__ == "__main__":
    main()
