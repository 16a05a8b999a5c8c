"""Kernel tasks."""

import socket

from celery import shared_task

from server.health import dependency_status


@shared_task(name="server.ping")
def ping() -> dict[str, object]:
    """Answer from a worker with what it can reach, so operators see a worker is alive
    and wired to the same database and Redis as the web nodes."""
    return {"pong": True, "worker": socket.gethostname(), **dependency_status()}
