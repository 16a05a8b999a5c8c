"""Web nodes for storms: real daphne processes on loopback, started the way production
starts them (``server.launcher.daphne_command``: a listen backlog of 1024), each in its own
process group so that a run, passed or failed, leaves none behind.

The storm test and the benchmark both start nodes here; the test also SIGKILLs one to show
that a process dying between the gate and the database loses no promised claim.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from server.launcher import daphne_command

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Node:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> int:
    """Lift the open-file limit to the hard limit (children inherit it): 5,000 sockets
    need 5,000 descriptors in the client and about half that in each node."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_node(
    name: str,
    *,
    env: dict[str, str],
    log_dir: Path,
    app: str = "server.asgi:application",
) -> Node:
    port = free_port()
    log_path = log_dir / f"{name}-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        daphne_command("127.0.0.1", port, app),
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Node(name=name, port=port, proc=proc, log_path=log_path, log=log)


def _ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_ready(nodes: list[Node], timeout: float = 60.0) -> None:
    """Until every node's ``/readyz`` answers 200 (it reached PostgreSQL and Redis)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while not _ready(node.port):
            if node.proc.poll() is not None:
                raise RuntimeError(f"{node.name} exited; see {node.log_path}:\n{tail(node)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} not ready in {timeout} s; see {node.log_path}")
            time.sleep(0.2)


def tail(node: Node, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(node.log_path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def kill_node(node: Node) -> None:
    """SIGKILL, as the kernel's OOM killer or a lost machine would: no cleanup runs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.proc.pid, signal.SIGKILL)
    node.proc.wait(timeout=10)
    node.log.close()


def stop_node(node: Node) -> None:
    """SIGTERM the node's process group, then SIGKILL what is left."""
    if node.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGTERM)
        try:
            node.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=8)
    node.log.close()
