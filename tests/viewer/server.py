"""Run the viewer on a real socket and talk to it with full control of the request headers."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as _quote
from urllib.parse import urlsplit

from aiohttp import web

from ..helpers import free_port


def serve(app: web.Application, host: str = "127.0.0.1") -> Iterator[str]:
    """Run *app* on *host* and a free port, in a thread with its own event loop; yield its URL.

    Set up in that thread too: the calling thread may have a loop of its own running (Playwright's).
    """
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    port = free_port()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    yield f"http://{host}:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    loop.close()


def quote(token: str) -> str:
    return _quote(token, safe="")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def error(self) -> str:
        message = json.loads(self.body)["error"]
        assert isinstance(message, str)
        return message


_DEFAULT = object()


def call(
    url: str,
    method: str,
    path: str,
    *,
    host: Any = _DEFAULT,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Answer:
    """Send one request exactly as given: *host* None sends no Host header, a string sends that one."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is _DEFAULT:
            host = parts.netloc
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def post_json(url: str, path: str, value: Any, **kwargs: Any) -> Answer:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return call(url, "POST", path, headers=headers, body=json.dumps(value).encode(), **kwargs)
