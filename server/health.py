"""Liveness and readiness probes for load balancers and the demo launcher."""

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse

from server.redis import redis_client

log = logging.getLogger(__name__)


def dependency_status() -> dict[str, bool]:
    """Whether the database and Redis answer right now (short timeouts, never raises)."""
    status = {"database": False, "redis": False}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = True
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness: database unreachable: %s", exc)
    try:
        status["redis"] = bool(redis_client().ping())
    except Exception as exc:
        log.warning("readiness: redis unreachable: %s", exc)
    return status


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to take traffic only when the database and Redis both answer."""
    status = dependency_status()
    ready = all(status.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", **status}, status=200 if ready else 503
    )
