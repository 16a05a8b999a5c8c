"""Run the media relay benchmark: stock ``MediaRelay`` and our relay, one after the other
in one run, same publisher, same viewers, same machine.

    python -m bench.media [--max-viewers 400] [--step 5]

For each relay: start its server process, a 640x360 30 fps publisher and a process of
light viewers; measure the server's CPU with no viewer; then add viewers a step at a time
(the same step for both, and both encode at the same bitrate: ``bench.media.server``),
let them settle, and over a window measure the frame rate each viewer gets and the
server's CPU. Stop at the first step whose mean delivered rate is below 28 fps; the count
is the last step at or above it. CPU per viewer is (CPU at that count - CPU idle) / count,
in percent of one core. Prints a table per relay, then the two counts and their ratio.
Everything is on loopback and bounded (``--max-viewers``, one window per step).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
TARGET_FPS = 28.0
SETTLE_S = 3.0
WINDOW_S = 4.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def cpu_seconds(proc: subprocess.Popen) -> float:
    times = psutil.Process(proc.pid).cpu_times()
    return times.user + times.system


@dataclass
class Step:
    viewers: int
    mean_fps: float
    min_fps: float
    server_cpu: float  # percent of one core
    viewers_cpu: float
    connected: int
    source_fps: float  # what reached the relay from the publisher
    skipped: int  # decoded frames our relay skipped to stay current (0 for stock)


@dataclass
class Result:
    mode: str
    idle_cpu: float = 0.0
    steps: list[Step] = field(default_factory=list)

    @property
    def count(self) -> int:
        passing = [s.viewers for s in self.steps if s.mean_fps >= TARGET_FPS]
        return max(passing, default=0)

    @property
    def cpu_per_viewer(self) -> float:
        step = next((s for s in self.steps if s.viewers == self.count), None)
        if step is None or not step.viewers:
            return float("nan")
        return (step.server_cpu - self.idle_cpu) / step.viewers


class Stats:
    """Asks the server how many frames reached its relay (its own TCP line)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rwb")

    def frames(self) -> tuple[int, int]:
        self.file.write(b'{"role": "stats"}\n')
        self.file.flush()
        reply = json.loads(self.file.readline())
        return reply["frames_in"], reply["dropped"]


def measure(mode: str, step: int, max_viewers: int) -> Result:
    port = free_port()
    server = spawn("bench.media.server", "--mode", mode, "--port", str(port))
    started = [server]
    try:
        assert server.stdout.readline().strip() == "ready", "server did not start"
        publisher = spawn("bench.media.peers", "--role", "publish", "--port", str(port))
        started.append(publisher)
        assert publisher.stdout.readline().strip() == "ready", "publisher did not start"
        viewers = spawn("bench.media.peers", "--role", "viewers", "--port", str(port))
        started.append(viewers)
        json.loads(viewers.stdout.readline())
        stats = Stats(port)
        time.sleep(2.0)

        result = Result(mode)
        before, at = cpu_seconds(server), time.monotonic()
        time.sleep(WINDOW_S)
        result.idle_cpu = 100 * (cpu_seconds(server) - before) / (time.monotonic() - at)
        print(f"[{mode}] idle server CPU {result.idle_cpu:.1f}% of a core", flush=True)

        count = 0
        while count < max_viewers:
            count = min(max_viewers, count + step)
            viewers.stdin.write(f"add {step}\n")
            viewers.stdin.flush()
            json.loads(viewers.stdout.readline())
            time.sleep(SETTLE_S)
            server_before, viewers_before = cpu_seconds(server), cpu_seconds(viewers)
            frames_before, dropped_before = stats.frames()
            at = time.monotonic()
            viewers.stdin.write(f"report {WINDOW_S}\n")
            viewers.stdin.flush()
            report = json.loads(viewers.stdout.readline())
            elapsed = time.monotonic() - at
            frames_after, dropped_after = stats.frames()
            fps = report["fps"]
            row = Step(
                viewers=len(fps),
                mean_fps=statistics.fmean(fps),
                min_fps=min(fps),
                server_cpu=100 * (cpu_seconds(server) - server_before) / elapsed,
                viewers_cpu=100 * (cpu_seconds(viewers) - viewers_before) / elapsed,
                connected=report["connected"],
                source_fps=(frames_after - frames_before) / elapsed,
                skipped=dropped_after - dropped_before,
            )
            result.steps.append(row)
            print(
                f"[{mode}] {row.viewers:4d} viewers ({row.connected} connected): "
                f"mean {row.mean_fps:5.1f} fps, min {row.min_fps:5.1f}; "
                f"server CPU {row.server_cpu:5.1f}%, viewers' process {row.viewers_cpu:5.1f}%; "
                f"source {row.source_fps:4.1f} fps in, {row.skipped} skipped",
                flush=True,
            )
            if row.mean_fps < TARGET_FPS:
                break
        viewers.stdin.write("quit\n")
        viewers.stdin.flush()
        return result
    finally:
        for proc in reversed(started):
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.media",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--max-viewers", type=int, default=400)
    parser.add_argument("--step", type=int, default=5, help="viewers added per step, both relays")
    options = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    stock = measure("stock", options.step, options.max_viewers)
    ours = measure("ours", options.step, options.max_viewers)
    print()
    print("relay            viewers >= 28 fps   server CPU per viewer   idle server CPU")
    for result in (stock, ours):
        print(
            f"{result.mode:16s} {result.count:17d}   {result.cpu_per_viewer:18.2f}%"
            f"   {result.idle_cpu:14.1f}%"
        )
    ratio = ours.count / stock.count if stock.count else float("inf")
    print(
        f"ratio (ours / stock): {ratio:.1f}x viewers; "
        f"{stock.cpu_per_viewer / ours.cpu_per_viewer:.1f}x less CPU per viewer"
    )
    print(f"load average {os.getloadavg()[0]:.2f} at end (other work on the machine shows here)")
    return 0
