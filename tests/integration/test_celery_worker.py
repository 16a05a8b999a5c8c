"""A real Celery worker process runs tasks end to end through Redis (no eager mode)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from server.tasks import ping

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def worker_process(
    settings, *, env: dict[str, str] | None = None, beat: bool = False
) -> Iterator[subprocess.Popen]:
    """A worker on the same broker and the same (test) database as the test; ``env`` adds
    settings' variables, ``beat`` embeds beat (its periodic sweeps). The worker leads a
    process group of its own, all of which is ended afterwards (or already killed)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "server", "worker", "--pool", "solo"]
    command += ["--concurrency", "1", "--without-heartbeat", "--without-gossip"]
    command += ["--without-mingle", "-l", "warning"]
    if beat:
        Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
        command += ["-B", "-s", str(Path(settings.DATA_DIR) / f"beat-{os.getpid()}")]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_runs_a_task_through_redis(settings):
    with worker_process(settings):
        result = ping.delay().get(timeout=60)
        # the worker answered, and it reached the database and Redis itself
        assert result["pong"] is True
        assert result["database"] is True
        assert result["redis"] is True
        assert result["worker"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_cancels_an_unpaid_order_at_its_deadline(settings):
    from orders.models import Order
    from orders.services.placing import order_place
    from tests.integration.order_world import ADDRESS, assert_stock_conserved, user, world

    settings.ORDER_PAYMENT_TTL_S = 2
    w = world()
    with worker_process(settings):
        order = order_place(
            buyer=user("slow"), session=w["session"].pk,
            items=[{"product": w["product"].pk, "qty": 3}], claim=None, address=ADDRESS,
            payment_method="promptpay", now=timezone.now(),
        )  # fmt: skip
        # the task scheduled at placement (eta = the deadline) cancels it, not beat's sweep
        deadline = time.monotonic() + 30
        while Order.objects.get(pk=order.pk).status != "cancelled":
            assert time.monotonic() < deadline, "the deadline task never ran"
            time.sleep(0.2)
    order.refresh_from_db()
    assert order.cancel_reason == "payment_timeout"
    w["item"].refresh_from_db()
    assert w["item"].left == 10
    assert_stock_conserved(w["product"], 40)
