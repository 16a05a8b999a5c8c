"""Buyers over real HTTP for the order storm tests: each buyer places one order with its own
``Idempotency-Key`` and, as a real app does, retries the same key on another node when its
connection fails, after ``retry_after_s`` on a ``conflict`` and on ``unavailable``.

Each attempt is one HTTP/1.1 request on its own loopback connection (``Connection: close``),
written on asyncio streams: all buyers' requests are in flight at once, and the client stays
cheap enough not to be what the storm measures (a single pooled client queueing 2,000
requests spends its time choosing connections, not sending).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

RETRIED = {"conflict", "unavailable"}


@dataclass
class Ask:
    """One order a buyer places: ``body`` under ``key`` (fresh unless given)."""

    token: str
    body: dict[str, Any]
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Answer:
    """Every reply the buyer saw for one ask, in order: (node index, status, code, order
    id); a failed connection is status 0, code its exception's name."""

    ask: Ask
    seen: list[tuple[int, int, str, int | None]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.seen[-1][1]

    @property
    def code(self) -> str:
        return self.seen[-1][2]

    @property
    def order(self) -> int | None:
        return self.seen[-1][3]


async def once(
    base: str, ask: Ask, timeout: float = 60.0
) -> tuple[int, str, int | None, float]:
    """One attempt: (status, code, order id, retry_after_s); status 0 and the exception's
    name when the connection failed or the answer did not come within ``timeout``."""
    url = urlsplit(base)
    body = json.dumps(ask.body).encode()
    head = (
        f"POST /api/orders/ HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Token {ask.token}\r\nIdempotency-Key: {ask.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(url.hostname, url.port)
            writer.write(head + body)
            await writer.drain()
            raw = await reader.read()
    except (OSError, TimeoutError) as exc:
        return 0, type(exc).__name__, None, 0.0
    finally:
        if writer is not None:
            writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    if not status_line:
        return 0, "EmptyReply", None, 0.0
    status = int(status_line.split()[1])
    try:
        data = json.loads(rest.partition(b"\r\n\r\n")[2] or b"{}")
    except ValueError:  # not our API's answer (a server error page)
        return status, "not-json", None, 0.0
    if status == 201:
        return 201, "created", int(data["id"]), 0.0
    error = data["error"]
    return status, error["code"], None, float(error.get("retry_after_s", 0))


async def place(bases: list[str], first: int, ask: Ask, deadline: float) -> Answer:
    """Place ``ask`` on ``bases[first]``; retry the same key on the next node after a
    connection error, and after ``retry_after_s`` on ``conflict``/``unavailable``, until
    ``deadline`` (monotonic)."""
    answer = Answer(ask=ask)
    node = first
    while True:
        status, code, order, wait = await once(bases[node], ask, deadline - time.monotonic())
        answer.seen.append((node, status, code, order))
        if status == 0:
            node = (node + 1) % len(bases)
            if time.monotonic() > deadline:
                return answer
            await asyncio.sleep(0.05)
            continue
        if code not in RETRIED or time.monotonic() + wait > deadline:
            return answer
        await asyncio.sleep(wait * (1 + random.random()))  # jitter: no herd comes back at once


async def storm(
    bases: list[str],
    asks: list[Ask],
    *,
    timeout: float = 80.0,
    during: Callable[[list[Answer]], Awaitable[None]] | None = None,
) -> tuple[list[Answer], float]:
    """Every ask at once, ask ``i`` first on node ``i % len(bases)``; ``during`` runs beside
    them (a fault drill) and sees the answers as they come. Returns the answers in ask order
    and the wall time."""
    done: list[Answer] = []
    deadline = time.monotonic() + timeout

    async def one(i: int, ask: Ask) -> Answer:
        answer = await place(bases, i % len(bases), ask, deadline)
        done.append(answer)
        return answer

    started = time.monotonic()
    tasks = [asyncio.ensure_future(one(i, ask)) for i, ask in enumerate(asks)]
    side = asyncio.ensure_future(during(done)) if during is not None else None
    answers = await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    if side is not None:
        await side
    return list(answers), elapsed


async def until_answered(done: list[Answer], count: int, timeout: float = 60.0) -> None:
    """Poll until ``count`` asks have their final answer."""
    deadline = time.monotonic() + timeout
    while len(done) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
