"""A real Celery worker process runs a task end to end through Redis (no eager mode)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from server.tasks import ping

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_runs_a_task_through_redis(settings):
    # given a worker on the same broker and the same (test) database
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "server",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        # when
        result = ping.delay().get(timeout=60)
        # then the worker answered, and it reached the database and Redis itself
        assert result["pong"] is True
        assert result["database"] is True
        assert result["redis"] is True
        assert result["worker"]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
