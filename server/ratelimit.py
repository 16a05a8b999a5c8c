"""Shared rate limits in Redis, so a user's budget holds across every web node."""

import time
from collections.abc import Callable

from server.redis import Script

# One round trip: count this hit in the current window, start the window on the first.
_HIT = Script("""
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
""")


def hit(key: str, *, limit: int, window_s: float, clock: Callable[[], float] = time.time) -> bool:
    """Count one hit against ``key``; ``False`` once ``limit`` hits fell in the window.
    Windows are fixed and aligned to ``clock`` (epoch seconds; tests pass their own), so a
    window is one key and a caller is never refused past its window's end."""
    window_ms = max(1, int(window_s * 1000))
    window = int(clock() * 1000) // window_ms
    count = int(_HIT.run(keys=[f"rl:{key}:{window}"], args=[window_ms]))
    return count <= limit
