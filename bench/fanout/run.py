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
import http.client
import json
import os
import queue
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("baseline", "daphne", "daphne-asgi", "uvicorn", "group", "group-core")
DEFAULT_VARIANTS = ("baseline", "daphne", "daphne-asgi", "uvicorn", "group")
DJANGO_VARIANTS = {"daphne", "daphne-asgi", "uvicorn", "group", "group-core"}


# --- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> int:
    """Lift this process's open-file limit to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def http_ok(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def tcp_ok(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def stop(proc: subprocess.Popen[Any] | None) -> None:
    """SIGTERM the process group, then SIGKILL what is left: nothing outlives a run."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=8)


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
            stop(self.proc)


# --- the session and the publisher -------------------------------------------------------


def setup_django(options: argparse.Namespace) -> None:
    """Point this process at the bench database and Redis, creating and migrating the
    database when it is missing (it is the bench's own, never a test or demo database)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "server.settings"
    os.environ["DATABASE_URL"] = options.database_url
    os.environ["REDIS_URL"] = options.redis_url
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DB_POOL_MAX", "4")
    if options.database_url.startswith("postgres"):
        import psycopg

        name = options.database_url.rsplit("/", 1)[1]
        admin = options.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def create_session() -> int:
    """A live session with a host and a farm, made through the services as the app does."""
    import uuid

    from django.utils import timezone

    from catalog import services as catalog
    from server.accounts import services as accounts
    from streams import services

    suffix = uuid.uuid4().hex[:8]
    host = accounts.user_register(
        username=f"bench-host-{suffix}", password=f"Mango-{uuid.uuid4().hex}!", role="host"
    )
    farm = catalog.farm_create(owner=host, name="Bench farm", province="Nan", district="Pua")
    now = timezone.now()
    session = services.session_create(host=host, farm=farm, title="Fan-out bench", now=now)
    services.session_start(session=session, actor=host, now=now)
    return int(session.pk)


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
    from server.groups import session_group
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
        return [
            python, "-m", "uvicorn", "server.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--backlog", "1024", "--log-level", "warning",
            "--no-access-log", "--ws", "websockets", "--loop", "asyncio",
        ]  # fmt: skip
    from server.launcher import daphne_command

    app = {
        "daphne": "server.asgi:application",
        "daphne-asgi": "bench.fanout.asgi_send_app:application",
    }.get(variant, "bench.fanout.group_app:application")
    return daphne_command("127.0.0.1", port, app)


def ws_path(variant: str, session_id: int) -> str:
    if variant.startswith("group"):
        return f"/ws/group/{session_id}/"
    return f"/ws/live/{session_id}/"


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_one(variant: str, options: argparse.Namespace, log_dir: Path) -> Result:
    import psutil

    from server.publisher import fanout_channel

    result = Result(variant=variant, clients=options.clients)
    session_id = create_session()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": (
            "bench.fanout.settings_core" if variant == "group-core" else "server.settings"
        ),
        "PYTHONUNBUFFERED": "1",
    }
    argv = server_command(variant, port, session_id, fanout_channel(session_id))
    log_path = log_dir / f"{variant}-{options.clients}-{port}.log"
    server: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    with log_path.open("wb") as log:
        try:
            server = subprocess.Popen(
                ["taskset", "-c", options.server_cpus, *argv],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 60
            ready = (
                (lambda: http_ok(port, "/readyz"))
                if variant in DJANGO_VARIANTS
                else (lambda: tcp_ok(port))
            )
            while not ready():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{variant} did not start; see {log_path}")
                time.sleep(0.2)
            proc = psutil.Process(server.pid)
            print(f"  {variant}: server pid {server.pid} on port {port}", flush=True)

            url = f"ws://127.0.0.1:{port}{ws_path(variant, session_id)}"
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

            cpu = proc.cpu_times()
            cpu_before = cpu.user + cpu.system
            client.say("go")
            sent = asyncio.run(publish_all(variant, session_id, options))
            finish_by = sent[-1] + options.drain
            while time.monotonic() < finish_by:
                line = client.read(timeout=max(0.01, finish_by - time.monotonic()))
                if line is not None and line.get("done"):
                    break
            cpu = proc.cpu_times()
            result.server_cpu_s = cpu.user + cpu.system - cpu_before
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
            stop(server)

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
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/talad_bench_fanout"),
    )  # fmt: skip
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    )
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    options = parser.parse_args(argv)
    options.variant_list = [v.strip() for v in options.variants.split(",") if v.strip()]
    unknown = set(options.variant_list) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    nofile = raise_nofile()
    if nofile < options.clients + 256:
        print(f"open-file limit {nofile} is below {options.clients} viewers", file=sys.stderr)
        return 2
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(c) for c in options.client_cpus.split(",")})
    setup_django(options)
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
