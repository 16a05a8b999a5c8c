"""Which media process holds which session, in Redis (docs/architecture.md: processes are
stateless except for what they must hold; peer connections are such a thing).

A peer connection lives in the process that made it, and a session's viewers must reach
the process that holds its publisher (the relay is in that process's memory). So:

- every media process is a *node*: an id made at start-up, an advertised base URL
  (``MEDIA_NODE_URL``), and a key ``media:node:<id>`` that a heartbeat thread refreshes
  every ``MEDIA_NODE_TTL_S / 3`` seconds. A node that dies stops refreshing; within
  ``MEDIA_NODE_TTL_S`` it no longer counts.
- a session's owner is ``media:{session:<id>}:owner`` = node id. A node takes a session
  only by compare-and-set, from nobody or from a node that no longer counts, so a node
  that dies frees its sessions for the host to republish elsewhere.
- a WHIP/WHEP request that lands on any other process is answered ``307`` to the owner's
  URL (RFC 9725 section 4.5 requires WHIP/WHEP clients to follow it).

Per-session keys carry the session's hash tag; the one script touches only its KEYS.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from server.redis import Script, redis_client, session_tag

log = logging.getLogger(__name__)

NODES_KEY = "media:nodes"
NODE_ID = uuid.uuid4().hex[:12]

# KEYS: owner. ARGV: expected current owner ("" for none), new owner ("" to release).
_CAS = Script("""
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return current end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return ARGV[2]
""")


def owner_key(session_id: int) -> str:
    return f"media:{session_tag(session_id)}:owner"


def node_key(node_id: str) -> str:
    return f"media:node:{node_id}"


@dataclass(frozen=True)
class Node:
    id: str
    url: str
    peers: int


def is_media_node() -> bool:
    """Only processes with an advertised URL hold peer connections."""
    return bool(settings.MEDIA_NODE_URL)


def node_get(*, node_id: str) -> Node | None:
    raw = redis_client().get(node_key(node_id))
    if raw is None:
        return None
    data = json.loads(raw)
    return Node(id=node_id, url=data["url"], peers=int(data.get("peers", 0)))


def node_announce(*, peers: int) -> None:
    """Say this node is alive, where it is and how loaded it is."""
    client = redis_client()
    pipe = client.pipeline()
    pipe.set(
        node_key(NODE_ID),
        json.dumps({"url": settings.MEDIA_NODE_URL.rstrip("/"), "peers": peers}),
        ex=max(1, int(settings.MEDIA_NODE_TTL_S)),
    )
    pipe.sadd(NODES_KEY, NODE_ID)
    pipe.execute()


def node_withdraw(*, session_ids: list[int]) -> None:
    """A clean stop: free our sessions at once instead of after the TTL."""
    client = redis_client()
    for session_id in session_ids:
        owner_release(session_id=session_id)
    client.delete(node_key(NODE_ID))
    client.srem(NODES_KEY, NODE_ID)


def nodes_alive() -> list[Node]:
    client = redis_client()
    members = [m.decode() for m in client.smembers(NODES_KEY)]
    alive = []
    for node_id in members:
        node = node_get(node_id=node_id)
        if node is None:
            client.srem(NODES_KEY, node_id)
        else:
            alive.append(node)
    return alive


def node_pick() -> Node | None:
    """The least loaded live node, for a session nobody holds yet."""
    alive = nodes_alive()
    return min(alive, key=lambda n: (n.peers, n.id)) if alive else None


def owner_id(*, session_id: int) -> str | None:
    raw = redis_client().get(owner_key(session_id))
    return raw.decode() if raw is not None else None


def owner_get(*, session_id: int) -> Node | None:
    """The live node holding the session, or None (nobody, or a node that died)."""
    holder = owner_id(session_id=session_id)
    if holder is None:
        return None
    if holder == NODE_ID and is_media_node():
        # Ourselves: alive by definition, even between two heartbeats.
        return Node(id=NODE_ID, url=settings.MEDIA_NODE_URL.rstrip("/"), peers=0)
    return node_get(node_id=holder)


def _cas(session_id: int, expected: str, new: str) -> str:
    result = _CAS.run(client=redis_client(), keys=[owner_key(session_id)], args=[expected, new])
    return result.decode() if isinstance(result, bytes) else str(result or "")


def owner_claim(*, session_id: int) -> Node | None:
    """Take the session for this node; returns None when taken, else the live owner
    that holds it (the caller redirects there)."""
    for _ in range(3):
        raw = redis_client().get(owner_key(session_id))
        current = raw.decode() if raw is not None else ""
        if current == NODE_ID:
            return None
        if current:
            holder = node_get(node_id=current)
            if holder is not None:
                return holder
            log.info("session %s: node %s is gone; taking the session over", session_id, current)
        if _cas(session_id, current, NODE_ID) == NODE_ID:
            return None
    raise RuntimeError(f"could not settle the owner of session {session_id}")


def owner_release(*, session_id: int) -> None:
    """Let go of a session this node holds (no-op if another node took it)."""
    _cas(session_id, NODE_ID, "")


class Heartbeat:
    """A daemon thread, so a busy or stalled event loop never makes a healthy node look
    dead to the others (its peers would be orphaned while still connected)."""

    def __init__(self, load: Callable[[], int]) -> None:
        self.load = load
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.thread is not None or not is_media_node():
                return
            self.stop_event = threading.Event()
            self.thread = threading.Thread(
                target=self._run, args=(self.stop_event,), name="media-heartbeat", daemon=True
            )
            thread = self.thread
        self.beat()
        thread.start()

    def beat(self) -> None:
        if not is_media_node():
            return
        try:
            node_announce(peers=int(self.load()))
        except Exception as exc:  # Redis away: try again next beat
            log.warning("media heartbeat failed: %s", exc)

    def _run(self, stop_event: threading.Event) -> None:
        interval = max(0.2, settings.MEDIA_NODE_TTL_S / 3)
        while not stop_event.wait(interval):
            self.beat()

    def stop(self) -> None:
        """Stop beating; a later ``start`` (a peer arriving after all) beats again."""
        with self.lock:
            self.stop_event.set()
            self.thread = None


_load: Callable[[], int] = lambda: 0  # noqa: E731 - replaced by the peer registry
_heartbeat: Heartbeat | None = None


def set_load(load: Callable[[], int]) -> None:
    global _load
    _load = load


def heartbeat() -> Heartbeat:
    """The process's one heartbeat (started by the media ASGI app, or the first peer)."""
    global _heartbeat
    if _heartbeat is None:
        _heartbeat = Heartbeat(lambda: _load())
    return _heartbeat
