"""The media process for real: daphne running ``server.media_asgi``, peers over real UDP
on loopback, its memory watched from outside, and what happens when it dies."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.db import connection
from django.utils import timezone

from bench.media import clients
from catalog import services as catalog
from server.accounts import services as accounts
from streams import services as sessions
from streams.media import routing
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STALL_WINDOW_S = 30
# What a media process may grow by while a viewer never reads for STALL_WINDOW_S. Its queue
# is bounded (relay.VIDEO_QUEUE_MAX packets of ~4 KB); this leaves room for allocator noise.
STALL_GROWTH_BOUND_MB = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MediaProcess:
    def __init__(self, settings, *, ttl_s: float = 6.0, record: bool = False) -> None:
        db = connection.settings_dict
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": (
                f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}"
                f"/{db['NAME']}"
            ),
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_NODE_URL": self.url,
            "MEDIA_ICE_HOST_ADDRESSES": "127.0.0.1",
            "MEDIA_NODE_TTL_S": str(ttl_s),
            "MEDIA_RECORDING": "true" if record else "false",
            "DB_POOL_MAX": "0",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "server.media_asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the media process died on start"
            assert time.monotonic() < deadline, "the media process did not start"
            time.sleep(0.2)

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 1e6

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def media_settings(settings):
    settings.MEDIA_ICE_HOST_ADDRESSES = ["127.0.0.1"]
    clients.loopback_only()
    return settings


@pytest.fixture
def live():
    host = accounts.user_register(username="host1", password=PASSWORD, role="host")
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    now = timezone.now()
    session = sessions.session_create(host=host, farm=farm, title="Live", now=now)
    sessions.session_start(session=session, actor=host, now=now)
    return session, accounts.token_get_or_create(user=host)


@pytest.fixture
def processes():
    started: list = []
    yield started
    for item in started:
        if isinstance(item, MediaProcess):
            item.stop(signal.SIGKILL)
        else:
            with_kill(item)


def with_kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def node_peers(node_url: str) -> int | None:
    for node in routing.nodes_alive():
        if node.url == node_url:
            return node.peers
    return None


async def test_a_viewer_that_never_reads_does_not_grow_the_media_process(
    media_settings, live, processes
):
    session, token = live
    media = MediaProcess(media_settings)
    processes.append(media)
    whip, whep = (f"{media.url}/api/sessions/{session.pk}/{kind}" for kind in ("whip", "whep"))
    async with httpx.AsyncClient(timeout=20) as http:
        publisher = await clients.publish(
            http, whip, token=token, video=clients.TestPattern(640, 360), audio=clients.Silence()
        )
        assert publisher.status == 201, publisher.body
        watcher = await clients.play(http, whep, quality="hd", light=True)
        assert watcher.status == 201

        # given: a viewer in another process, connected, then frozen (SIGSTOP): it never
        # reads its socket again, nor answers ICE consent checks
        stalled = subprocess.Popen(
            [sys.executable, "-m", "bench.media.clients", "play", whep, "--quality", "hd",
             "--loopback"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        processes.append(stalled)
        line = await asyncio.to_thread(stalled.stdout.readline)
        while "connected" not in line or "frames=0" in line:
            line = await asyncio.to_thread(stalled.stdout.readline)
            assert line, "the stalled viewer's process ended"
        stalled.send_signal(signal.SIGSTOP)
        await until(lambda: node_peers(media.url) == 3, 10, "the media process to count 3 peers")

        # when: 30 s pass
        baseline = media.rss_mb()
        window_start = time.monotonic()
        peak = baseline
        while time.monotonic() - window_start < STALL_WINDOW_S:
            await asyncio.sleep(1)
            peak = max(peak, media.rss_mb())
        window_end = time.monotonic()

        # then: the process stayed within its bound, and the other viewer kept its frame rate
        fps = watcher.fps(window_start, window_end)
        print(f"media RSS {baseline:.1f} MB, peak {peak:.1f} MB; the other viewer {fps:.1f} fps")
        assert peak - baseline < STALL_GROWTH_BOUND_MB, (baseline, peak)
        assert fps >= 25
        # and the frozen viewer is reaped once ICE consent expires (about 30 s unanswered)
        await until(lambda: node_peers(media.url) == 2, 20, "the stalled viewer to be reaped")
        await watcher.close()
        await publisher.pc.close()


async def test_a_media_process_that_dies_frees_its_session_for_the_host(
    media_settings, live, processes
):
    session, token = live
    first = MediaProcess(media_settings, ttl_s=1.5)
    second = MediaProcess(media_settings, ttl_s=1.5)
    processes += [first, second]
    path = f"/api/sessions/{session.pk}/whip"
    async with httpx.AsyncClient(timeout=10) as http:
        publisher = await clients.publish(
            http, first.url + path, token=token, video=clients.TestPattern(160, 90)
        )
        assert publisher.status == 201
        owner = routing.owner_id(session_id=session.pk)
        await publisher.pc.close()

        # when: the process holding the session is killed outright
        first.stop(signal.SIGKILL)

        # then: at most one TTL later, the host republishes through the other process
        deadline = time.monotonic() + 10
        while True:
            try:
                again = await clients.publish(
                    http, second.url + path, token=token, video=clients.TestPattern(160, 90)
                )
                if again.status == 201:
                    break
                await again.pc.close()
            except httpx.ConnectError:  # redirected to the dead process
                pass
            assert time.monotonic() < deadline, "the session was never freed"
            await asyncio.sleep(0.5)
        assert routing.owner_id(session_id=session.pk) not in (None, owner)
        await again.pc.close()

        # and a process that stops cleanly frees its sessions at once
        second.stop(signal.SIGTERM)
        assert routing.owner_id(session_id=session.pk) is None
