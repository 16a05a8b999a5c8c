"""server.redis against a real Redis: ``Script`` runs a script and loads it again when Redis
lost it, a batch of calls in one round trip; ``ScriptPipeline`` sends every script call of one
loop turn in one write, each answered with its own reply, in order, whatever happens to the
others. Round trips are counted on the wire (a connection class that counts its writes)."""

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.ratelimit import hit
from server.redis import Script, ScriptPipeline, live_key, redis_async, redis_client, redis_scripts

pytestmark = [pytest.mark.integration]

# Returns its first argument doubled, the number of keys and the second argument as given;
# fails (a Redis error reply) when the first argument is negative.
ECHO = Script("""
local n = tonumber(ARGV[1])
if n < 0 then return redis.error_reply('negative ' .. ARGV[1]) end
return {n * 2, #KEYS, ARGV[2]}
""")


class CountingConnection(redis.Connection):
    """A sync connection that counts its writes: one per round trip."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        super().send_packed_command(command, check_health)


class CountingAsyncConnection(aioredis.Connection):
    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        await super().send_packed_command(command, check_health)


def test_a_script_redis_lost_is_loaded_again() -> None:
    assert ECHO.run(keys=["k"], args=[2, "a"])[0] == 4
    redis_client().script_flush()
    assert ECHO.run(keys=["k"], args=[3, "a"])[0] == 6


def test_a_batch_of_script_calls_is_one_round_trip() -> None:
    CountingConnection.writes = 0
    pool = redis.ConnectionPool.from_url(settings.REDIS_URL, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    client.script_flush()
    writes_before = CountingConnection.writes
    # Redis lost the script: the batch fails unrun, the script is loaded, the batch goes again.
    results = ECHO.run_many([(["k"], [n, "x"]) for n in range(50)], client=client)
    assert [r[0] for r in results] == [2 * n for n in range(50)]
    assert CountingConnection.writes - writes_before == 3
    writes_before = CountingConnection.writes
    results = ECHO.run_many([(["k"], [n, "y"]) for n in range(50)], client=client)
    assert [r[2] for r in results] == [b"y"] * 50
    assert CountingConnection.writes - writes_before == 1
    pool.disconnect()


def test_rate_limit_windows_follow_the_given_clock() -> None:
    now = [1_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    assert [hit("t", limit=2, window_s=10, clock=clock) for _ in range(3)] == [True, True, False]
    now[0] += 9.9  # still this window
    assert not hit("t", limit=2, window_s=10, clock=clock)
    now[0] += 0.1  # the next window: no waiting it out
    assert hit("t", limit=2, window_s=10, clock=clock)


def test_live_keys_share_the_session_hash_tag() -> None:
    assert live_key(7, "coupon-left", 42) == "live:{session:7}:coupon-left:42"
    assert live_key(7, "seq") == "live:{session:7}:seq"


@pytest.mark.asyncio
async def test_a_burst_in_one_loop_turn_is_one_write() -> None:
    CountingAsyncConnection.writes = 0
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL, connection_class=CountingAsyncConnection, max_connections=8
    )
    scripts = ScriptPipeline(aioredis.Redis(connection_pool=pool))
    await scripts.evalsha(ECHO, keys=[], args=[0, "warm"])  # loaded, connection open
    before = CountingAsyncConnection.writes
    results = await asyncio.gather(
        *(scripts.evalsha(ECHO, keys=[], args=[n, "b"]) for n in range(300))
    )
    assert [r[0] for r in results] == [2 * n for n in range(300)]
    assert CountingAsyncConnection.writes - before == 1
    await pool.disconnect()


@pytest.mark.asyncio
async def test_a_burst_of_calls_gets_each_its_own_reply_in_order() -> None:
    scripts = redis_scripts()
    texts = ["plain", "ไทย สวัสดี", "中文", "", "x" * 70_000, "2.5"]
    calls = [
        scripts.evalsha(ECHO, keys=[f"k{i}", "k"], args=[i, texts[i % len(texts)]])
        for i in range(500)
    ]
    results = await asyncio.gather(*calls)
    for i, (doubled, keys, text) in enumerate(results):
        assert (doubled, keys) == (2 * i, 2)
        assert text.decode() == texts[i % len(texts)]


@pytest.mark.asyncio
async def test_one_call_failing_fails_that_call_alone() -> None:
    scripts = redis_scripts()
    results = await asyncio.gather(
        *(scripts.evalsha(ECHO, keys=["k"], args=[n, "a"]) for n in (1, -1, 2)),
        return_exceptions=True,
    )
    assert results[0][0] == 2 and results[2][0] == 4
    assert isinstance(results[1], ResponseError) and "negative -1" in str(results[1])
    # The connection stayed in step: the next burst reads its own replies.
    again = await asyncio.gather(*(scripts.evalsha(ECHO, keys=[], args=[n, "b"]) for n in (5, 6)))
    assert [r[0] for r in again] == [10, 12]


@pytest.mark.asyncio
async def test_scripts_lost_by_redis_are_loaded_again() -> None:
    scripts = redis_scripts()
    assert (await scripts.evalsha(ECHO, keys=[], args=[1, "a"]))[0] == 2
    await redis_async().script_flush()  # what a Redis restart does to loaded scripts
    results = await asyncio.gather(*(scripts.evalsha(ECHO, keys=[], args=[n, "a"]) for n in (3, 4)))
    assert [r[0] for r in results] == [6, 8]


@pytest.mark.asyncio
async def test_a_dead_connection_fails_every_call_of_its_batch() -> None:
    dead = ScriptPipeline(aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    results: list[Any] = await asyncio.gather(
        *(dead.evalsha(ECHO, keys=[], args=[n, "a"]) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results)
    # And the process's own pipeline is untouched.
    assert (await redis_scripts().evalsha(ECHO, keys=[], args=[7, "a"]))[0] == 14
    assert redis_client().ping()
