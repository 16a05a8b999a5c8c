"""Session metrics as they happen: per-minute buckets in Redis, counted inside the code paths
that already talk to Redis (presence, chat, claims, orders), flushed to PostgreSQL by beat
(``streams.metrics_store``), and the host's live numbers read from the same counters.

Reports read the flushed buckets, never the order or claim tables row by row
(docs/benchmarks.md, "Session report"). Coupons and orders feed their numbers through
``claims_record`` and ``order_record`` (streams is lower: it never imports them).

Every key of one session shares the session's hash tag (``server.redis.live_key``), so the
one script below runs unchanged on Redis Cluster. Buckets hold absolute per-minute totals;
the flush writes them with ``GREATEST`` (``metrics_store``), so a retried flush never
counts twice and a Redis that lost a bucket never takes a stored number back. Counting is
best effort: a Redis fault is logged, never raised into an order, a claim or a chat line.
"""

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError

from server import presence
from server.money import money
from server.redis import Script, live_key, redis_client, redis_scripts

log = logging.getLogger(__name__)

# Buckets outlive a session by this long in Redis; the flush has long copied them by then.
KEY_TTL_S = 3 * 24 * 3600
# Counters of a bucket (all integers; money in the currency's hundredths).
COUNTERS = (
    "viewers_sum", "viewers_samples", "viewers_peak", "new_viewers", "chat", "chatters",
    "claims", "claimers", "orders", "units", "gmv", "discount", "redeemed", "buyers",
)  # fmt: skip
# Distinct sets per session: the minute counts who was first seen in it, the total all.
UNIQUE = {"new_viewers": "viewers", "chatters": "chatters", "claimers": "claimers",
          "buyers": "buyers"}  # fmt: skip

# KEYS: minute hash, session total hash, minutes set, products hash, distinct set.
# ARGV: minute, ttl, n, (field, delta)*n, m, (field, value)*m [kept as a maximum], p,
#       (product, name, units, gmv)*p, s, (field, value)*s [set on the total],
#       distinct field ('' for none), members...
_BUMP = Script("""
local ttl = tonumber(ARGV[2])
local i = 3
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local value = tonumber(ARGV[i + 1])
  for _, key in ipairs({KEYS[1], KEYS[2]}) do
    if value > tonumber(redis.call('HGET', key, ARGV[i]) or '0') then
      redis.call('HSET', key, ARGV[i], value)
    end
  end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local p = ARGV[i]
  redis.call('HSET', KEYS[4], p .. ':name', ARGV[i + 1])
  redis.call('HINCRBY', KEYS[4], p .. ':orders', 1)
  redis.call('HINCRBY', KEYS[4], p .. ':units', ARGV[i + 2])
  redis.call('HINCRBY', KEYS[4], p .. ':gmv', ARGV[i + 3])
  i = i + 4
end
if n > 0 then redis.call('EXPIRE', KEYS[4], ttl) end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local distinct = ARGV[i]; i = i + 1
if distinct ~= '' then
  local added = 0
  while i <= #ARGV do
    added = added + redis.call('SADD', KEYS[5], ARGV[i])
    i = i + 1
  end
  if added > 0 then
    redis.call('HINCRBY', KEYS[1], distinct, added)
    redis.call('HINCRBY', KEYS[2], distinct, added)
  end
  redis.call('EXPIRE', KEYS[5], ttl)
end
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
return 1
""")

# KEYS: minutes set, minute hash. ARGV: minute, the version the flush stored.
# A closed minute leaves the set only if nothing counted into it since the flush read it.
_FORGET = Script("""
if redis.call('HGET', KEYS[2], 'v') == ARGV[2] then
  return redis.call('SREM', KEYS[1], ARGV[1])
end
return 0
""")


def minute_of(at: datetime) -> int:
    """The bucket's start, in epoch seconds (UTC minutes)."""
    return int(at.timestamp()) // 60 * 60


def cents(amount: Decimal) -> int:
    return int(money(amount) * 100)


def minute_key(session_id: int, minute: int) -> str:
    return live_key(session_id, "m", minute)


def minutes_key(session_id: int) -> str:
    return live_key(session_id, "m", "minutes")


def total_key(session_id: int) -> str:
    return live_key(session_id, "m", "total")


def products_key(session_id: int) -> str:
    return live_key(session_id, "m", "products")


def distinct_key(session_id: int, kind: str) -> str:
    return live_key(session_id, "m", "distinct", kind)


@dataclass(frozen=True)
class Bump:
    """What one event adds to its session's minute."""

    session_id: int
    at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    peaks: dict[str, int] = field(default_factory=dict)
    products: Sequence[tuple[int, str, int, int]] = ()  # (product, name, units, gmv cents)
    settings: dict[str, str] = field(default_factory=dict)
    distinct: tuple[str, Sequence[str]] | None = None  # (counter, members)

    def call(self) -> tuple[list[str], list[Any]]:
        minute = minute_of(self.at)
        counter, members = self.distinct or ("", ())
        keys = [
            minute_key(self.session_id, minute),
            total_key(self.session_id),
            minutes_key(self.session_id),
            products_key(self.session_id),
            distinct_key(self.session_id, UNIQUE.get(counter, "none")),
        ]
        args: list[Any] = [minute, KEY_TTL_S, len(self.counts)]
        for name, delta in self.counts.items():
            args += [name, delta]
        args.append(len(self.peaks))
        for name, value in self.peaks.items():
            args += [name, value]
        args.append(len(self.products))
        for product in self.products:
            args += list(product)
        args.append(len(self.settings))
        for name, value in self.settings.items():
            args += [name, value]
        args += [counter, *members]
        return keys, args


def record(bumps: Iterable[Bump]) -> None:
    """Count ``bumps`` in one pipelined round trip; a Redis fault is logged, not raised."""
    calls = [bump.call() for bump in bumps]
    if not calls:
        return
    try:
        _BUMP.run_many(calls)
    except RedisError:
        log.warning("session metrics not counted (Redis): %d events", len(calls))


async def arecord(bump: Bump) -> None:
    """``record`` on the event loop, batched with the loop's other script calls."""
    keys, args = bump.call()
    try:
        await redis_scripts().evalsha(_BUMP, keys=keys, args=args)
    except (RedisError, OSError, TimeoutError):
        log.warning("session metrics not counted (Redis): a join of session %s", bump.session_id)


# --- the functions the hot paths call -------------------------------------------------------


def viewers_sample(totals: dict[int, int], *, at: datetime) -> None:
    """The fleet's viewer count per session, sampled by each web node's live loop tick:
    the minute's average (sum / samples) and peak."""
    record(
        Bump(session_id=s, at=at, counts={"viewers_sum": n, "viewers_samples": 1},
             peaks={"viewers_peak": n})
        for s, n in totals.items()
    )


def viewer_member(*, user_id: int | None, client: str | None) -> str:
    """Who a joining socket is, for distinct viewers: the user, or for an anonymous viewer a
    digest of its address (never the address itself; viewers behind one NAT count once)."""
    if user_id is not None:
        return f"u{user_id}"
    digest = hashlib.blake2b((client or "?").encode(), digest_size=8).hexdigest()
    return f"a{digest}"


async def viewer_joined(*, session_id: int, member: str, at: datetime) -> None:
    await arecord(Bump(session_id=session_id, at=at, distinct=("new_viewers", [member])))


def chat_record(*, session_id: int, user_id: int, at: datetime) -> None:
    record([Bump(session_id=session_id, at=at, counts={"chat": 1},
                 distinct=("chatters", [str(user_id)]))])  # fmt: skip


def claims_record(*, session_id: int, user_ids: Sequence[int], at: datetime) -> None:
    """Claims just written for a drop of ``session_id`` (coupons calls this after commit)."""
    if user_ids:
        record([Bump(session_id=session_id, at=at, counts={"claims": len(user_ids)},
                     distinct=("claimers", [str(u) for u in user_ids]))])  # fmt: skip


@dataclass(frozen=True)
class SoldLine:
    product: int
    name: str
    units: int
    amount: Decimal


def order_record(
    *,
    session_id: int,
    buyer_id: int,
    at: datetime,
    subtotal: Decimal,
    discount: Decimal,
    currency: str,
    redeemed: bool,
    lines: Sequence[SoldLine],
) -> None:
    """An order just placed in ``session_id`` (orders calls this after commit). GMV is the
    subtotal: goods at the price sold, before discount and shipping."""
    record(
        [
            Bump(
                session_id=session_id,
                at=at,
                counts={
                    "orders": 1,
                    "units": sum(line.units for line in lines),
                    "gmv": cents(subtotal),
                    "discount": cents(discount),
                    "redeemed": int(redeemed),
                },
                products=[(ln.product, ln.name, ln.units, cents(ln.amount)) for ln in lines],
                settings={"currency": currency},
                distinct=("buyers", [str(buyer_id)]),
            )
        ]
    )


# --- reads ------------------------------------------------------------------------------------


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in raw.items():
        try:
            out[name.decode()] = int(value)
        except ValueError:
            out[name.decode()] = value.decode()  # type: ignore[assignment]  # the currency
    return out


def products_from(raw: dict[bytes, bytes]) -> dict[int, dict[str, Any]]:
    """The products hash as ``{product: {name, orders, units, gmv}}`` (gmv in cents)."""
    out: dict[int, dict[str, Any]] = {}
    for name, value in raw.items():
        product, _, part = name.decode().partition(":")
        entry = out.setdefault(int(product), {"name": "", "orders": 0, "units": 0, "gmv": 0})
        entry[part] = value.decode() if part == "name" else int(value)
    return out


def live_counters(session_id: int) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The session's running totals and per-product sales, from Redis (one round trip)."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.hgetall(total_key(session_id))
    pipe.hgetall(products_key(session_id))
    total, products = pipe.execute()
    return _ints(total), products_from(products)


def host_numbers(session_id: int) -> dict[str, Any]:
    """The ``host.numbers`` data (docs/protocol.md, "Per-user frames")."""
    total, products = live_counters(session_id)
    top = max(products.items(), key=lambda kv: (kv[1]["units"], -kv[0]), default=None)
    return {
        "viewers": presence.viewer_count(session_id),
        "orders": total.get("orders", 0),
        "units": total.get("units", 0),
        "gmv": f"{Decimal(total.get('gmv', 0)) / 100:.2f}",
        "currency": str(total.get("currency", "THB")),
        "claims": total.get("claims", 0),
        "redeemed": total.get("redeemed", 0),
        "top_product": (
            {"id": top[0], "name": top[1]["name"], "units": top[1]["units"]} if top else None
        ),
    }


def host_numbers_if_changed(session_id: int) -> dict[str, Any] | None:
    """The host's numbers when they differ from the last ones sent (any node's), else None."""
    data = host_numbers(session_id)
    signature = hashlib.blake2b(repr(sorted(data.items())).encode(), digest_size=8).hexdigest()
    last = redis_client().set(
        live_key(session_id, "m", "host-last"), signature, get=True, ex=KEY_TTL_S
    )
    return None if last == signature.encode() else data


def host_numbers_reset(session_id: int) -> None:
    """A host socket joined: the next tick sends the numbers even if nothing changed."""
    redis_client().delete(live_key(session_id, "m", "host-last"))


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute, tz=UTC)
