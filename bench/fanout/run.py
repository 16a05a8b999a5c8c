"""Run the fan-out benchmark: every variant in one run, side by side, with ratios.

For each variant a server starts pinned to one core (``taskset``), the load client
(``bench.fanout.client``) opens N viewers on one live session from another core, and this
runner, on the client's core, publishes ``--events`` events at ``--rate`` per second and
records when each was published. It prints, per variant: viewers connected, events
delivered, delivery latency p50/p99/max, messages/s, server CPU per delivered message,
client CPU, and server memory per idle connection (RSS delta / viewers).

Variants (``--variants``):

- ``baseline``   a minimal ``websockets`` broadcast server, no Django (``bench.fanout.baseline``)
- ``daphne``     our app as we ship it: daphne, ``LiveConsumer``, the per-process broadcaster
- ``daphne-nofreeze`` the same with ``LIVE_GC_FREEZE_MIN_SOCKETS=0``: full garbage
                 collections walk every socket's objects again (``server.heap`` off)
- ``daphne-asgi`` the same, with broadcasts through the ASGI ``send`` chain (no fast path)
- ``uvicorn``    the same app under uvicorn, which has no fast path: compare with
                 ``daphne-asgi`` to price daphne itself (we still ship daphne)
- ``group``      daphne, one consumer per viewer fed by ``group_send`` (channels-redis pub/sub
                 layer, the one we configure)
- ``group-core`` the same with channels-redis's core layer

Everything stays on loopback and is bounded: ``--clients`` viewers, ``--events`` events, a
drain timeout. It uses its own PostgreSQL database (created and migrated when missing) and
Redis db 13 unless told otherwise, and stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.nodes import (
    ROOT,
    Node,
    cpu_seconds,
    raise_nofile,
    start_node,
    stop_node,
    stop_process,
    uvicorn_command,
    wait_ready,
)
from bench.stage import add_run_arguments, live_session, parse_run_arguments, setup_django
from bench.stats import percentile

VARIANTS = (
    "baseline", "daphne", "daphne-nofreeze", "daphne-asgi", "uvicorn", "group", "group-core",
)  # fmt: skip
DEFAULT_VARIANTS = ("baseline", "daphne", "daphne-asgi", "uvicorn", "group")
DJANGO_VARIANTS = set(VARIANTS) - {"baseline"}


# --- processes --------------------------------------------------------------------------


class Client:
    """The load client process, spoken to one JSON line at a time."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def say(self, word: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(word + "\n")
            self.proc.stdin.flush()

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line, or None on timeout; raises if the client died."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            raise RuntimeError(f"load client exited with {self.proc.wait()}")
        return dict(json.loads(line))

    def close(self) -> None:
        self.say("close")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)


# --- the session and the publisher -------------------------------------------------------


def tick_event(k: int, pad: int) -> Any:
    """A benchmark event, typed like every other event (``publisher.Event``)."""
    from server.publisher import Event

    class BenchTick(Event):
        type = "bench.tick"
        k: int
        pad: str

    return BenchTick(k=k, pad="x" * pad)


async def publish_all(variant: str, session_id: int, options: argparse.Namespace) -> list[float]:
    """Publish ``--events`` events at ``--rate``; returns when each left this process."""
    from bench.fanout import session_group
    from server.publisher import frame_parts, publish_now

    layer: Any = None
    if variant == "group":
        from channels_redis.pubsub import RedisPubSubChannelLayer

        layer = RedisPubSubChannelLayer(hosts=[options.redis_url], prefix="talad")
    elif variant == "group-core":
        from channels_redis.core import RedisChannelLayer

        layer = RedisChannelLayer(hosts=[options.redis_url], prefix="talad-bench")
    events = [tick_event(k, options.pad) for k in range(options.events)]
    sent: list[float] = []
    start = time.monotonic() + 0.1
    for k, event in enumerate(events):
        await asyncio.sleep(max(0.0, start + k / options.rate - time.monotonic()))
        if layer is None:
            sent.append(time.monotonic())
            publish_now(session_id, event)
        else:
            head, tail = frame_parts(event.type, event.model_dump(mode="json"))
            frame = head + str(k + 1) + tail
            sent.append(time.monotonic())
            message = {"type": "bench.frame", "frame": frame}
            await layer.group_send(session_group(session_id), message)
    if layer is not None:
        with contextlib.suppress(Exception):
            await layer.flush()
    return sent


# --- one run ------------------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    clients: int
    ready: int = 0
    failed: int = 0
    connect_s: float = 0.0
    delivered: int = 0
    expected: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    lost_after_ready: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    msgs_per_s: float = 0.0
    burst_msgs_per_s: float = 0.0
    server_cpu_s: float = 0.0
    server_us_per_msg: float = float("nan")
    client_cpu_s: float = 0.0
    client_cpu_pct: float = 0.0
    kb_per_conn: float = float("nan")
    errors: dict[str, int] = field(default_factory=dict)
    event_max_ms: list[float] = field(default_factory=list)
    note: str = ""


def server_command(variant: str, port: int, session_id: int, channel: str) -> list[str]:
    python = sys.executable
    if variant == "baseline":
        return [python, "-m", "bench.fanout.baseline", "--port", str(port), "--channel", channel]
    if variant == "uvicorn":
        return uvicorn_command(port)
    from bench.nodes import daphne_command

    app = {
        "daphne": "server.asgi:application",
        "daphne-nofreeze": "server.asgi:application",
        "daphne-asgi": "bench.fanout.asgi_send_app:application",
    }.get(variant, "bench.fanout.group_app:application")
    return daphne_command("127.0.0.1", port, app)


def ws_path(variant: str, session_id: int) -> str:
    if variant.startswith("group"):
        return f"/ws/group/{session_id}/"
    return f"/ws/live/{session_id}/"


def run_one(variant: str, options: argparse.Namespace, log_dir: Path) -> Result:
    import psutil

    from server.publisher import fanout_channel

    result = Result(variant=variant, clients=options.clients)
    _, session = live_session(title="Fan-out bench")
    session_id = int(session.pk)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": (
            "bench.fanout.settings_core" if variant == "group-core" else "server.settings"
        ),
        "PYTHONUNBUFFERED": "1",
    }
    if variant == "daphne-nofreeze":
        env["LIVE_GC_FREEZE_MIN_SOCKETS"] = "0"
    channel = fanout_channel(session_id)
    server: Node | None = None
    client: Client | None = None
    try:
        server = start_node(
            f"{variant}-{options.clients}",
            env=env,
            log_dir=log_dir,
            command=lambda port: server_command(variant, port, session_id, channel),
            cpus=options.server_cpus,
        )
        wait_ready([server], path="/readyz" if variant in DJANGO_VARIANTS else None)
        proc = psutil.Process(server.proc.pid)
        print(f"  {variant}: server pid {server.proc.pid} on port {server.port}", flush=True)

        url = server.ws_url(ws_path(variant, session_id))
        client_argv = [
            "taskset", "-c", options.client_cpus, sys.executable,
            "-m", "bench.fanout.client", url,
            "--clients", str(options.clients), "--events", str(options.events),
            "--warm", str(options.warm), "--concurrency", str(options.concurrency),
        ]  # fmt: skip
        client = Client(client_argv, env)
        warm = client.read(timeout=120)
        if warm is None:
            raise RuntimeError("warm-up connections timed out")
        time.sleep(1.0)
        rss_before = proc.memory_info().rss
        client.say("ramp")
        ramp = client.read(timeout=options.connect_budget)
        if ramp is None:
            raise RuntimeError(f"connecting {options.clients} viewers took too long")
        result.ready, result.failed = ramp["ready"], ramp["failed"]
        result.connect_s, result.errors = ramp["connect_s"], ramp["errors"]
        time.sleep(options.settle)  # let the viewer count settle and the heap with it
        rss_after = proc.memory_info().rss
        if result.ready > warm["warm"]:
            result.kb_per_conn = (rss_after - rss_before) / 1024 / (result.ready - warm["warm"])

        cpu_before = cpu_seconds([server])
        client.say("go")
        sent = asyncio.run(publish_all(variant, session_id, options))
        finish_by = sent[-1] + options.drain
        while time.monotonic() < finish_by:
            line = client.read(timeout=max(0.01, finish_by - time.monotonic()))
            if line is not None and line.get("done"):
                break
        result.server_cpu_s = cpu_seconds([server]) - cpu_before
        client.say("report")
        report = None
        while report is None:
            line = client.read(timeout=60)
            if line is None:
                raise RuntimeError("the load client did not report")
            report = line.get("report")
    finally:
        if client is not None:
            client.close()
        if server is not None:
            stop_node(server)

    recv: list[list[float]] = report["recv"]
    latencies = sorted(r - sent[k] for k in range(len(sent)) for r in recv[k])
    result.expected = result.ready * options.events
    result.delivered = report["got"]
    result.duplicates, result.out_of_order = report["duplicates"], report["out_of_order"]
    result.lost_after_ready = report["lost_after_ready"]
    if latencies:
        result.p50_ms = percentile(latencies, 0.50) * 1000
        result.p99_ms = percentile(latencies, 0.99) * 1000
        result.max_ms = latencies[-1] * 1000
        last = max(max(r) for r in recv if r)
        result.msgs_per_s = result.delivered / (last - sent[0])
        bursts = [len(r) / (max(r) - sent[k]) for k, r in enumerate(recv) if r]
        result.burst_msgs_per_s = statistics.median(bursts)
        result.server_us_per_msg = result.server_cpu_s / result.delivered * 1e6
        result.event_max_ms = [round((max(r) - sent[k]) * 1000, 1) for k, r in enumerate(recv) if r]
    result.client_cpu_s = report["cpu_s"]
    result.client_cpu_pct = 100 * report["cpu_s"] / max(report["wall_s"], 1e-9)
    return result


# --- output ---------------------------------------------------------------------------------

COLUMNS = (
    ("variant", "{:<11}"), ("clients", "{:>7}"), ("ready", "{:>6}"), ("connect_s", "{:>9.1f}"),
    ("delivered", "{:>9}"), ("expected", "{:>9}"), ("p50_ms", "{:>8.1f}"), ("p99_ms", "{:>8.1f}"),
    ("max_ms", "{:>8.1f}"), ("msgs_per_s", "{:>10.0f}"), ("burst_msgs_per_s", "{:>10.0f}"),
    ("server_us_per_msg", "{:>9.1f}"), ("client_cpu_pct", "{:>7.1f}"), ("kb_per_conn", "{:>7.1f}"),
)  # fmt: skip
HEADERS = (
    "variant", "clients", "ready", "connect_s", "delivered", "expected", "p50 ms", "p99 ms",
    "max ms", "msgs/s", "burst/s", "srv us/msg", "cli %", "KB/conn",
)  # fmt: skip


def table(results: list[Result], baseline_p99: dict[int, float]) -> str:
    widths = [len(fmt.format(getattr(results[0], name))) for name, fmt in COLUMNS]
    widths = [max(w, len(h)) for w, h in zip(widths, HEADERS, strict=True)]
    lines = [" | ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)) + " | p99/base"]
    for r in results:
        cells = [
            fmt.format(getattr(r, name)).rjust(w)
            for (name, fmt), w in zip(COLUMNS, widths, strict=True)
        ]
        base = baseline_p99.get(id(r))
        ratio = f"{r.p99_ms / base:.2f}x" if base else "-"
        lines.append(" | ".join(cells) + f" | {ratio}")
        if r.failed or r.duplicates or r.out_of_order or r.errors or r.note:
            lines.append(
                f"    {r.variant}: failed={r.failed} duplicates={r.duplicates}"
                f" out_of_order={r.out_of_order} lost_after_ready={r.lost_after_ready}"
                f" errors={r.errors} {r.note}"
            )
    return "\n".join(lines)


def summary(results: list[Result], baseline_p99: dict[int, float]) -> str:
    """Medians over the rounds: on a shared machine one round's p99 is at the mercy of
    whatever else ran then; the ratio is taken within each round, then its median."""
    lines = ["median over rounds: variant | p50 ms | p99 ms | p99/base | srv us/msg | delivered"]
    for variant in dict.fromkeys(r.variant for r in results):
        runs = [r for r in results if r.variant == variant and r.delivered]
        if not runs:
            continue
        ratios = [r.p99_ms / baseline_p99[id(r)] for r in runs if baseline_p99.get(id(r))]
        ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
        delivered = sum(r.delivered for r in runs) / max(1, sum(r.expected for r in runs))
        lines.append(
            f"  {variant:<11} | {statistics.median(r.p50_ms for r in runs):7.1f}"
            f" | {statistics.median(r.p99_ms for r in runs):7.1f} | {ratio:>7}"
            f" | {statistics.median(r.server_us_per_msg for r in runs):6.1f}"
            f" | {100 * delivered:.1f}%"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=2000, help="viewers (default 2000)")
    parser.add_argument("--rate", type=float, default=2.0, help="events per second (default 2)")
    parser.add_argument("--events", type=int, default=20, help="events published (default 20)")
    parser.add_argument("--pad", type=int, default=120, help="bytes of padding per event")
    parser.add_argument(
        "--variants", default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, from {', '.join(VARIANTS)}",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every variant")
    parser.add_argument("--server-cpus", default="0", help="taskset list for the server")
    parser.add_argument("--client-cpus", default="1", help="taskset list for client and runner")
    parser.add_argument("--warm", type=int, default=20, help="viewers before the memory baseline")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle after the ramp")
    parser.add_argument(
        "--drain", type=float, default=15.0, help="seconds to wait after the last event"
    )
    parser.add_argument("--connect-budget", type=float, default=300.0, help="seconds for the ramp")
    add_run_arguments(parser, database="talad_bench_fanout", redis_db=13)
    options = parse_run_arguments(parser, argv, VARIANTS)
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    nofile = raise_nofile()
    if nofile < options.clients + 256:
        print(f"open-file limit {nofile} is below {options.clients} viewers", file=sys.stderr)
        return 2
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(c) for c in options.client_cpus.split(",")})
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DB_POOL_MAX", "4")
    setup_django(database_url=options.database_url, redis_url=options.redis_url)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    load = os.getloadavg()
    print(
        f"fan-out: {options.clients} viewers, {options.events} events at {options.rate}/s,"
        f" server on cpu {options.server_cpus}, client on cpu {options.client_cpus};"
        f" load average {load[0]:.2f} {load[1]:.2f}; logs in {log_dir}",
        flush=True,
    )
    results: list[Result] = []
    ratios: dict[int, float] = {}
    for round_no in range(options.repeat):
        round_results: list[Result] = []
        for variant in options.variant_list:
            try:
                result = run_one(variant, options, log_dir)
            except Exception as exc:
                result = Result(variant=variant, clients=options.clients, note=f"FAILED: {exc}")
            round_results.append(result)
            print(
                f"round {round_no + 1} {variant}: p99 {result.p99_ms:.1f} ms,"
                f" {result.delivered}/{result.expected} delivered {result.note}",
                flush=True,
            )
        base = next((r for r in round_results if r.variant == "baseline"), None)
        if base is not None and base.p99_ms == base.p99_ms:
            for r in round_results:
                ratios[id(r)] = base.p99_ms
        results.extend(round_results)
    print()
    print(table(results, ratios))
    if options.repeat > 1:
        print()
        print(summary(results, ratios))
    if options.json is not None:
        options.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    complete = all(r.delivered == r.expected and r.ready == r.clients for r in results)
    return 0 if complete else 1
