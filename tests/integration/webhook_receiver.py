"""A partner's webhook receiver for tests: a small HTTP server on 127.0.0.1 that answers
from a script of status codes and keeps what it was sent."""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    # Status codes for the requests in turn; past the end, the last one again.
    script: list[int]
    received: list[Received] = field(default_factory=list)
    # Called (in the request's thread) before answering request n (0-based).
    before_answer: Callable[[int], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    def types(self) -> list[str]:
        return [r.event["type"] for r in self.received]


@contextmanager
def receiver(
    script: list[int], before_answer: Callable[[int], None] | None = None
) -> Iterator[Receiver]:
    state = Receiver(url="", script=script, before_answer=before_answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with state.lock:
                n = len(state.received)
                state.received.append(
                    Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body)
                )
            if state.before_answer is not None:
                state.before_answer(n)
            code = state.script[min(n, len(state.script) - 1)]
            self.send_response(code)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if code < 300 else b"no" * 500)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/talad"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
