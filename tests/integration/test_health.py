"""/healthz and /readyz against a real Redis that stops and comes back."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, so stopping it disturbs nobody else."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (scripts/services.sh installs it)"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(settings) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(_free_port())
    redis.start()
    settings.REDIS_URL = f"redis://127.0.0.1:{redis.port}/0"
    yield redis
    redis.stop()


def _wait_for_status(client, status: int, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while True:
        reply = client.get("/readyz")
        if reply.status_code == status or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def test_healthz_is_always_up(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_follows_redis_down_and_up(client, private_redis):
    # given a reachable database and Redis
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": True, "redis": True}
    # when Redis stops
    private_redis.stop()
    down = _wait_for_status(client, 503)
    # then
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable", "database": True, "redis": False}
    # and when it comes back, so does readiness
    private_redis.start()
    back = _wait_for_status(client, 200)
    assert back.status_code == 200
    assert back.json()["redis"] is True
