"""A TCP relay in front of a real server that counts the bytes it hands to the client and keeps requests.

Transparent to HTTP (keep-alive included): the store talks to the relay's port as it
would to the server. ``sent`` counts what the client accepted from the server; it
stops growing when the client closes the connection, so it bounds what a refused
download actually transferred. ``requests`` keeps what the client sent (headers
and all), so a test can check what went on the wire.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from ..helpers import free_port

_CHUNK = 64 * 1024


@dataclass
class Relay:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``target_port``, counting."""

    target_port: int
    port: int = field(default_factory=free_port)
    sent: int = 0
    requests: bytearray = field(default_factory=bytearray)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: socket.socket | None = None
    _pumps: list[threading.Thread] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        """Stop accepting connections."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for args in ((client, upstream, True), (upstream, client, False)):
                pump = threading.Thread(target=self._pump, args=args, daemon=True)
                with self.lock:
                    self._pumps.append(pump)
                pump.start()

    def wait_closed(self, timeout: float = 30) -> None:
        """Wait until every connection relayed so far has closed (the client closed its side)."""
        with self.lock:
            pumps = list(self._pumps)
        for pump in pumps:
            pump.join(timeout)
            assert not pump.is_alive(), "a relayed connection is still open"

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                target.sendall(data)
                with self.lock:
                    if from_client:
                        self.requests.extend(data)
                    else:
                        self.sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
