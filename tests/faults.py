"""A real HTTP proxy in front of a real server that injects faults on demand.

The store under test talks to the proxy over TCP as it would to the service;
the proxy forwards to the real server (Azurite), except for the requests a test
told it to fail: answered with an error status, or held past the client's read
timeout. It records every request, so a test can count retries.

:class:`ConnectionCounter` is the other half: a port with no server behind it that counts the
connections made to it, so "no request was made" is a count of zero, never a stopwatch.
"""

from __future__ import annotations

import asyncio
import http.client
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from durabletask_payloads import InvalidPayloadTokenError, PayloadStore

from .helpers import free_port

# What the services call these answers (Azure's names; S3 reads the status only).
_ERROR_CODES = {403: "AuthorizationFailure", 500: "InternalError", 503: "ServerBusy"}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Fault:
    """What to do to the next *count* requests matching *method* (and *path_contains*)."""

    method: str
    count: int
    status: int | None = None  # answer with this status instead of forwarding
    delay: float = 0.0  # or hold the request this long before forwarding
    path_contains: str = ""
    drop: bool = False  # or close the connection without an answer


@dataclass
class FaultProxy:
    """Forward HTTP to ``127.0.0.1:target_port``, injecting the queued faults."""

    target_port: int
    port: int = field(default_factory=free_port)
    requests: list[tuple[str, str]] = field(default_factory=list)  # method and path, as they arrive
    # Each request's headers and the number of its connection (1 for the first accepted), in order.
    headers: list[dict[str, str]] = field(default_factory=list)
    connection_of: list[int] = field(default_factory=list)
    connections: int = 0
    close_after_answer: bool = False  # close each connection after one answer, saying nothing
    closed: threading.Condition = field(default_factory=threading.Condition)
    closed_count: int = 0
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def inject(
        self,
        method: str,
        count: int = 1,
        *,
        status: int | None = None,
        delay: float = 0.0,
        path_contains: str = "",
        drop: bool = False,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(method, count, status, delay, path_contains, drop))

    def count(self, method: str, path_contains: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and path_contains in p)

    def wait_closed(self, count: int) -> None:
        """Wait until *count* connections have been closed by this proxy (or their clients)."""
        with self.closed:
            if not self.closed.wait_for(lambda: self.closed_count >= count, timeout=30):
                raise AssertionError(f"{self.closed_count} connections closed, {count} expected")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path_contains in path and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def setup(self) -> None:
                super().setup()
                with proxy.lock:
                    proxy.connections += 1
                    self.number = proxy.connections

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.requests.append((self.command, self.path))
                    proxy.headers.append(dict(self.headers.items()))
                    proxy.connection_of.append(self.number)
                fault = proxy._take_fault(self.command, self.path)
                if fault is not None and fault.drop:
                    self.close_connection = True  # the request was read; no answer comes
                    return
                if proxy.close_after_answer:
                    self.close_connection = True
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)  # the injected fault itself: a slow server
                if fault is not None and fault.status is not None:
                    code = _ERROR_CODES.get(fault.status, "InjectedFault")
                    payload = (
                        '<?xml version="1.0" encoding="utf-8"?><Error>'
                        f"<Code>{code}</Code><Message>Injected fault {fault.status}.</Message></Error>"
                    ).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("x-ms-error-code", code)
                    self.end_headers()
                    if self.command != "HEAD":  # a HEAD answer has no body, or the connection breaks
                        self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle  # noqa: N815

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)  # the socket is closed now: say so
                with proxy.closed:
                    proxy.closed_count += 1
                    proxy.closed.notify_all()

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ConnectionCounter:
    """A TCP port on 127.0.0.1 that accepts connections, counts them and closes them unanswered.

    Point a store at it to prove an operation opened no connection: ``count()`` stays 0. It speaks
    no protocol, so it serves Azure and S3 (HTTP) and Redis (RESP) alike. A client that does connect
    reads an immediate EOF, so a test that should fail fails at once instead of timing out.
    """

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.setblocking(False)
        self.port: int = self._socket.getsockname()[1]
        self._accepted = 0
        self._lock = threading.Lock()
        # close() writes to one end to wake the accepting thread, which then returns.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _accept_pending(self) -> None:
        """Accept and close every connection in the backlog (the lock is held)."""
        while True:
            try:
                connection, _ = self._socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            self._accepted += 1
            connection.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_reader in ready:
                    return
                with self._lock:
                    self._accept_pending()

    def count(self) -> int:
        """Connections opened so far, the ones still in the kernel's backlog included."""
        with self._lock:
            self._accept_pending()
            return self._accepted

    def close(self) -> None:
        self._wake_writer.send(b"x")
        self._thread.join()
        for sock in (self._socket, self._wake_reader, self._wake_writer):
            sock.close()

    def __enter__(self) -> ConnectionCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_refused_before_any_io(store: PayloadStore, token: str, *ports: ConnectionCounter) -> None:
    """Every reading method refuses *token*, and not one connection reached *ports*.

    Give a store whose endpoint is one of *ports* (and, for a token naming another endpoint, that
    endpoint too): a request would have to connect first, so a count of zero proves none was made.
    """
    before = [port.count() for port in ports]
    for operation in (store.download, store.delete, store.inspect):
        with pytest.raises(InvalidPayloadTokenError):
            operation(token)
    with pytest.raises(InvalidPayloadTokenError):
        asyncio.run(store.download_async(token))
    assert [port.count() for port in ports] == before, "a connection was opened for a refused token"
