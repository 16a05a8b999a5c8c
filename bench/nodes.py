"""Server processes for benchmarks and multi-node tests: real daphne processes (or another
server the caller names) on loopback, started the way production starts them
(``daphne_command``: the Procfile's listen backlog of 1024), each in its own process
group so that a run, passed or failed, leaves none behind.

The claim benchmark (``bench.claims``) and the fan-out benchmark (``bench.fanout``, one
server pinned to a core with ``taskset``) start their servers here, and so do the tests that
need real nodes (tests/integration/test_coupon_storm.py, tests/integration/test_multinode.py);
those also SIGKILL one to show what a node dying without a goodbye loses.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# Daphne refuses a WebSocket whose handshake is not done within this (its default: 5 s). In
# a join storm handshakes queue behind each other: with 2,500 in flight, 1,838 of 5,000
# viewers were reset at 5 s and none at 30 s (docs/benchmarks.md, "Connect storm").
WEBSOCKET_CONNECT_TIMEOUT_S = 30


def daphne_command(host: str, port: int, app: str) -> list[str]:
    """Daphne as the Procfile's ``web`` line runs it: a listen backlog of 1024 (Twisted's
    default of 50 refuses a storm of viewers joining at once) and a handshake limit that
    lets queued viewers in rather than reset them."""
    interface = host.strip("[]").replace(":", "\\:")
    endpoint = f"tcp:port={port}:interface={interface}:backlog=1024"
    return [
        sys.executable, "-m", "daphne", "-e", endpoint,
        "--websocket_connect_timeout", str(WEBSOCKET_CONNECT_TIMEOUT_S), app,
    ]  # fmt: skip


@dataclass
class Node:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def ws_url(self, path: str) -> str:
        return f"ws://{HOST}:{self.port}{path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> int:
    """Lift the open-file limit to the hard limit (children inherit it): 5,000 sockets
    need 5,000 descriptors in the client and about half that in each node."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def database_url(db: Mapping[str, Any]) -> str:
    """``DATABASE_URL`` for a child process on the database of Django's ``settings_dict``
    (a test's database, which only this process knows the name of)."""
    password = db["PASSWORD"] or ""
    return f"postgres://{db['USER']}:{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def uvicorn_command(port: int, app: str = "server.asgi:application") -> list[str]:
    """The same app under uvicorn, for comparison only (we ship daphne): its websockets
    protocol, plain asyncio, no access log."""
    return [
        sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port),
        "--backlog", "1024", "--log-level", "warning", "--no-access-log",
        "--ws", "websockets", "--loop", "asyncio",
    ]  # fmt: skip


def start_node(
    name: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    app: str = "server.asgi:application",
    command: Callable[[int], list[str]] | None = None,
    cpus: str | None = None,
) -> Node:
    """Start a server on a free loopback port: daphne serving ``app``, or ``command(port)``
    when given; pinned with ``taskset -c cpus`` when given. Its output goes to
    ``log_dir/<name>-<port>.log``."""
    port = free_port()
    argv = command(port) if command is not None else daphne_command(HOST, port, app)
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    log_path = log_dir / f"{name}-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Node(name=name, port=port, proc=proc, log_path=log_path, log=log)


def http_ok(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def tcp_ok(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


def wait_ready(nodes: list[Node], timeout: float = 60.0, path: str | None = "/readyz") -> None:
    """Until every node's ``path`` answers 200 (``/readyz``: it reached PostgreSQL and
    Redis), or, with ``path`` None, until it accepts TCP connections (a server that is not
    ours)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while not (http_ok(node.port, path) if path is not None else tcp_ok(node.port)):
            if node.proc.poll() is not None:
                raise RuntimeError(f"{node.name} exited; see {node.log_path}:\n{tail(node)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} not ready in {timeout} s; see {node.log_path}")
            time.sleep(0.2)


def tail(node: Node, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(node.log_path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def cpu_seconds(nodes: Iterable[Node]) -> float:
    """User and system CPU seconds the nodes' processes have used so far."""
    import psutil

    total = 0.0
    for node in nodes:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(node.proc.pid).cpu_times()
            total += times.user + times.system
    return total


def kill_node(node: Node) -> None:
    """SIGKILL, as the kernel's OOM killer or a lost machine would: no cleanup runs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.proc.pid, signal.SIGKILL)
    node.proc.wait(timeout=10)
    node.log.close()


def stop_node(node: Node) -> None:
    """SIGTERM the node's process group, then SIGKILL what is left."""
    stop_process(node.proc)
    node.log.close()


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the process's group, then SIGKILL what is left: nothing outlives a run."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=8)
