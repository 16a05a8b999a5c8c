"""One place that knows how to reach Redis, so a restarted Redis is reached again."""

import functools

import redis
from django.conf import settings


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=15,
        retry_on_timeout=False,
    )


def redis_client() -> redis.Redis:
    """The process's shared sync client (a connection pool) for ``settings.REDIS_URL``."""
    return _client(settings.REDIS_URL)
