"""The join snapshot, read once per session per second per process and shared by every
viewer who joins meanwhile (docs/protocol.md, "On connect")."""

import asyncio
import time
from typing import Any

from channels.db import database_sync_to_async

from server.loops import LoopLocal
from streams.selectors import session_snapshot

# Viewers of one session who join within this many seconds share one snapshot read.
SNAPSHOT_SHARE_S = 1.0


class SharedSnapshots:
    """One snapshot read per session per ``SNAPSHOT_SHARE_S`` in this process, shared by
    every viewer who joins meanwhile (concurrent joins wait for the same read).

    A storm of joins otherwise reads the same rows once per viewer, one after another on
    channels' single database thread: about 90 joins/s per process (docs/benchmarks.md).
    Sharing is safe because each viewer then replays the log from the snapshot's seq.
    """

    def __init__(self) -> None:
        self._reads: dict[int, tuple[float, asyncio.Future[dict[str, Any] | None]]] = {}

    async def get(self, session_id: int) -> dict[str, Any] | None:
        now = time.monotonic()
        entry = self._reads.get(session_id)
        if entry is None or now - entry[0] > SNAPSHOT_SHARE_S or _failed(entry[1]):
            entry = self._start(session_id, now)
        # One viewer giving up (a closed socket) must not cancel the read for the others.
        return await asyncio.shield(entry[1])

    async def fresh(self, session_id: int) -> dict[str, Any] | None:
        """A snapshot read now (and shared from now on)."""
        return await asyncio.shield(self._start(session_id, time.monotonic())[1])

    def _start(
        self, session_id: int, now: float
    ) -> tuple[float, asyncio.Future[dict[str, Any] | None]]:
        if len(self._reads) > 1000:
            self._reads = {k: v for k, v in self._reads.items() if now - v[0] <= SNAPSHOT_SHARE_S}
        read = asyncio.ensure_future(
            database_sync_to_async(session_snapshot)(session_id=session_id)
        )
        self._reads[session_id] = entry = (now, read)
        return entry


def _failed(read: asyncio.Future[Any]) -> bool:
    return read.done() and (read.cancelled() or read.exception() is not None)


_snapshots = LoopLocal(SharedSnapshots)


def shared_snapshots() -> SharedSnapshots:
    """This event loop's snapshot reads (one per process under daphne; one per test loop)."""
    return _snapshots.get()
