"""One place that knows how to reach Redis, so a restarted Redis is reached again."""

import asyncio
import functools

import redis
import redis.asyncio as aioredis
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


_async_clients: dict[tuple[asyncio.AbstractEventLoop, str], aioredis.Redis] = {}


def redis_async() -> aioredis.Redis:
    """This event loop's async client: an asyncio connection belongs to the loop that made
    it, and a web process has one loop, so this is one pool per process under daphne."""
    loop = asyncio.get_running_loop()
    for key in [key for key in _async_clients if key[0].is_closed()]:
        del _async_clients[key]
    key = (loop, settings.REDIS_URL)
    client = _async_clients.get(key)
    if client is None:
        # Blocking: a storm of claims waits for a free connection instead of failing
        # with "too many connections" as the default pool does.
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=64,
            timeout=5,
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=15,
        )
        client = _async_clients[key] = aioredis.Redis(connection_pool=pool)
    return client
