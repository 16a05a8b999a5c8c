"""The one way an event reaches live viewers (docs/architecture.md, "Real-time events").

``publish(session_id, event)`` runs after the current transaction commits. One Lua script
numbers the event (per-session ``seq``), appends the encoded frame to a capped Redis stream
for replay, and publishes it on the session's fan-out channel, all in one atomic step, so
the order of ``seq``, of the replay log and of live delivery is the same order. The frame
is encoded once here; every web process hands those same bytes to its local sockets.

Keys of one session share the hash tag ``{session:<id>}`` so the script runs unchanged on
Redis Cluster.
"""

import json
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.db import transaction
from pydantic import BaseModel, ConfigDict

from server.redis import Script, live_key, redis_client

# Replay depth: a client that reconnects further behind than this gets a fresh snapshot.
LOG_MAXLEN = 2000
# How long a session's seq and log outlive its last event (ended sessions age out).
KEY_TTL_S = 7 * 24 * 3600


class Event(BaseModel):
    """A broadcast event's ``data``. Subclasses set ``type`` (its public name, docs/protocol.md) and
    declare every field; an undeclared field fails at construction, in tests too."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ClassVar[str]


def seq_key(session_id: int) -> str:
    return live_key(session_id, "seq")


def log_key(session_id: int) -> str:
    return live_key(session_id, "log")


def fanout_channel(session_id: int) -> str:
    return live_key(session_id, "fanout")


# KEYS: seq, log. ARGV: frame head (ends with '"seq":'), frame tail, maxlen, channel, ttl.
# The published message is "<seq> <frame>" so subscribers read the seq without parsing JSON.
_PUBLISH = Script("""
local seq = redis.call('INCR', KEYS[1])
local frame = ARGV[1] .. seq .. ARGV[2]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'f', frame)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[4], seq .. ' ' .. frame)
return seq
""")


def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def frame_parts(event_type: str, data: dict[str, Any]) -> tuple[str, str]:
    """The frame split around its seq: ``{"type":..,"seq":`` and ``,"ts":..,"data":..}``."""
    head = '{"type":' + encode(event_type) + ',"seq":'
    tail = ',"ts":' + encode(now_ts()) + ',"data":' + encode(data) + "}"
    return head, tail


def publish_now(session_id: int, event: Event) -> int:
    """Number, log and fan out one event now; returns its seq. Prefer ``publish``."""
    head, tail = frame_parts(event.type, event.model_dump(mode="json"))
    return int(
        _PUBLISH.run(
            keys=[seq_key(session_id), log_key(session_id)],
            args=[head, tail, LOG_MAXLEN, fanout_channel(session_id), KEY_TTL_S],
        )
    )


def publish(session_id: int, event: Event) -> None:
    """Publish after the current transaction commits; a rollback sends nothing."""
    transaction.on_commit(lambda: publish_now(session_id, event), robust=True)


def last_seq(session_id: int) -> int:
    value = redis_client().get(seq_key(session_id))
    return int(value) if value is not None else 0


def replay(session_id: int, after_seq: int) -> list[tuple[int, str]] | None:
    """Frames with seq > ``after_seq`` still in the log, oldest first; ``None`` when the
    log no longer reaches back that far (the caller sends a fresh snapshot instead)."""
    current = last_seq(session_id)
    if after_seq >= current:
        return []
    entries = redis_client().xrange(log_key(session_id), min=f"{after_seq + 1}-0", max="+")
    frames = [(int(entry_id.split(b"-")[0]), fields[b"f"].decode()) for entry_id, fields in entries]
    if not frames or frames[0][0] != after_seq + 1:
        return None
    return frames


class Coalescer:
    """At most one publication of a high-rate fact per ``interval_s`` per session, across
    every process: whoever takes the short Redis lock publishes, the others skip."""

    def __init__(self, name: str, interval_s: float) -> None:
        self.name = name
        self.interval_ms = max(1, int(interval_s * 1000))

    def key(self, session_id: int) -> str:
        return live_key(session_id, "coalesce", self.name)

    def try_acquire(self, session_id: int) -> bool:
        return bool(
            redis_client().set(self.key(session_id), int(time.time()), nx=True, px=self.interval_ms)
        )
