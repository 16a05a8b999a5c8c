"""One object per running event loop: a web process has one loop, so one per process under
daphne; tests make a loop per test, and an object bound to a closed loop (a Redis client, a
pending future) must not serve the next one."""

import asyncio
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopLocal(Generic[T]):
    """``get(*key)`` returns this loop's ``factory(*key)``, made on first use; entries of
    closed loops are dropped when a new one is made."""

    def __init__(self, factory: Callable[..., T]) -> None:
        self._factory = factory
        self._values: dict[tuple[asyncio.AbstractEventLoop, tuple[Hashable, ...]], T] = {}

    def get(self, *key: Hashable) -> T:
        full = (asyncio.get_running_loop(), key)
        value = self._values.get(full)
        if value is None:
            for old in [old for old in self._values if old[0].is_closed()]:
                del self._values[old]
            value = self._values[full] = self._factory(*key)
        return value

    def values(self) -> Iterator[T]:
        """Every loop's object (a snapshot: safe while others are made)."""
        return iter(list(self._values.values()))
