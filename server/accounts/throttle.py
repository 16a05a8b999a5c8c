"""How fast one address may sign up, and how often a login may fail (docs/operations.md).

Every login path (the API token, the login page, the admin) goes through
``services.user_authenticate``, which asks here first and reports failures here after.
Counts live in Redis (server.ratelimit), so every web node sees the same numbers.

- Failures per client address: generous, because a mobile carrier puts a whole province
  behind a few addresses (CGNAT); successes never count.
- Failures per target username (its normal form), from any address: slows credential
  stuffing spread over many addresses. Only failures count and the lock ends after the
  window, so an attacker can delay a real user's next password try, never lock them out
  for good.
- Sign-ups per client address: every attempt counts, with a bound high enough for a big
  live's honest rush behind one carrier address.
"""

import math
from dataclasses import dataclass

from django.conf import settings

from server.accounts.names import username_key
from server.errors import RateLimited
from server.ratelimit import hit
from server.redis import redis_client

LOCK_PREFIX = "authlock:"


@dataclass(frozen=True)
class Limit:
    count: int
    window_s: int


def _limit(name: str) -> Limit:
    count, window_s = settings.TALAD_AUTH_LIMITS[name]
    return Limit(int(count), int(window_s))


def _subjects(*, address: str, username: str) -> list[tuple[str, Limit]]:
    return [
        (f"addr:{address}", _limit("login_failures_per_address")),
        (f"user:{username_key(username)[:150]}", _limit("login_failures_per_username")),
    ]


def login_check(*, address: str, username: str) -> None:
    """Raises ``RateLimited`` while this address or this username is locked."""
    subjects = _subjects(address=address, username=username)
    pipe = redis_client().pipeline(transaction=False)
    for subject, _ in subjects:
        pipe.pttl(f"{LOCK_PREFIX}{subject}")
    waits_ms = [int(ttl) for ttl in pipe.execute()]
    wait_ms = max(waits_ms)
    if wait_ms > 0:
        minutes = math.ceil(wait_ms / 60_000)
        raise RateLimited(
            f"Too many failed logins; try again in {minutes} min.",
            retry_after_s=math.ceil(wait_ms / 1000),
        )


def login_failed(*, address: str, username: str) -> None:
    """Count one failure; the one that reaches a limit locks its subject for the window."""
    for subject, limit in _subjects(address=address, username=username):
        if not hit(f"login-fail:{subject}", limit=limit.count - 1, window_s=limit.window_s):
            redis_client().set(f"{LOCK_PREFIX}{subject}", 1, ex=limit.window_s)


def register_check(*, address: str) -> None:
    """Count one sign-up attempt from ``address``; raises ``RateLimited`` past the bound."""
    limit = _limit("register_per_address")
    if not hit(f"register:addr:{address}", limit=limit.count, window_s=limit.window_s):
        raise RateLimited(
            "Too many sign-ups from your network; try again later.",
            retry_after_s=limit.window_s,
        )
