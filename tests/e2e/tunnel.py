"""TCP over a unix socket, so a network namespace with only ``lo`` up still reaches the
test PostgreSQL and Redis: unix sockets are files, which a new network namespace shares.

Outside: ``unix_to_tcp(path, host, port)``; inside: ``tcp_to_unix(port, path)``. Threads
and plain sockets, no dependency; every thread is a daemon and stops with its process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    for sock in (source, target):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _serve(listener: socket.socket, connect) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = connect()
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def unix_to_tcp(path: str, host: str, port: int) -> socket.socket:
    """Listen on ``path``; each connection goes on to ``host:port``."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    threading.Thread(
        target=_serve,
        args=(listener, lambda: socket.create_connection((host, port), timeout=5)),
        daemon=True,
    ).start()
    return listener


def tcp_to_unix(port: int, path: str) -> socket.socket:
    """Listen on 127.0.0.1:``port``; each connection goes on to the unix socket ``path``."""

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return sock

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, connect), daemon=True).start()
    return listener
