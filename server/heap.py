"""Keep full garbage collections from stalling a web process that holds thousands of sockets.

Each open WebSocket is hundreds of long-lived objects (daphne, autobahn and Twisted protocol
objects, the consumer, its scope). CPython runs a full collection whenever the long-lived
heap has grown by a quarter, and a full collection walks every tracked object with the
process stopped: 1.1-1.6 s at 5,000 sockets, with nothing to free. Every viewer's next event
waits that long (docs/benchmarks.md, "Fan-out").

``gc.freeze()`` moves what exists now out of the collector's sight, so later collections
walk only what is newer. Frozen objects are never freed, and sockets that close after the
freeze leave their reference cycles there; so once as many sockets have left as half of
those frozen, the heap is unfrozen, collected once and frozen again. What that costs: at
most about half the frozen sockets' memory held past their close, and one full collection
per half turnover of the audience; without this policy CPython collects as often during
churn, since the long-lived heap grows by a quarter as often.
"""

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class FrozenHeap:
    """The policy, driven once per live-loop tick with the process's socket counts.

    ``min_sockets``: below this many open sockets nothing is frozen (a full collection of a
    small heap is short); 0 turns the policy off. The gc functions are parameters so the
    policy can be tested without freezing the test process.
    """

    min_sockets: int
    freeze: Callable[[], None] = gc.freeze
    unfreeze: Callable[[], None] = gc.unfreeze
    collect: Callable[[], int] = gc.collect
    frozen_sockets: int = field(default=0, init=False)
    left_at_freeze: int = field(default=0, init=False)

    def tick(self, *, open_sockets: int, left_total: int) -> str:
        """Act on the counts; returns what was done: ``freeze``, ``refresh``, ``thaw`` or
        ``""``. ``left_total`` is every socket that ever left this process (monotonic)."""
        if self.min_sockets <= 0:
            return ""
        if self.frozen_sockets and open_sockets < self.min_sockets:
            # Few viewers left: let the collector see everything again.
            self.unfreeze()
            self.frozen_sockets = 0
            return "thaw"
        if open_sockets < self.min_sockets:
            return ""
        if self.frozen_sockets and left_total - self.left_at_freeze > self.frozen_sockets // 2:
            started = time.perf_counter()
            self.unfreeze()
            freed = self.collect()
            self.freeze()
            log.info(
                "heap refreshed at %d sockets: %d objects freed in %.0f ms",
                open_sockets,
                freed,
                (time.perf_counter() - started) * 1000,
            )
            self.frozen_sockets, self.left_at_freeze = open_sockets, left_total
            return "refresh"
        if open_sockets > self.frozen_sockets:
            # Sockets joined since the last freeze: their objects leave the collector's
            # sight too (O(1); a young cycle caught here waits for the next refresh).
            # Departures keep counting from the last refresh (or the first freeze).
            if not self.frozen_sockets:
                self.left_at_freeze = left_total
            self.freeze()
            self.frozen_sockets = open_sockets
            return "freeze"
        return ""
