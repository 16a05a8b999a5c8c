"""server.redis.ScriptPipeline against a real Redis: every script call of one loop turn in one
write, each answered with its own reply, in order, whatever happens to the others."""

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.redis import ScriptPipeline, redis_async, redis_client, redis_scripts

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

# Returns its first argument doubled, the number of keys and the second argument as given;
# fails (a Redis error reply) when the first argument is negative.
ECHO = """
local n = tonumber(ARGV[1])
if n < 0 then return redis.error_reply('negative ' .. ARGV[1]) end
return {n * 2, #KEYS, ARGV[2]}
"""


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


async def test_scripts_lost_by_redis_are_loaded_again() -> None:
    scripts = redis_scripts()
    assert (await scripts.evalsha(ECHO, keys=[], args=[1, "a"]))[0] == 2
    await redis_async().script_flush()  # what a Redis restart does to loaded scripts
    results = await asyncio.gather(*(scripts.evalsha(ECHO, keys=[], args=[n, "a"]) for n in (3, 4)))
    assert [r[0] for r in results] == [6, 8]


async def test_a_dead_connection_fails_every_call_of_its_batch() -> None:
    import redis.asyncio as aioredis

    dead = ScriptPipeline(aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    results: list[Any] = await asyncio.gather(
        *(dead.evalsha(ECHO, keys=[], args=[n, "a"]) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results)
    # And the process's own pipeline is untouched.
    assert (await redis_scripts().evalsha(ECHO, keys=[], args=[7, "a"]))[0] == 14
    assert redis_client().ping()
