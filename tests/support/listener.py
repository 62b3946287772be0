"""A TCP listener on loopback that counts the connections it gets (the target of SSRF attempts)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Listener:
    port: int
    connections: int = 0
    first_bytes: list[bytes] = field(default_factory=list)
    held: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def listening(*, hang: bool = False, port: int = 0) -> Iterator[Listener]:
    """Accept connections on 127.0.0.1 and count them. By default each is read once and closed without an
    answer; ``hang`` keeps every connection open and silent (a host that accepts and never answers)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    server.settimeout(0.1)
    listener = Listener(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            listener.connections += 1
            if hang:
                listener.held.append(conn)
                continue
            conn.settimeout(1)
            with suppress(OSError):
                listener.first_bytes.append(conn.recv(200))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        for conn in listener.held:
            conn.close()
