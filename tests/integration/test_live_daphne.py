"""The live channel over a real daphne process and real sockets: hostile frames, unknown
sessions, and slow viewers, where Twisted, autobahn and daphne do what they do in
production (WebsocketCommunicator runs none of them)."""

import contextlib
import json
import os
import socket
import struct
import time
from base64 import b64encode
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bench.nodes import HOST, Node, database_url, start_node, stop_node, tail, wait_ready
from catalog import services as catalog
from server import presence
from server.accounts import services as accounts
from server.publisher import publish_now
from streams import events, services
from streams.consumers import CLOSE_FLOOD, CLOSE_NOT_FOUND, CLOSE_TOO_SLOW, SLOW_VIEWER_BYTES
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ERROR_CODES = {
    "invalid",
    "not_authenticated",
    "forbidden",
    "not_found",
    "rate_limited",
    "conflict",
    "unavailable",
}


@pytest.fixture(scope="module")
def node(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[Node]:
    """One daphne process on the test database and this test run's Redis."""
    from django.conf import settings as django_settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": django_settings.REDIS_URL,
        "DB_POOL_MAX": "2",
    }
    started = start_node("live", env=env, log_dir=tmp_path_factory.mktemp("daphne"))
    try:
        wait_ready([started])
        yield started
    except BaseException:
        print(tail(started, 60))
        raise
    finally:
        stop_node(started)


@pytest.fixture
def live_session() -> Any:
    host = accounts.user_register(username="daphne-host", password=PASSWORD, role="host")
    farm = catalog.farm_create(owner=host, name="Farm", province="Nan", district="Pua")
    now = timezone.now()
    session = services.session_create(
        host=host, farm=farm, title="Live", now=now, scheduled_at=now + timedelta(hours=1)
    )
    return services.session_start(session=session, actor=host, now=now)


@contextlib.contextmanager
def open_viewer(node: Node, session_id: int) -> Iterator[ClientConnection]:
    url = node.ws_url(f"/ws/live/{session_id}/")
    with connect(url, open_timeout=10, max_size=2**24) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "snapshot"
        yield ws


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def reply_to(ws: ClientConnection, msg_id: str | None) -> dict[str, Any]:
    """Frames until the one replying to ``msg_id`` (None: a reply to a frame too broken to
    carry an id); each must be a well-formed frame."""
    while True:
        frame = json.loads(ws.recv(timeout=10))
        assert isinstance(frame, dict) and isinstance(frame["type"], str), frame
        if frame["type"] == "error":
            assert frame["data"]["code"] in ERROR_CODES, frame
            assert isinstance(frame["data"]["message"], str) and frame["data"]["message"]
        if "reply_to" in frame and frame["reply_to"] == msg_id:
            return frame


def test_an_unknown_session_is_accepted_then_closed_4404(node: Node) -> None:
    # a close before the accept would be an HTTP 403 at the handshake (InvalidStatus here)
    for path in ("/ws/live/987654321/", "/ws/no-such-path/"):
        with (
            connect(node.ws_url(path), open_timeout=10) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CLOSE_NOT_FOUND


def test_deep_nesting_is_an_error_reply_and_the_viewer_leaves_the_count(
    node: Node, live_session: Any
) -> None:
    with open_viewer(node, live_session.pk) as ws:
        until(lambda: presence.viewer_count(live_session.pk) == 1, 10, "the viewer to count")
        ws.send("[" * 2048 + "]" * 2048)  # 4 KiB: inside the frame limit, past the recursion limit
        error = reply_to(ws, None)
        assert error["type"] == "error"
        assert error["data"]["code"] == "invalid"
        ws.send(json.dumps({"type": "ping", "id": "after"}))
        assert reply_to(ws, "after")["type"] == "pong"
    until(lambda: presence.viewer_count(live_session.pk) == 0, 10, "the count to drop to 0")


def hostile_json() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**80), max_value=10**80)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(alphabet=st.characters(codec="utf-8"), max_size=50)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )


KNOWN_TYPES = ["ping", "chat.send", "reaction.send", "chat.delete", "chat.mute", "coupon.claim"]


def frames() -> st.SearchStrategy[str | bytes]:
    envelope = st.fixed_dictionaries(
        {"type": st.sampled_from(KNOWN_TYPES) | st.text(max_size=45)},
        optional={
            "id": st.text(max_size=70) | st.integers(min_value=-(10**70), max_value=10**70),
            "data": st.dictionaries(
                st.sampled_from(["text", "kind", "id", "user", "drop", "x"]), hostile_json()
            )
            | hostile_json(),
            "extra": hostile_json(),
        },
    )
    return st.one_of(
        envelope.map(json.dumps),
        hostile_json().map(json.dumps),
        st.integers(min_value=1, max_value=2100).map(lambda n: "[" * n + "]" * n),
        st.integers(min_value=1, max_value=1400).map(lambda n: '{"a":' * n + "1" + "}" * n),
        st.sampled_from(
            [
                '{"type": "chat.send", "data": {"text": 1e9999999999999999999}}',
                '{"type": "chat.delete", "id": 1, "data": {"id": 99999999999999999999999}}',
                '{"type": "chat.mute", "data": {"user": 9223372036854775808}}',
                '{"type": "ping", "id": "\\u0000"}',
                '{"type": "ping", "id": "\\ud800"}',
                '{"type": "chat.send", "id": "s", "data": {"text": "\\udfff x"}}',
                '{"type": "ping", "id": "\\ud83e\\udd6d"}',
                '{"type": "chat.send", "data": {"text": "a\\u0000b"}}',
                "\x00",
                "NaN",
                "9" * 4000,
            ]
        ),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(min_value=4000, max_value=9000).map(lambda n: "x" * n),
    )


def test_fuzzed_frames_never_break_the_socket_or_the_count(node: Node, live_session: Any) -> None:
    """Whatever a client sends, the socket answers and stays open (or closes with a
    documented 4xxx code), and every socket that leaves leaves the viewer count."""
    with open_viewer(node, live_session.pk) as watcher:
        fuzz_beside(node, live_session.pk, watcher)
    log = node.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def fuzz_beside(node: Node, session_id: int, watcher: ClientConnection) -> None:
    until(lambda: presence.viewer_count(session_id) == 1, 10, "the watcher to count")
    examples = 0

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=st.lists(frames(), min_size=1, max_size=8))
    def fuzz(batch: list[str | bytes]) -> None:
        nonlocal examples
        examples += 1
        with open_viewer(node, session_id) as ws:
            try:
                for frame in batch:
                    ws.send(frame)
                ws.send(json.dumps({"type": "ping", "id": "end"}))
                assert reply_to(ws, "end")["type"] == "pong"
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                assert code == CLOSE_FLOOD, f"closed with {code} after {batch!r:.300}"

    fuzz()
    assert examples >= 100
    # the watcher is still served, and the fuzzing sockets all left the count
    watcher.send(json.dumps({"type": "ping", "id": "w"}))
    assert reply_to(watcher, "w")["type"] == "pong"
    until(lambda: presence.viewer_count(session_id) == 1, 15, "the count back to 1")


# --- slow viewers and the direct write ------------------------------------------------


def raw_viewer(node: Node, session_id: int, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket client on a bare socket with a small receive buffer, that reads only
    when told to: a viewer on a stalled network."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((HOST, node.port))
    key = b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/live/{session_id}/ HTTP/1.1\r\nHost: {HOST}:{node.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_frames(sock: socket.socket, timeout: float) -> tuple[list[dict[str, Any]], int | None]:
    """Every text frame until the server's close frame; returns them and the close code."""
    sock.settimeout(timeout)
    buffer = b""
    texts: list[dict[str, Any]] = []

    def need(n: int) -> bytes:
        nonlocal buffer
        while len(buffer) < n:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            buffer += chunk
        out, buffer = buffer[:n], buffer[n:]
        return out

    with contextlib.suppress(EOFError, ConnectionResetError):
        while True:
            first, second = need(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", need(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", need(8))[0]
            payload = need(size)
            opcode = first & 0x0F
            if opcode == 0x8:
                return texts, struct.unpack("!H", payload[:2])[0] if payload else None
            if opcode == 0x1:
                texts.append(json.loads(payload))
    return texts, None


def test_a_stalled_viewer_is_closed_4008_while_a_reader_gets_every_frame_in_order(
    node: Node, live_session: Any
) -> None:
    with open_viewer(node, live_session.pk) as reader:
        stalled_viewer(node, live_session.pk, reader)


def stalled_viewer(node: Node, session_id: int, reader: ClientConnection) -> None:
    stalled = raw_viewer(node, session_id)
    until(lambda: presence.viewer_count(session_id) == 2, 10, "both viewers to count")
    speaker = events.Speaker(id=1, username="x", display_name="x", host=False, staff=False)
    text = "มะม่วง" * 10_000  # about 180 KB a frame
    # more than the kernel's buffers on both ends plus the slow-viewer limit
    count = (2 * 4 * 1024 * 1024 + SLOW_VIEWER_BYTES) // (len(text.encode()) - 100) + 1
    # in batches the reader takes in before the next (it must never itself fall 1 MiB
    # behind on a busy machine), while the stalled viewer's backlog only grows
    batch = SLOW_VIEWER_BYTES // 2 // len(text.encode()) or 1
    seqs: list[int] = []
    first = last = 0
    for n in range(count):
        event = events.ChatPosted(id=n, user="x", user_id=1, speaker=speaker, text=text)
        last = publish_now(session_id, event)
        first = first or last
        if n % batch == batch - 1 or n == count - 1:
            while not seqs or seqs[-1] < last:
                frame = json.loads(reader.recv(timeout=20))
                if "seq" in frame:
                    seqs.append(frame["seq"])
    assert seqs == list(range(seqs[0], last + 1)) and seqs[0] <= first
    # the stalled viewer reads what was queued for it, in order, then the 4008 close
    got, code = read_frames(stalled, timeout=20)
    stalled.close()
    stalled_seqs = [f["seq"] for f in got if "seq" in f]
    assert code == CLOSE_TOO_SLOW, (code, stalled_seqs[-3:], last, tail(node, 20))
    assert stalled_seqs == list(range(stalled_seqs[0], stalled_seqs[0] + len(stalled_seqs)))
    assert stalled_seqs[-1] < last  # it was dropped before the end
    until(lambda: presence.viewer_count(session_id) == 1, 10, "the stalled one to leave")
