"""One place that knows how to reach Redis, so a restarted Redis is reached again; how every
Lua script is run (``Script``); and how a live session's keys are named (``live_key``)."""

import asyncio
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import NoScriptError, ResponseError

from server.loops import LoopLocal


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


def _async_client(url: str) -> aioredis.Redis:
    # Blocking: a storm of claims waits for a free connection instead of failing with
    # "too many connections" as the default pool does.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=15,
    )
    return aioredis.Redis(connection_pool=pool)


_async_clients = LoopLocal(_async_client)


def redis_async() -> aioredis.Redis:
    """This event loop's async client: an asyncio connection belongs to the loop that made
    it, and a web process has one loop, so this is one pool per process under daphne."""
    return _async_clients.get(settings.REDIS_URL)


def session_tag(session_id: int) -> str:
    """The hash tag every key of one session shares, so a script over several of them runs
    unchanged on Redis Cluster."""
    return f"{{session:{session_id}}}"


def live_key(session_id: int, *parts: str | int) -> str:
    """A live session's key: ``live:{session:<id>}:<part>:<part>...``."""
    return ":".join((f"live:{session_tag(session_id)}", *(str(part) for part in parts)))


# --- Lua scripts ------------------------------------------------------------------------------


class Script:
    """One Lua script, run by ``EVALSHA`` and loaded again when Redis lost it (a restart or
    ``SCRIPT FLUSH``). The one way this code base runs Lua: on the sync client (``run``),
    a batch of calls in one pipelined round trip (``run_many``), or on the event loop
    through this loop's ``ScriptPipeline`` (``redis_scripts().evalsha(script, ...)``).
    redis-py's own ``register_script`` asks ``SCRIPT EXISTS`` before each pipeline, a
    second round trip."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def run(
        self, *, keys: Sequence[Any], args: Sequence[Any], client: redis.Redis | None = None
    ) -> Any:
        client = client or redis_client()
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    def run_many(
        self,
        calls: Sequence[tuple[Sequence[Any], Sequence[Any]]],
        *,
        client: redis.Redis | None = None,
    ) -> list[Any]:
        """Each ``(keys, args)`` of ``calls`` in one pipeline: one round trip. A script
        Redis lost fails every call unrun, so the batch is sent again once loaded."""
        client = client or redis_client()
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.evalsha(self.sha, len(keys), *keys, *args)
            try:
                return pipe.execute()
            except NoScriptError:
                if attempt:
                    raise
                client.script_load(self.source)
        return []


# --- scripts on the event loop, pipelined ---------------------------------------------------


@dataclass(frozen=True)
class _Call:
    script: Script
    keys: Sequence[Any]
    args: Sequence[Any]
    future: "asyncio.Future[Any]"


class ScriptPipeline:
    """Auto-pipelining of Lua script calls for one event loop: every ``EVALSHA`` asked for in
    the same turn of the loop goes out in one pipeline, one write, on one connection.

    A claim storm asks the gate thousands of times a second from one process. One command
    per call cost each a pooled connection, its own write and its own read; with 2,500 calls
    in flight per process, the blocking pool's single condition became the bottleneck
    (waiters queued on its lock behind each other for seconds until ``No connection
    available``, with a core spinning). Batched, a storm costs a few dozen round trips and
    never more than ``IN_FLIGHT`` connections. Each call still runs as its own script:
    nothing is atomic across a batch, and one call's error is that call's alone.
    """

    IN_FLIGHT = 8
    # The whole batch, write and every reply, must be done within this. One deadline per
    # batch, not redis-py's per reply (a timeout context each: 6% of a storm's loop).
    BATCH_TIMEOUT_S = 5.0

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.pending: list[_Call] = []
        self.slots = asyncio.Semaphore(self.IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()

    async def evalsha(self, script: Script, *, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run ``script`` (loaded into Redis when missing) on ``keys``, ``args``."""
        loop = asyncio.get_running_loop()
        call = _Call(script, keys, args, loop.create_future())
        self.pending.append(call)
        if len(self.pending) == 1:
            loop.call_soon(self._flush)
        return await call.future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, batch: list[_Call]) -> None:
        results: list[Any]
        async with self.slots:
            try:
                results = await self._execute(batch)
                missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
                if missing:  # Redis restarted since the script was loaded: load, run again
                    for source in {batch[i].script.source for i in missing}:
                        await self.client.script_load(source)
                    again = await self._execute([batch[i] for i in missing])
                    for i, result in zip(missing, again, strict=True):
                        results[i] = result
            except asyncio.CancelledError:
                for call in batch:
                    call.future.cancel()
                raise
            except Exception as exc:  # the connection failed: every call of the batch hears it
                results = [exc] * len(batch)
        for call, result in zip(batch, results, strict=True):
            if call.future.done():
                continue
            if isinstance(result, Exception):
                call.future.set_exception(result)
            else:
                call.future.set_result(result)

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        """One write of every call's ``EVALSHA``, then each reply in order (an error reply is
        that call's result). A connection left with replies unread is dropped, not reused;
        nothing is retried, since a script that ran must not run twice."""
        pool = self.client.connection_pool
        connection = await pool.get_connection()
        try:
            async with asyncio.timeout(self.BATCH_TIMEOUT_S):
                await connection.send_packed_command(b"".join(_packed(call) for call in batch))
                results: list[Any] = []
                for _ in batch:
                    try:
                        results.append(await connection.read_response())
                    except ResponseError as exc:
                        results.append(exc)
            return results
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)


def _bulk(value: Any) -> bytes:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    elif isinstance(value, int):
        data = b"%d" % value
    else:
        data = repr(float(value)).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _packed(call: _Call) -> bytes:
    """``EVALSHA sha numkeys keys... args...`` in RESP. Written here rather than by
    redis-py's pipeline, whose generic packing and encoding per argument cost about a third
    of a claim's Redis work on the event loop in a storm (docs/benchmarks.md)."""
    head = b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(call.keys) + len(call.args))
    parts = [head, _bulk(call.script.sha), _bulk(len(call.keys))]
    parts += [_bulk(key) for key in call.keys]
    parts += [_bulk(arg) for arg in call.args]
    return b"".join(parts)


def _script_pipeline(url: str) -> ScriptPipeline:
    # Its own connections, with no socket timeout of their own: the batch has one.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=ScriptPipeline.IN_FLIGHT,
        timeout=ScriptPipeline.BATCH_TIMEOUT_S,
        socket_timeout=None,
        socket_connect_timeout=2,
        health_check_interval=15,
    )
    return ScriptPipeline(aioredis.Redis(connection_pool=pool))


_pipelines = LoopLocal(_script_pipeline)


def redis_scripts() -> ScriptPipeline:
    """This event loop's script pipeline (one per process under daphne)."""
    return _pipelines.get(settings.REDIS_URL)
