"""Light HTTP buyers: thousands of kept-alive connections in one process, each placing an
order with one ``POST /api/orders/`` at the storm's moment.

Each connection is a bare ``asyncio.Protocol`` with ``h11`` parsing its responses (no task or
stream per buyer), opened before the storm so that connection set-up is not what is measured.
A buyer authenticates with ``Authorization: Token`` and sends its own ``Idempotency-Key``
(docs/api.md, "Orders").
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11


@dataclass(frozen=True)
class Answer:
    """The server's answer to one order: ``placed`` (201), an error's contract code, or a
    client-side ``timeout`` / ``connection_lost``."""

    status: int
    code: str
    sent: float
    received: float

    @property
    def latency(self) -> float:
        return self.received - self.sent

    @property
    def won(self) -> bool:
        return self.code == "placed"


class Buyer(asyncio.Protocol):
    """One buyer's kept-alive connection: one request at a time."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host = f"{host}:{port}"
        self.token = token
        self.transport: asyncio.Transport | None = None
        self.conn = h11.Connection(our_role=h11.CLIENT)
        self.future: asyncio.Future[Answer] | None = None
        self.sent = 0.0
        self.status = 0
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._done(Answer(0, "connection_lost", self.sent, time.monotonic()))

    def post(self, path: str, payload: dict[str, Any]) -> asyncio.Future[Answer]:
        """Send ``POST path`` with a fresh ``Idempotency-Key``; resolves with the answer."""
        loop = asyncio.get_running_loop()
        self.future = future = loop.create_future()
        self.sent = time.monotonic()
        if self.transport is None or self.transport.is_closing():
            self._done(Answer(0, "connection_lost", self.sent, self.sent))
            return future
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        body = json.dumps(payload).encode()
        headers = [
            ("Host", self.host), ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))), ("Authorization", f"Token {self.token}"),
            ("Idempotency-Key", uuid.uuid4().hex),
        ]  # fmt: skip
        self.status, self.body = 0, bytearray()
        data = self.conn.send(h11.Request(method="POST", target=path, headers=headers))
        self.transport.write(data + self.conn.send(h11.Data(data=body)) + self.conn.send(
            h11.EndOfMessage()
        ))  # fmt: skip
        return future

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self._done(Answer(0, "bad_response", self.sent, time.monotonic()))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self.status = event.status_code
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._done(Answer(self.status, self._code(), self.sent, time.monotonic()))
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _code(self) -> str:
        if self.status == 201:
            return "placed"
        try:
            return str(json.loads(self.body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return f"http_{self.status}"

    def _done(self, answer: Answer) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_result(answer)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_buyers(
    urls: Sequence[str], tokens: Sequence[str], *, concurrency: int = 100, timeout: float = 30
) -> tuple[list[Buyer], Counter[str]]:
    """One connection per token, round-robin over ``urls`` (the web nodes)."""
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(concurrency)
    errors: Counter[str] = Counter()
    buyers: list[Buyer | None] = [None] * len(tokens)

    async def one(i: int, token: str) -> None:
        url = urlsplit(urls[i % len(urls)])
        async with limit:
            try:
                _, buyer = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: Buyer(url.hostname or "", url.port or 80, token),
                        url.hostname, url.port,
                    ),
                    timeout,
                )  # fmt: skip
                buyers[i] = buyer
            except (OSError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1

    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    return [b for b in buyers if b is not None], errors


async def storm(
    buyers: Sequence[Buyer], payload: dict[str, Any], *, path: str = "/api/orders/",
    timeout: float = 120.0,
) -> list[Answer]:  # fmt: skip
    """Every buyer places ``payload`` once, all written in one pass of the loop."""
    futures = [buyer.post(path, payload) for buyer in buyers]
    await asyncio.wait(futures, timeout=timeout)
    now = time.monotonic()
    answers = []
    for buyer, future in zip(buyers, futures, strict=True):
        if future.done():
            answers.append(future.result())
        else:
            future.cancel()
            answers.append(Answer(0, "timeout", buyer.sent, now))
            buyer.close()  # its connection is mid-request: not reusable
    return answers


def close_all(buyers: Sequence[Buyer]) -> None:
    for buyer in buyers:
        buyer.close()
