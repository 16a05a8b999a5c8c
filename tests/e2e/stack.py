"""The whole platform and a real Chromium in a network namespace with only ``lo`` up.

Browser tests drive pages as people do, but no packet may leave loopback (WebRTC would
otherwise try every interface, and Chromium calls home). So:

- a holder process (``unshare -n``) owns a fresh network namespace, brings ``lo`` up and
  forwards 127.0.0.1:5432 and :6379 inside it to unix sockets (tests/e2e/tunnel.py), which
  lead to the test PostgreSQL and Redis outside;
- daphne (web and media) and, when asked, a Celery worker run inside it (``nsenter``);
- Playwright launches Debian's Chromium through a wrapper that enters the namespace. It
  drives the browser over a pipe, so control needs no network at all;
- the test itself reaches the web process over a unix socket (``Stack.http``).

Pages are opened at ``stack.url`` (http://127.0.0.1:PORT inside the namespace). Users are
signed in by a session cookie made in the test process (``Stack.page(user=...)``). Every
page records console errors and uncaught exceptions; ``Stack.assert_clean`` fails on any.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.e2e.tunnel import unix_to_tcp

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 390, "height": 844}

# Runs inside the namespace: lo up, the two tunnels, then wait to be killed.
_HOLDER = """
import os, subprocess, sys, time
sys.path.insert(0, {root!r})
from tests.e2e.tunnel import tcp_to_unix, unix_to_tcp
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
tcp_to_unix(5432, {pg!r})
tcp_to_unix(6379, {redis!r})
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def usable() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return "needs Debian's chromium (.ci/run installs it)"
    if os.geteuid() != 0:
        return "a network namespace needs root (CI runs as root)"
    if not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
        return "needs unshare, nsenter (util-linux) and ip (iproute2)"
    return None


def _free_port_inside(pid: int) -> int:
    """A port free inside the namespace: ports there are a separate space, so ask there."""
    out = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c",
         "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    return int(out.stdout.strip())


@dataclass
class Namespace:
    """The holder process, its tunnels and the wrapper that runs Chromium inside."""

    pid: int
    folder: Path
    holder: subprocess.Popen
    listeners: list[socket.socket]
    chromium: Path

    @classmethod
    def open(cls, *, database: dict[str, Any], redis_url: str) -> Namespace:
        folder = Path(tempfile.mkdtemp(prefix="talad-e2e-"))
        redis = urlsplit(redis_url)
        listeners = [
            unix_to_tcp(str(folder / "pg.sock"), database["HOST"] or "127.0.0.1",
                        int(database["PORT"] or 5432)),
            unix_to_tcp(str(folder / "redis.sock"), redis.hostname or "127.0.0.1",
                        redis.port or 6379),
        ]  # fmt: skip
        script = _HOLDER.format(
            root=str(ROOT), pg=str(folder / "pg.sock"), redis=str(folder / "redis.sock")
        )
        holder = subprocess.Popen(
            ["unshare", "-n", sys.executable, "-c", script],
            stdout=subprocess.PIPE, stderr=(folder / "holder.log").open("w"), text=True,
        )  # fmt: skip
        line = holder.stdout.readline() if holder.stdout else ""
        if line.strip() != "ready":
            holder.kill()
            raise RuntimeError(f"namespace holder failed: {(folder / 'holder.log').read_text()}")
        chromium = folder / "chromium"
        chromium.write_text(
            f'#!/bin/sh\nexec nsenter --net=/proc/{holder.pid}/ns/net {CHROMIUM} "$@"\n'
        )
        chromium.chmod(0o755)
        return cls(holder.pid, folder, holder, listeners, chromium)

    def interfaces(self) -> list[str]:
        out = subprocess.run(
            ["nsenter", f"--net=/proc/{self.pid}/ns/net", "ip", "-o", "link"],
            capture_output=True, text=True, check=True, timeout=10,
        )  # fmt: skip
        return [line.split(":")[1].strip() for line in out.stdout.splitlines()]

    def spawn(
        self, argv: list[str], env: dict[str, str], log: str, *, mode: str = "w"
    ) -> subprocess.Popen:
        return subprocess.Popen(
            ["nsenter", f"--net=/proc/{self.pid}/ns/net", *argv],
            cwd=ROOT, env=env, stdout=(self.folder / log).open(mode), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(timeout=10)
        for listener in self.listeners:
            listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    # A test's servers owe nobody a graceful exit: a media process still closing its peer
    # connections, or a worker finishing a task, gets a few seconds, then SIGKILL.
    deadline = time.monotonic() + 4
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@dataclass
class Stack:
    """Web, media and (optionally) a worker inside the namespace, and a browser to use them."""

    ns: Namespace
    browser: Any
    url: str
    media_url: str
    procs: list[subprocess.Popen]
    http: httpx.Client
    pages: list[Any] = field(default_factory=list)
    # name ("web", "media", "worker") -> its command line and environment, for down()
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)

    def log(self, name: str) -> str:
        path = self.ns.folder / f"{name}.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def page(
        self,
        user: Any = None,
        *,
        viewport: dict[str, int] | None = None,
        locale: str = "en-US",
    ) -> Any:
        """A new browser context (its own cookies) and page, signed in as ``user``."""
        context = self.browser.new_context(viewport=viewport or PHONE, locale=locale)
        if user is not None:
            from django.test import Client

            client = Client()
            client.force_login(user)
            cookie = client.cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": self.url}])
        context.set_default_timeout(15_000)
        return self._recorded(context.new_page())

    def tab(self, page: Any) -> Any:
        """Another page in ``page``'s browser context: the same person, signed in as they
        are there (by a cookie or through the login form), in a second tab."""
        return self._recorded(page.context.new_page())

    def _recorded(self, page: Any) -> Any:
        page.errors = []  # type: ignore[attr-defined]
        page.on(
            "console",
            lambda m: m.type == "error" and page.errors.append(f"console: {m.text[:300]}"),
        )
        page.on("pageerror", lambda e: page.errors.append(f"pageerror: {str(e)[:300]}"))
        self.pages.append(page)
        return page

    def open(self, page: Any, path: str) -> Any:
        response = page.goto(self.url + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def wait_media(self, *, host: Any, session_id: int, timeout: float = 20) -> None:
        """Until web would send ``host``'s WHIP offer to a media process (307): it does
        once that process has announced itself in Redis; before, it answers 503."""
        from django.test import Client

        client = Client()
        client.force_login(host)
        cookies = {"sessionid": client.cookies["sessionid"].value}
        deadline = time.monotonic() + timeout
        while True:
            reply = self.http.post(
                f"/api/sessions/{session_id}/whip", content="v=0\r\n", cookies=cookies,
                headers={"Content-Type": "application/sdp"},
            )  # fmt: skip
            if reply.status_code == 307:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no media process known to web: {reply.status_code}\n"
                                   f"{self.log('media')}")
            time.sleep(0.2)

    @contextlib.contextmanager
    def down(self, name: str = "web") -> Iterator[None]:
        """Process ``name`` killed as a crash kills it (SIGKILL: no close frames, no
        goodbyes) for the ``with`` block, then started again with the same command on the
        same port; for web, the block ends once it answers again. Pages keep their
        Open pages stay open: they see what a viewer sees when a server dies."""
        argv, env = self.commands[name]
        index = next(i for i, p in enumerate(self.procs) if p.args[2:] == argv)
        old = self.procs[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(old.pid, signal.SIGKILL)
        old.wait(timeout=10)
        try:
            yield
        finally:
            self.procs[index] = self.ns.spawn(argv, env, f"{name}.log", mode="a")
        if name == "web":
            _wait_up(self.http, self.procs[index], self.log("web"))

    def restart(self, name: str = "web") -> None:
        """Kill process ``name`` and start it again at once (see down())."""
        with self.down(name):
            pass

    @staticmethod
    def assert_clean(page: Any) -> None:
        assert not page.errors, page.errors

    @staticmethod
    def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
        """Saved into docs/screenshots/ (the README shows them) and returned."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


def _wait_up(http: httpx.Client, proc: subprocess.Popen, log: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not come up:\n{log}")
        time.sleep(0.2)


@contextlib.contextmanager
def running(
    ns: Namespace,
    browser: Any,
    *,
    database_url: str,
    redis_url: str,
    media: bool = True,
    worker: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the processes inside ``ns``; stop them (and close the pages) afterwards."""
    web_port = _free_port_inside(ns.pid)
    media_port = _free_port_inside(ns.pid) if media else 0
    while media and media_port == web_port:
        media_port = _free_port_inside(ns.pid)
    url, media_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{media_port}"
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DB_POOL_MAX": "0",
        "MEDIA_ICE_HOST_ADDRESSES": "127.0.0.1",
        "MEDIA_RECORDING": "false",
        "ALLOWED_HOSTS": "*",
        # CSP's connect-src names no host for "*": pages may follow WHIP/WHEP's 307 to the
        # media process only because it is listed, as a deployment lists its media origins.
        "MEDIA_PUBLIC_ORIGINS": media_url if media else "",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]
    commands = {"web": ([*daphne, "-p", str(web_port), "server.asgi:application"], base)}
    if media:
        commands["media"] = (
            [*daphne, "-p", str(media_port), "server.media_asgi:application"],
            {**base, "MEDIA_NODE_URL": media_url},
        )
    if worker:
        commands["worker"] = (
            [sys.executable, "-m", "celery", "-A", "server", "worker", "-l", "warning",
             "--pool", "threads", "--concurrency", "2", "--without-heartbeat",
             "--without-gossip", "--without-mingle"],
            base,
        )  # fmt: skip
    procs = [ns.spawn(argv, env, f"{name}.log") for name, (argv, env) in commands.items()]
    # The test's way in: a unix socket outside that ends at the web port inside.
    relay = ns.folder / f"web-{web_port}.sock"
    procs.append(ns.spawn(
        [sys.executable, "-c",
         "import sys, time; sys.path.insert(0, sys.argv[1]);"
         "from tests.e2e.tunnel import unix_to_tcp;"
         "unix_to_tcp(sys.argv[2], '127.0.0.1', int(sys.argv[3])); print('ok', flush=True);"
         "time.sleep(10**6)", str(ROOT), str(relay), str(web_port)],
        base, "relay.log",
    ))  # fmt: skip
    for _ in range(100):
        if relay.exists():
            break
        time.sleep(0.05)
    http = httpx.Client(
        transport=httpx.HTTPTransport(uds=str(relay)), base_url=url, timeout=20,
        headers={"Host": f"127.0.0.1:{web_port}"},
    )  # fmt: skip
    stack = Stack(ns, browser, url, media_url, procs, http, commands=commands)
    try:
        _wait_up(http, procs[0], stack.log("web"))
        yield stack
    finally:
        for page in stack.pages:
            with contextlib.suppress(Exception):
                page.context.close()
        http.close()
        _stop(procs)
