"""Shared rate limits in Redis, so a user's budget holds across every web node."""

from server.redis import redis_client

# One round trip: count this hit in the current window, start the window on the first.
_HIT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_script = None


def hit(key: str, *, limit: int, window_s: float) -> bool:
    """Count one hit against ``key``; ``False`` once ``limit`` hits fell in the window."""
    global _script
    if _script is None:
        _script = redis_client().register_script(_HIT_LUA)
    count = int(_script(keys=[f"rl:{key}"], args=[int(window_s * 1000)]))
    return count <= limit
