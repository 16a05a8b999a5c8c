"""The demo launcher end to end: what a newcomer's ``./talad demo`` does, as a subprocess.

It runs on the embedded default (SQLite and a private Redis in a temporary data folder), not
on the test PostgreSQL and Redis, so it needs no database fixture; REDIS_URL and
DATABASE_URL are removed from its environment on purpose.
"""

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from redis import Redis

from frontend.management.commands.seed_demo import FARMS
from server.launcher import MARKER_ENV
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/environ").exists(), reason="finds leftover processes through /proc"
    ),
]

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 150
STOP_TIMEOUT_S = 20
OPEN_LINE = re.compile(r"^\s*Open\s+(http://\S+?)/?\s*$")
NODES = "media:nodes"  # streams.media.routing.NODES_KEY, read from outside
MEDIA_LINE = re.compile(r"^\s*Media\s+(http://\S+?)/?\s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes_for(data_dir: Path) -> list[tuple[int, str]]:
    """Live processes that belong to a launcher run on ``data_dir``.

    Children carry the launcher's marker in their environment; Redis rewrites its own
    environment area for its process title, so it is found by the socket in its title.
    """
    marker = f"{MARKER_ENV}={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] == "Z":
            continue
        if marker in environ or str(data_dir) in cmdline:
            found.append((int(entry.name), cmdline))
    return found


class Launcher:
    """``python -m server.launcher`` with its output read on a thread, so it never blocks."""

    def __init__(self, data_dir: Path, port: int, *options: str) -> None:
        env = dict(os.environ)
        for name in ("REDIS_URL", "DATABASE_URL", MARKER_ENV):
            env.pop(name, None)
        env.update(
            DJANGO_SETTINGS_MODULE="server.settings",
            TALAD_DATA_DIR=str(data_dir),
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.launcher", "--port", str(port),
             "--ready-timeout", "120", *options],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def output(self, last: int = 80) -> str:
        return "\n".join(self.lines[-last:])

    def wait_for_url(self, timeout: float) -> str:
        """The app URL from the banner, which the launcher prints once /readyz is 200."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(
                    f"launcher exited ({self.proc.wait()}) before it was ready:\n{self.output()}"
                )
            if match := OPEN_LINE.match(line):
                return match.group(1)
        pytest.fail(f"launcher printed no URL within {timeout}s:\n{self.output()}")


@pytest.fixture
def launcher(tmp_path: Path, request) -> Iterator[tuple[Launcher, Path]]:
    data_dir = tmp_path / "data"
    run = Launcher(data_dir, _free_port(), *getattr(request, "param", ()))
    try:
        yield run, data_dir
    finally:
        # A failed test must not leave a platform running on the machine.
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGTERM)
            try:
                run.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                run.proc.wait()
        for pid, _ in _processes_for(data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_demo_launcher_serves_seeded_api_and_stops_cleanly(launcher):
    run, data_dir = launcher

    # given a launcher that says where to open the app
    base = run.wait_for_url(STARTUP_TIMEOUT_S)
    port = int(base.rsplit(":", 1)[1])

    # then it is ready and serves the seeded farms
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/readyz").status_code == 200
        farms = http.get("/api/farms/")
        assert farms.status_code == 200
        names = {farm["name"] for farm in farms.json()["results"]}
        assert {farm["name"] for farm in FARMS} <= names
        # with the seeded past (on the embedded SQLite too): income over several months
        impact = http.get("/api/impact/").json()
        assert sum(Decimal(m["income"]) > 0 for m in impact["months"]) >= 3, impact

        # and a newcomer can sign up over HTTP
        username = f"smoke_{uuid.uuid4().hex[:10]}"
        reply = http.post("/api/auth/register/", json={"username": username, "password": PASSWORD})
        assert reply.status_code == 201, reply.text
        body = reply.json()
        assert body["username"] == username
        assert body["token"]
        me = http.get("/api/me/", headers={"Authorization": f"Token {body['token']}"})
        assert me.status_code == 200
        assert me.json()["username"] == username

    # and media runs where honcho put it (web's port + 100), announced under that same URL,
    # so web processes send WHIP/WHEP where the media process really listens
    media = next(m.group(1) for line in run.lines if (m := MEDIA_LINE.match(line)))
    assert media == f"http://127.0.0.1:{port + 100}"
    assert httpx.get(f"{media}/readyz", timeout=10).status_code == 200
    redis = Redis(unix_socket_path=str(data_dir / "redis.sock"))
    nodes = [
        json.loads(redis.get(f"media:node:{n.decode()}")) for n in redis.smembers("media:nodes")
    ]
    assert [node["url"] for node in nodes] == [media]
    redis.close()

    # and the Procfile's release step ran once, before, not as a process of the demo
    assert _started(run) == {"web.1", "media.1", "worker.1", "beat.1"}
    assert _processes_for(data_dir), "the launcher's children should be running"

    # when Ctrl-C reaches the launcher
    run.proc.send_signal(signal.SIGINT)

    # then it stops everything it started and exits 0
    try:
        code = run.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"launcher still running {STOP_TIMEOUT_S}s after SIGINT:\n{run.output()}")
    assert code == 0, run.output()
    assert _processes_for(data_dir) == []
    assert not (data_dir / "redis.sock").exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "nothing should listen on the web port"


LOGIN_LINE = re.compile(r"^\s*viewer\s+(\S+)\s+password:\s+(\S+)")
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_demo_sells_to_a_seeded_viewer_live_cod_and_promptpay_through_the_sandbox(launcher):
    run, _ = launcher
    base = run.wait_for_url(STARTUP_TIMEOUT_S)
    # given the viewer login the launcher printed, the seeded session live now with its
    # showcase, and a seeded product of the catalogue
    username, password = next(m.groups() for line in run.lines if (m := LOGIN_LINE.match(line)))
    rice = FARMS[1]["products"][1]
    with httpx.Client(base_url=base, timeout=20) as http:
        login = http.post("/api/auth/token/", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Token {login.json()['token']}"}
        [live] = [s for s in http.get("/api/sessions/").json()["results"] if s["status"] == "live"]
        offer = http.get(f"/api/sessions/{live['id']}/").json()["showcase"][0]
        products = http.get("/api/products/").json()["results"]
        [product] = [p for p in products if p["name"] == rice["name"]]

        def order(method: str, product: int, session: int | None = None) -> dict:
            reply = http.post(
                "/api/orders/",
                headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                json={
                    "session": session,
                    "items": [{"product": product, "qty": 2}],
                    "address": {"name": "Nok", "phone": "0812345678", "line1": "1 Moo 1",
                                "province": "Nan", "postcode": "55000"},
                    "payment_method": method,
                },
            )  # fmt: skip
            assert reply.status_code == 201, reply.text
            return reply.json()

        # when the viewer buys from the live, cash on delivery, then rice by PromptPay
        cod = order("cod", offer["product"], live["id"])
        promptpay = order("promptpay", product["id"])

        # then the COD order is accepted at the live price, out of the live's allotment,
        # and the PromptPay one waits for its payment at the catalogue price
        assert cod["status"] == "accepted"
        assert Decimal(cod["subtotal"]) == Decimal(offer["live_price"]) * 2
        after = http.get(f"/api/sessions/{live['id']}/").json()["showcase"][0]
        assert after["left"] == offer["left"] - 2
        assert promptpay["status"] == "pending_payment"
        assert Decimal(promptpay["subtotal"]) == Decimal(rice["price"]) * 2
        assert promptpay["payment"]["qr_payload"]
        sandbox = promptpay["payment"]["sandbox_url"]
        assert sandbox == f"/sandbox/pay/{promptpay['payment']['reference']}/"

        # when the viewer confirms it on the sandbox page (a browser: its CSRF cookie and form)
        page = http.get(sandbox)
        assert page.status_code == 200
        token = CSRF_INPUT.search(page.text).group(1)
        paid = http.post(
            sandbox, data={"outcome": "pay", "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}{sandbox}"},
        )  # fmt: skip
        assert paid.status_code in (200, 302), paid.text

        # then the order reads paid over the API, and the rice's stock lost its 2 units
        seen = http.get(f"/api/orders/{promptpay['id']}/", headers=auth).json()
        assert seen["status"] == "paid", seen
        assert seen["payment"]["status"] == "succeeded", seen["payment"]
        assert http.get(f"/api/products/{product['id']}/").json()["stock"] == product["stock"] - 2
        # (beside the orders the seed gave the viewer in past lives)
        mine = http.get("/api/orders/", headers=auth).json()["results"]
        statuses = {o["id"]: o["status"] for o in mine if o["id"] in (cod["id"], promptpay["id"])}
        assert statuses == {cod["id"]: "accepted", promptpay["id"]: "paid"}


def _started(run: Launcher) -> set[str]:
    """The processes honcho reports it started, by name."""
    return {line.split("|", 1)[1].split()[0] for line in run.lines if "started (pid=" in line}


@pytest.mark.parametrize("launcher", [("--no-worker",)], indirect=True)
def test_demo_without_worker_starts_web_and_media_only(launcher):
    run, data_dir = launcher
    base = run.wait_for_url(STARTUP_TIMEOUT_S)
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    assert _started(run) == {"web.1", "media.1"}
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(timeout=STOP_TIMEOUT_S) == 0, run.output()
    assert _processes_for(data_dir) == []
