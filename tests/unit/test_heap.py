"""server.heap: when a web process freezes, refreshes and thaws its long-lived heap."""

import gc
import weakref

from server.heap import FrozenHeap


class Calls:
    def __init__(self) -> None:
        self.log: list[str] = []

    def heap(self, min_sockets: int = 1000) -> FrozenHeap:
        return FrozenHeap(
            min_sockets=min_sockets,
            freeze=lambda: self.log.append("freeze"),
            unfreeze=lambda: self.log.append("unfreeze"),
            collect=lambda: self.log.append("collect") or 0,
        )


def test_small_processes_are_left_to_the_collector() -> None:
    calls = Calls()
    heap = calls.heap()
    for sockets in (0, 10, 999):
        assert heap.tick(open_sockets=sockets, left_total=0) == ""
    assert calls.log == []


def test_off_when_the_setting_is_zero() -> None:
    calls = Calls()
    heap = calls.heap(min_sockets=0)
    assert heap.tick(open_sockets=50_000, left_total=0) == ""
    assert calls.log == []


def test_a_ramp_of_joins_is_frozen_as_it_grows_and_a_steady_audience_is_left_alone() -> None:
    calls = Calls()
    heap = calls.heap()
    assert [heap.tick(open_sockets=n, left_total=0) for n in (500, 1000, 2500, 5000)] == [
        "",
        "freeze",
        "freeze",
        "freeze",
    ]
    assert [heap.tick(open_sockets=5000, left_total=0) for _ in range(5)] == [""] * 5
    assert calls.log == ["freeze"] * 3


def test_half_a_turnover_unfreezes_collects_and_freezes_again() -> None:
    calls = Calls()
    heap = calls.heap()
    heap.tick(open_sockets=4000, left_total=100)
    # Churn at a steady size, with small ups that freeze newcomers: departures keep counting
    # from the first freeze, not from each of those.
    assert heap.tick(open_sockets=4010, left_total=1100) == "freeze"
    assert heap.tick(open_sockets=4000, left_total=2100) == ""
    assert heap.tick(open_sockets=4000, left_total=2200) == "refresh"
    assert calls.log[-3:] == ["unfreeze", "collect", "freeze"]
    # The next refresh needs another half turnover from here.
    assert heap.tick(open_sockets=4000, left_total=3000) == ""
    assert heap.tick(open_sockets=4000, left_total=4300) == "refresh"


def test_an_audience_that_leaves_is_thawed_once() -> None:
    calls = Calls()
    heap = calls.heap()
    heap.tick(open_sockets=3000, left_total=0)
    assert heap.tick(open_sockets=200, left_total=2800) == "thaw"
    assert heap.tick(open_sockets=100, left_total=2900) == ""
    assert calls.log == ["freeze", "unfreeze"]


class Cycle:
    """A closed socket's leftovers: objects that point at each other."""

    def __init__(self) -> None:
        self.me = self


def test_the_real_collector_frees_what_was_frozen_after_a_refresh() -> None:
    gc.collect()
    assert gc.get_freeze_count() == 0, "the test process must not be frozen already"
    heap = FrozenHeap(min_sockets=1)
    try:
        sockets = [Cycle() for _ in range(100)]
        refs = [weakref.ref(s) for s in sockets]
        assert heap.tick(open_sockets=100, left_total=0) == "freeze"
        assert gc.get_freeze_count() > 0
        del sockets
        gc.collect()
        assert all(ref() is not None for ref in refs), "frozen cycles are out of reach"
        assert heap.tick(open_sockets=100, left_total=51) == "refresh"
        assert all(ref() is None for ref in refs)
    finally:
        gc.unfreeze()
