"""The per-process live loop: viewer presence and trailing flushes of coalesced facts.

Once a second this process reports its local viewer counts (``server.presence``), publishes
the fleet's total when it changed and it holds the turn, and flushes reactions counted since
the last ``reactions`` event. It also samples the viewer count into the session's metrics
minute (``streams.metrics``) and sends the host its live numbers (``host.numbers``) when they
changed. Higher apps add their own coalesced facts (coupons left, stock
left) to ``tick_hooks`` at start-up.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from server import presence
from server.fanout import broadcaster
from server.groups import host_group, send_to_group_async
from server.heap import FrozenHeap
from server.loops import LoopLocal
from server.publisher import Coalescer, publish_now
from streams import events, metrics
from streams.services import reactions_flush

log = logging.getLogger(__name__)

TICK_S = 1.0
# The host's live numbers: one node per interval sends them, and only when they changed.
HOST_NUMBERS_EVERY_S = 0.5
host_numbers_coalescer = Coalescer("host-numbers", HOST_NUMBERS_EVERY_S)
# Every tick of this process runs on this one thread, and hands its database connection
# back when done. Hooks read PostgreSQL (coupons: overdue drops, coupons left) and a Django
# connection belongs to the thread that opened it: on asyncio's default executor each new
# worker thread kept one from the pool for good, until the pool ran dry and the consumers'
# snapshot reads waited out daphne's 5 s handshake limit (tests/integration/test_multinode.py
# with DB_POOL_MAX=2).
_tick_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-tick")
tick_hooks: list[Callable[[int], None]] = [
    lambda session_id: reactions_flush(session_id=session_id)
]


class LiveLoop:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._reported: set[int] = set()
        self._heap = FrozenHeap(min_sockets=settings.LIVE_GC_FREEZE_MIN_SOCKETS)

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def tick_now(self) -> None:
        """One tick, awaited (tests and the first viewer of a session)."""
        fanout = broadcaster()
        self._heap.tick(open_sockets=fanout.open_sockets(), left_total=fanout.left)
        counts = {s: fanout.local_count(s) for s in fanout.sessions()}
        # A session whose last local viewer left reports 0 once, then is forgotten.
        for gone in self._reported - counts.keys():
            counts[gone] = 0
        self._reported = {s for s, n in counts.items() if n > 0}
        if counts:
            numbers = await asyncio.get_running_loop().run_in_executor(
                _tick_thread, self._tick_sync, counts
            )
            for session_id, data in numbers.items():
                await send_to_group_async(host_group(session_id), "host.numbers", data)

    @staticmethod
    def _tick_sync(counts: dict[int, int]) -> dict[int, dict]:
        """Report presence, run the hooks; returns the host numbers this node should send."""
        numbers: dict[int, dict] = {}
        try:
            totals = presence.report(counts)
            for session_id, (total, changed) in totals.items():
                if changed:
                    publish_now(session_id, events.Viewers(count=total))
            live = [s for s, n in counts.items() if n > 0]
            metrics.viewers_sample({s: totals[s][0] for s in live}, at=timezone.now())
            for session_id in live:
                for hook in tick_hooks:
                    hook(session_id)
                if host_numbers_coalescer.try_acquire(session_id):
                    data = metrics.host_numbers_if_changed(session_id)
                    if data is not None:
                        numbers[session_id] = data
        finally:
            close_old_connections()
        return numbers

    async def _run(self) -> None:
        while True:
            try:
                await self.tick_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live loop tick failed; trying again")
            await asyncio.sleep(TICK_S)


_loops = LoopLocal(LiveLoop)


def live_loop() -> LiveLoop:
    return _loops.get()
