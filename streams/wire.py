"""Writing WebSocket text frames on daphne's sockets, past the ASGI send chain.

Broadcasts reach thousands of sockets per event, so the live consumer writes each one's
frame (built once per process) straight to daphne's protocol, and to the TCP socket itself
when nothing is queued before it (docs/benchmarks.md says what each step saves). This reads
daphne's, autobahn's and Twisted's internals, whose versions pyproject.toml bounds; wherever
those internals are not where this module expects them, it takes the libraries' ordinary
path (``sendMessage``), which is slower but keeps every frame in order.
"""

import functools
import struct
from typing import Any


def pending_bytes(transport: Any) -> int | None:
    """Bytes Twisted holds for this socket and has not written yet; None when Twisted's
    buffer is not where this expects it (another Twisted, another transport), so callers
    cannot mistake "unknown" for "nothing queued"."""
    try:
        pending = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except (AttributeError, TypeError):
        return None
    return pending if isinstance(pending, int) else None


def text_frame(payload: bytes) -> bytes:
    """The unmasked WebSocket text frame a server sends for ``payload`` (RFC 6455, 5.2)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


# A broadcast's frame, built once per process for every viewer: a server's frames are not
# masked (RFC 6455, 5.1), so every socket of the session gets the same bytes. The
# broadcaster hands each viewer the same ``payload`` object, so after the first viewer the
# cache hit costs a dict lookup (the bytes' hash is kept).
ws_text_frame = functools.lru_cache(maxsize=16)(text_frame)


def _write_now(transport: Any, wire: bytes) -> None:
    """Write to a Twisted TCP socket that holds nothing unsent, past Twisted's buffer.

    ``transport.write`` never writes at once: it registers the socket for writing and
    sends on the next loop turn, which on daphne's asyncio reactor costs an ``epoll_ctl``
    and a selector update to add the writer, and again to remove it, per socket per event:
    about two thirds of daphne's CPU in a broadcast (measured, docs/benchmarks.md). With
    nothing queued, a direct ``send`` keeps the order; what the kernel does not take now
    goes to Twisted's buffer and leaves after it, in order (and counts toward the
    slow-viewer limit). Errors are left to Twisted's write, which closes the connection.
    """
    try:
        sent = transport.socket.send(wire)
    except OSError:  # EAGAIN, or a dead peer: Twisted's write path deals with both
        sent = 0
    if sent < len(wire):
        transport.write(wire[sent:])


def write_text(protocol: Any, payload: bytes, wire: bytes | None = None) -> None:
    """Send one text message on daphne's open ``protocol``: ``wire`` (its frame) straight to
    the socket when nothing is queued before it, else behind what is, in order.

    Replies and broadcasts both go this way, so they can never overtake each other. Deflate,
    autobahn's own queue, TLS, and a transport whose buffer cannot be read keep autobahn's
    ``sendMessage``, which queues behind anything already buffered.
    """
    if getattr(protocol, "_perMessageCompress", None) is not None or getattr(
        protocol, "send_queue", True
    ):
        protocol.sendMessage(payload, False)
        return
    transport = protocol.transport
    pending = pending_bytes(transport)
    if pending is None or getattr(transport, "TLS", True) or not hasattr(transport, "socket"):
        protocol.sendMessage(payload, False)
        return
    wire = text_frame(payload) if wire is None else wire
    if pending == 0:
        _write_now(transport, wire)
    else:
        transport.write(wire)


def daphne_protocol(send: Any) -> Any:
    """The daphne protocol object behind a consumer's ``send``, or None.

    Daphne hands the application ``partial(server.handle_reply, protocol)``, but channels'
    session middleware (in ``AuthMiddlewareStack``) replaces ``send`` with its own bound
    method that keeps the original as ``real_send`` and passes ``websocket.send`` messages
    through untouched (it acts on ``http.response.start`` only). Looking at the outermost
    ``send`` alone missed the protocol behind that wrapper, and every broadcast then cost a
    task and the whole ASGI send chain per socket (measured: docs/benchmarks.md).
    """
    for _ in range(4):
        if isinstance(send, functools.partial):
            protocol = send.args[0] if send.args else None
            needed = ("sendMessage", "sendClose", "state", "STATE_OPEN", "transport")
            return protocol if all(hasattr(protocol, name) for name in needed) else None
        send = getattr(getattr(send, "__self__", None), "real_send", None)
    return None
