"""Who is watching, summed over every web node, and right when a node dies.

Each web process reports its local socket count per session every tick, with a timestamp.
A node that stops reporting (killed, partitioned) ages out after ``NODE_TTL_S`` and its
viewers leave the total; no process ever holds the only copy of a count.
"""

import os
import socket
import time
import uuid

from server.redis import Script, live_key, redis_client

NODE_TTL_S = 6.0
COALESCE_MS = 500
NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

# KEYS: per-node counts (hash), node heartbeats (zset), last published total, coalesce lock.
# ARGV: node, count, now_ms, ttl_ms, coalesce_ms.
# Returns {total, publish?}: publish only when the total changed and this node holds the turn.
_REPORT = Script("""
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
for _, node in ipairs(stale) do
  redis.call('HDEL', KEYS[1], node)
  redis.call('ZREM', KEYS[2], node)
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('EXPIRE', KEYS[2], 3600)
local last = redis.call('GET', KEYS[3])
if last == tostring(total) then return {total, 0} end
if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5]) then
  redis.call('SET', KEYS[3], total, 'EX', 3600)
  return {total, 1}
end
return {total, 0}
""")


def _keys(session_id: int) -> list[str]:
    return [
        live_key(session_id, "presence"),
        live_key(session_id, "presence", "nodes"),
        live_key(session_id, "viewers", "last"),
        live_key(session_id, "coalesce", "viewers"),
    ]


def report(local_counts: dict[int, int], *, node: str = NODE_ID) -> dict[int, tuple[int, bool]]:
    """Record this node's counts; per session, the fleet total and whether to publish it."""
    now_ms = int(time.time() * 1000)
    sessions = list(local_counts)
    results = _REPORT.run_many(
        [
            (_keys(s), [node, local_counts[s], now_ms, int(NODE_TTL_S * 1000), COALESCE_MS])
            for s in sessions
        ]
    )
    return {s: (int(total), bool(flag)) for s, (total, flag) in zip(sessions, results, strict=True)}


def viewer_count(session_id: int) -> int:
    """The fleet total right now (for snapshots), counting only live nodes."""
    client = redis_client()
    counts_key, nodes_key, *_ = _keys(session_id)
    alive = set(client.zrangebyscore(nodes_key, (time.time() - NODE_TTL_S) * 1000, "+inf"))
    counts = client.hgetall(counts_key)
    return sum(int(v) for node, v in counts.items() if node in alive)
