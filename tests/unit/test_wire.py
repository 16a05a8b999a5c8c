"""streams.wire: the broadcast fast path takes the libraries' ordinary path whenever the
Twisted and autobahn internals it reads are not where it expects them."""

import socket
from collections import deque
from typing import Any

from streams.wire import pending_bytes, text_frame, write_text


class Protocol:
    """What streams.wire reads of autobahn's WebSocket protocol, and a record of sends."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.send_queue: deque[Any] = deque()
        self._perMessageCompress = None
        self.sent: list[bytes] = []

    def sendMessage(self, payload: bytes, is_binary: bool) -> None:
        self.sent.append(payload)


class TwistedTransport:
    """The attributes of a Twisted TCP transport that streams.wire reads."""

    TLS = False

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.socket = sock
        self.dataBuffer = buffered
        self.offset = 0
        self._tempDataLen = 0
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class OtherTransport:
    """A transport from a Twisted whose buffer lives elsewhere: no dataBuffer, no offset."""

    TLS = False

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_unknown_buffer_is_not_reported_as_empty() -> None:
    a, _ = socket.socketpair()
    with a, _:
        assert pending_bytes(OtherTransport(a)) is None
        assert pending_bytes(object()) is None
        assert pending_bytes(TwistedTransport(a, b"12345")) == 5


def test_unknown_buffer_takes_the_ordinary_path_not_the_socket() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        protocol = Protocol(OtherTransport(a))
        write_text(protocol, b'{"seq": 1}')
        assert protocol.sent == [b'{"seq": 1}']  # through autobahn, behind its buffer
        assert protocol.transport.written == []
        try:
            leaked = b.recv(100)
        except BlockingIOError:
            leaked = b""
        assert leaked == b""  # nothing went around Twisted's buffer


def test_known_empty_buffer_writes_to_the_socket_at_once() -> None:
    a, b = socket.socketpair()
    with a, b:
        protocol = Protocol(TwistedTransport(a))
        write_text(protocol, b'{"seq": 1}')
        assert b.recv(100) == text_frame(b'{"seq": 1}')
        assert protocol.sent == []


def test_queued_bytes_keep_new_frames_behind_them() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        protocol = Protocol(TwistedTransport(a, buffered=b"earlier"))
        write_text(protocol, b'{"seq": 2}')
        assert protocol.transport.written == [text_frame(b'{"seq": 2}')]
        try:
            leaked = b.recv(100)
        except BlockingIOError:
            leaked = b""
        assert leaked == b""


def test_a_protocol_without_autobahns_queue_takes_the_ordinary_path() -> None:
    a, _ = socket.socketpair()
    with a, _:
        protocol = Protocol(TwistedTransport(a))
        del protocol.send_queue
        write_text(protocol, b"{}")
        assert protocol.sent == [b"{}"]


def test_the_installed_twisted_keeps_its_buffer_where_wire_reads_it() -> None:
    """An upgrade that moves it fails here, not silently onto the slow path in production
    (tests/integration/test_live_daphne.py shows the rest of the fast path at work)."""
    from twisted.internet.abstract import FileDescriptor
    from twisted.internet.tcp import Server

    assert pending_bytes(FileDescriptor()) == 0
    assert Server.TLS is False
