"""The gate: one Redis primitive that admits or refuses "take n units of a limited thing, at
most k per user, inside a time window" (docs/architecture.md, "The gate").

Coupon drops use it now; stock reservations will use the same script. Losers are answered
from Redis alone and never reach the database. A winner holds a *pending admission* (a token
with an expiry) until the caller settles it: ``confirm`` once its row is committed,
``compensate`` if the write failed. An admission its process never settled (the process
died) is settled by ``reconcile`` after it expires, against the database: if the row exists
it is confirmed, otherwise the unit goes back. So a unit may be sold late, never twice.

The script refuses (``gone``) when its keys are missing: after a Redis restart or flush the
gate admits nobody until it is rebuilt from the database (``rebuild``), which is only done
while nothing is in flight.

All keys of one gate, and the per-user counters shared by the gates of one scope (a
campaign's drops), share the scope's hash tag, so the scripts run on Redis Cluster.
"""

import time
from dataclasses import dataclass
from typing import Any

from server.redis import Script, redis_client, redis_scripts

PENDING_TTL_S = 15.0

# KEYS: meta, left, unit_users, scope_users, pending, pending_data, scope_meta, attempts
# ARGV: user, n, now_ms, pending_ttl_ms, token, user_joined_ms, attempt_limit, attempt_window_ms
# -> {status, left}. Refusals leave every key untouched but the user's attempt counter, which
# counts every call while attempt_limit > 0 (the per-user rate limit, in the same round trip).
_ADMIT = Script("""
local attempt_limit = tonumber(ARGV[7] or '0')
if attempt_limit > 0 then
  local attempts = redis.call('INCR', KEYS[8])
  if attempts == 1 then redis.call('PEXPIRE', KEYS[8], ARGV[8]) end
  if attempts > attempt_limit then return {'rate_limited', -1} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone', -1} end
local meta = redis.call('HMGET', KEYS[1], 'state', 'opens_ms', 'closes_ms', 'unit_limit',
                        'scope_limit', 'joined_before_ms')
local now = tonumber(ARGV[3])
if meta[1] ~= 'open' then return {'closed', -1} end
if now < tonumber(meta[2]) then return {'not_open', -1} end
if now >= tonumber(meta[3]) then return {'closed', -1} end
if tonumber(meta[6] or '0') > 0 and tonumber(ARGV[6]) >= tonumber(meta[6]) then
  return {'too_new', -1}
end
local n = tonumber(ARGV[2])
local mine = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if mine + n > tonumber(meta[4]) then return {'already', -1} end
local scope_mine = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
if scope_mine + n > tonumber(meta[5]) then return {'limit', -1} end
local left = tonumber(redis.call('GET', KEYS[2]) or '-1')
if left < n then return {'sold_out', left} end
left = redis.call('DECRBY', KEYS[2], n)
redis.call('HINCRBY', KEYS[3], ARGV[1], n)
redis.call('HINCRBY', KEYS[4], ARGV[1], n)
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), ARGV[5])
redis.call('HSET', KEYS[6], ARGV[5], ARGV[1] .. ' ' .. n)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HINCRBY', KEYS[7], 'version', 1)
redis.call('HINCRBY', KEYS[7], 'inflight', 1)
return {'ok', left}
""")

# KEYS: left, unit_users, scope_users, pending, pending_data, scope_meta.
# ARGV: token, 'confirm'|'compensate'
# -> 1 when it settled the token, 0 when it was already settled (idempotent).
_SETTLE = Script("""
local data = redis.call('HGET', KEYS[5], ARGV[1])
if not data then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HINCRBY', KEYS[6], 'inflight', -1)
if ARGV[2] == 'compensate' then
  local sep = string.find(data, ' ')
  local user = string.sub(data, 1, sep - 1)
  local n = tonumber(string.sub(data, sep + 1))
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], n) end
  redis.call('HINCRBY', KEYS[2], user, -n)
  redis.call('HINCRBY', KEYS[3], user, -n)
end
return 1
""")

# Give back units a committed row no longer holds (a claim expired or was released). The
# unit's per-user count stays: its row still exists, so that user cannot take this unit again.
# KEYS: left (may be absent: the gate is closed or gone), scope_users. ARGV: user, n
_RELEASE = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[2]) end
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
end
return 1
""")

# Replace the gate's counters with the database's, only if nothing is in flight in the whole
# scope and nothing was admitted since the caller read the database (versions unchanged).
# KEYS: meta, left, unit_users, scope_users, scope_meta
# ARGV: unit_version, scope_version, left, n_unit_pairs, unit pairs..., scope pairs...
_CORRECT = Script("""
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
if tonumber(redis.call('HGET', KEYS[5], 'inflight') or '0') > 0 then return 'busy' end
if (redis.call('HGET', KEYS[1], 'version') or '0') ~= ARGV[1] then return 'busy' end
if (redis.call('HGET', KEYS[5], 'version') or '0') ~= ARGV[2] then return 'busy' end
local changed = 0
if tonumber(redis.call('GET', KEYS[2]) or '-1') ~= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3]); changed = 1
end
local function sync(key, first, last)
  local want = {}
  for i = first, last, 2 do want[ARGV[i]] = ARGV[i + 1] end
  local have = redis.call('HGETALL', key)
  for i = 1, #have, 2 do
    if want[have[i]] == nil and tonumber(have[i + 1]) ~= 0 then
      redis.call('HDEL', key, have[i]); changed = 1
    end
  end
  for user, count in pairs(want) do
    if redis.call('HGET', key, user) ~= count then
      redis.call('HSET', key, user, count); changed = 1
    end
  end
end
local split = 5 + 2 * tonumber(ARGV[4])
sync(KEYS[3], 5, split - 1)
sync(KEYS[4], split, #ARGV)
if changed == 1 then return 'corrected' end
return 'ok'
""")

_ADMIT_STATUSES = {
    "ok", "gone", "closed", "not_open", "too_new", "already", "limit", "sold_out", "rate_limited",
}  # fmt: skip


@dataclass(frozen=True)
class Admission:
    # ok | gone | closed | not_open | too_new | already | limit | sold_out | rate_limited
    status: str
    left: int
    token: str

    @property
    def admitted(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Gate:
    """One limited thing (``unit``, e.g. ``drop:42``) inside a scope (``campaign:7``) whose
    per-user counts its sibling gates share."""

    scope: str
    unit: str

    def _key(self, name: str) -> str:
        return f"gate:{{{self.scope}}}:{self.unit}:{name}"

    @property
    def keys(self) -> dict[str, str]:
        return {
            "meta": self._key("meta"),
            "left": self._key("left"),
            "unit_users": self._key("users"),
            "scope_users": f"gate:{{{self.scope}}}:users",
            "scope_meta": f"gate:{{{self.scope}}}:scope",
            "pending": self._key("pending"),
            "pending_data": self._key("pending:data"),
        }

    def _admit_keys(self, user: int = 0, window: int = 0) -> list[str]:
        k = self.keys
        return [
            k["meta"],
            k["left"],
            k["unit_users"],
            k["scope_users"],
            k["pending"],
            k["pending_data"],
            k["scope_meta"],
            f"gate:{{{self.scope}}}:attempts:{user}:{window}",
        ]

    def _settle_keys(self) -> list[str]:
        k = self.keys
        return [
            k["left"],
            k["unit_users"],
            k["scope_users"],
            k["pending"],
            k["pending_data"],
            k["scope_meta"],
        ]

    # --- the hot path --------------------------------------------------------------------

    def admit(
        self,
        *,
        user: int,
        token: str,
        joined: float = 0,
        n: int = 1,
        now: float | None = None,
        attempts: tuple[int, float] | None = None,
    ) -> Admission:
        """Take ``n`` units for ``user`` (whose account was made at ``joined``, epoch s).
        ``attempts`` = (limit, window_s) refuses a user's calls past ``limit`` per window in
        this scope with ``rate_limited``, in the same round trip. Windows are fixed and
        follow ``now`` (epoch s), so a caller's clock decides when one ends."""
        keys, args = self._admit_call(user, n, token, now, joined, attempts)
        return _admission(_ADMIT.run(client=redis_client(), keys=keys, args=args), token)

    async def aadmit(
        self,
        *,
        user: int,
        token: str,
        joined: float = 0,
        n: int = 1,
        now: float | None = None,
        attempts: tuple[int, float] | None = None,
    ) -> Admission:
        """``admit`` on the event loop: a refused claim costs no thread and no database, and
        a share of one pipelined round trip to Redis (``server.redis.redis_scripts``)."""
        keys, args = self._admit_call(user, n, token, now, joined, attempts)
        return _admission(await redis_scripts().evalsha(_ADMIT, keys=keys, args=args), token)

    def _admit_call(
        self,
        user: int,
        n: int,
        token: str,
        now: float | None,
        joined: float,
        attempts: tuple[int, float] | None,
    ) -> tuple[list[str], list[Any]]:
        now_ms = int((time.time() if now is None else now) * 1000)
        limit, window_s = attempts or (0, 0.0)
        window_ms = max(1, int(window_s * 1000))
        args = [
            user, n, now_ms, int(PENDING_TTL_S * 1000), token, int(joined * 1000),
            limit, window_ms,
        ]  # fmt: skip
        return self._admit_keys(user, now_ms // window_ms if limit else 0), args

    def confirm(self, *, token: str) -> bool:
        return bool(
            _SETTLE.run(client=redis_client(), keys=self._settle_keys(), args=[token, "confirm"])
        )

    def confirm_many(self, *, tokens: list[str]) -> int:
        """``confirm`` for a batch of committed rows, in one round trip; returns how many
        it settled."""
        keys = self._settle_keys()
        calls = [(keys, [token, "confirm"]) for token in tokens]
        return sum(int(done) for done in _SETTLE.run_many(calls, client=redis_client()))

    def compensate(self, *, token: str) -> bool:
        return bool(
            _SETTLE.run(client=redis_client(), keys=self._settle_keys(), args=[token, "compensate"])
        )

    def release(self, *, user: int, n: int = 1, unit_open: bool = True) -> None:
        """Units a committed row gave back: to ``left`` while the unit is open, and always
        to the user's budget in the scope."""
        k = self.keys
        left_key = k["left"] if unit_open else k["left"] + ":closed"
        _RELEASE.run(client=redis_client(), keys=[left_key, k["scope_users"]], args=[user, n])

    # --- lifecycle -----------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(redis_client().exists(self.keys["meta"]))

    def build(
        self,
        *,
        left: int,
        opens_at: float,
        closes_at: float,
        unit_limit: int,
        scope_limit: int,
        unit_users: dict[int, int],
        scope_users: dict[int, int] | None = None,
        state: str = "open",
        joined_before: float = 0,
    ) -> None:
        """Write the gate from the database's facts. Callers build only a new gate, or one
        whose keys are gone and whose admissions have all expired."""
        k = self.keys
        pipe = redis_client().pipeline(transaction=True)
        pipe.delete(k["left"], k["unit_users"], k["pending"], k["pending_data"])
        pipe.set(k["left"], left)
        if unit_users:
            pipe.hset(k["unit_users"], mapping={str(u): c for u, c in unit_users.items()})
        if scope_users is not None:
            pipe.delete(k["scope_users"], k["scope_meta"])
            if scope_users:
                pipe.hset(k["scope_users"], mapping={str(u): c for u, c in scope_users.items()})
        pipe.hset(
            k["meta"],
            mapping={
                "state": state,
                "opens_ms": int(opens_at * 1000),
                "closes_ms": int(closes_at * 1000),
                "unit_limit": unit_limit,
                "scope_limit": scope_limit,
                "joined_before_ms": int(joined_before * 1000),
                "version": 0,
            },
        )
        pipe.execute()

    def close(self) -> None:
        client = redis_client()
        if client.exists(self.keys["meta"]):
            client.hset(self.keys["meta"], "state", "closed")

    def left(self) -> int | None:
        value = redis_client().get(self.keys["left"])
        return int(value) if value is not None else None

    def versions(self) -> tuple[int, int]:
        """(this unit's, its scope's) admission counters: read before the database, so
        ``correct`` can tell whether anything moved meanwhile."""
        pipe = redis_client().pipeline(transaction=True)
        pipe.hget(self.keys["meta"], "version")
        pipe.hget(self.keys["scope_meta"], "version")
        unit, scope = pipe.execute()
        return int(unit or 0), int(scope or 0)

    def expired_pending(self, *, now: float | None = None) -> list[str]:
        now_ms = int((time.time() if now is None else now) * 1000)
        return [t.decode() for t in redis_client().zrangebyscore(self.keys["pending"], 0, now_ms)]

    def pending_count(self) -> int:
        return int(redis_client().zcard(self.keys["pending"]))

    def correct(
        self,
        *,
        versions: tuple[int, int],
        left: int,
        unit_users: dict[int, int],
        scope_users: dict[int, int],
    ) -> str:
        """Set the counters to the database's if nothing moved meanwhile: ``ok`` (they
        agreed), ``corrected``, ``busy`` (try later) or ``gone``."""
        k = self.keys
        args: list[Any] = [str(versions[0]), str(versions[1]), left, len(unit_users)]
        for users in (unit_users, scope_users):
            for user, count in users.items():
                args += [str(user), str(count)]
        result = _CORRECT.run(
            client=redis_client(),
            keys=[k["meta"], k["left"], k["unit_users"], k["scope_users"], k["scope_meta"]],
            args=args,
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    def unit_users(self) -> dict[int, int]:
        return _counts(self.keys["unit_users"])

    def scope_users(self) -> dict[int, int]:
        return _counts(self.keys["scope_users"])


def _counts(key: str) -> dict[int, int]:
    raw = redis_client().hgetall(key)
    return {int(u): int(c) for u, c in raw.items() if int(c) != 0}


def _admission(result: list[Any], token: str) -> Admission:
    status = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
    assert status in _ADMIT_STATUSES, status
    return Admission(status=status, left=int(result[1]), token=token)
