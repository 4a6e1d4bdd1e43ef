"""A small HTTP service that shows the payloads behind tokens, for people and for tools.

    GET  /                       the page: an instance's timeline, a payload's view (see docs/viewer.md)
    GET  /payloads/{token}       the original payload, byte for byte; ``?download=1`` as an attachment
    GET  /previews/{token}       the payload for display: its size, format, and its first
                                 ``?bytes=N`` (default 64 KiB, ``all`` for everything), JSON indented
                                 on the server with every number as written
    POST /decode                 {"values": [...], "resolve": true} -> the values with tokens resolved,
                                 or, with "resolve": false, tokens described by their size only
    OPTIONS /decode              the CORS preflight, for the origins given with --cors-origin
    GET  /instances/{id}         an instance's state and every history event, with failure details;
                                 each stored payload once, with the places it appears (needs --backend)

Served by ``durabletask-payloads serve``; bound to 127.0.0.1 unless told otherwise.
Every request must name an allowed host (see :mod:`._viewer_guard`); POST bodies
must be JSON. With a bearer token configured, every endpoint but the page requires
``Authorization: Bearer <token>``. A response larger than the size cap is refused
with 413 rather than sent: the bytes actually sent are counted, whatever a stored
header claims. Error bodies name the token, the size or the setting, never a
server path or a store's own message (those go to the log).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources
from typing import Any

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the payload viewer needs aiohttp: pip install 'durabletask-payloads[viewer]'") from exc

import grpc

from ._exceptions import PayloadError, UnsupportedOperationError, describe_token
from ._json_pretty import classify, show
from ._store import PayloadInfo, PayloadStore
from ._viewer_backend import Backend
from ._viewer_guard import CORS_HEADERS, HostRules, cors_origin, page_policy
from ._viewer_http import (
    SETTINGS,
    STORE,
    Settings,
    authorize,
    error,
    guard,
    payload_error,
    public_message,
    too_large,
)
from ._viewer_timeline import build_timeline

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_PREVIEW_BYTES", "create_app"]

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_PREVIEW_BYTES = 64 * 1024
_USAGE = 'send JSON: {"values": ["...", ...], "resolve": true}'
_EXTENSIONS = {"json": "json", "json-nonstandard": "json", "text": "txt", "binary": "bin"}
_CONTENT_TYPES = {"json": "application/json", "binary": "application/octet-stream"}  # else text/plain
_INSPECTIONS_AT_ONCE = 8
_RPC_HINTS = {
    "UNAVAILABLE": "is it running and reachable, and does it speak TLS (--secure) or plaintext?",
    "UNAUTHENTICATED": "does it need metadata (--metadata KEY=VALUE)?",
    "PERMISSION_DENIED": "does it need other metadata (--metadata KEY=VALUE)?",
    "DEADLINE_EXCEEDED": "it did not answer within 30 s",
}


async def _page(request: web.Request) -> web.Response:
    html, policy = request.app[SETTINGS].page
    return web.Response(text=html, content_type="text/html", headers={"Content-Security-Policy": policy})


async def _inspect(store: PayloadStore, token: str) -> PayloadInfo | None:
    try:
        return await asyncio.to_thread(store.inspect, token)
    except UnsupportedOperationError:
        return None  # a store that cannot describe payloads: only the bytes read are counted


def _filename(token: str, kind: str) -> str:
    """Return a file name for *token*: ASCII letters, digits, '.', '-' and '_', so it needs no quoting."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", token).strip("._") or "payload"
    return f"payload-{stem[-120:]}.{_EXTENSIONS[kind]}"


async def _read(request: web.Request, token: str, *, capped: bool) -> tuple[bytes, PayloadInfo | None]:
    """Download *token*; with *capped*, refuse early when the store says it is above the cap.

    Raises:
        _RefusedError: An answer to send instead (400, 404, 413, 502 ...).

    """
    store = request.app[STORE]
    if not store.is_known_token(token):
        raise _RefusedError(error(400, f"not a token of this viewer's store: {describe_token(token)}"))
    what = f"the payload of {describe_token(token)}"
    try:
        # What the store says is only a hint that spares a download; the bytes are counted when sent.
        info = await _inspect(store, token)
        hint = max(info.size or 0, info.stored_size) if info is not None else 0
        if capped and (refused := too_large(request, hint, what)):
            raise _RefusedError(refused)
        data = await store.download_async(token)
    except PayloadError as exc:
        raise _RefusedError(payload_error(exc, token)) from None
    if capped and (refused := too_large(request, len(data), what)):
        raise _RefusedError(refused)
    return data, info


class _RefusedError(Exception):
    """A finished error answer, raised out of a helper and sent as it is (see :func:`_answered`)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@web.middleware
async def _answered(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except _RefusedError as refused:
        return refused.response
    return response


async def _payload(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    data, _ = await _read(request, token, capped=True)
    kind, _text = classify(data)
    content_type = _CONTENT_TYPES.get(kind, "text/plain")
    response = web.Response(
        body=data, content_type=content_type, charset=None if kind == "binary" else "utf-8"
    )
    if request.query.get("download") not in (None, "", "0"):
        response.headers["Content-Disposition"] = f'attachment; filename="{_filename(token, kind)}"'
    return response


async def _preview(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token = request.match_info["token"]
    asked = request.query.get("bytes", str(settings.preview_bytes))
    if asked != "all" and not (asked.isdigit() and int(asked) > 0):
        return error(400, f"bytes= takes a positive number of bytes or 'all', not {asked[:40]!r}")
    limit = None if asked == "all" else int(asked)
    # A preview sends little whatever the payload's size: only the store's read limit applies.
    data, info = await _read(request, token, capped=limit is None)
    shown = await asyncio.to_thread(show, data, limit)
    return web.json_response(
        {
            "token": token,
            "bytes": len(data),
            "stored_size": info.stored_size if info else None,
            "content_encoding": info.content_encoding if info else None,
            "format": shown.format,
            "indented": shown.indented,
            "complete": shown.complete,
            "preview_bytes": limit,
            "text": shown.text,
            "filename": _filename(token, shown.format),
        }
    )


async def _describe(store: PayloadStore, token: str) -> dict[str, Any]:
    info = await _inspect(store, token)
    if info is None:
        return {"token": token}
    return {
        "token": token,
        "size": info.size,
        "stored_size": info.stored_size,
        "content_encoding": info.content_encoding,
    }


async def _decode(request: web.Request) -> web.Response:
    store = request.app[STORE]
    try:
        body = await request.json()
    except ValueError:
        return error(400, _USAGE)
    values = body.get("values") if isinstance(body, dict) else body
    resolve = body.get("resolve", True) if isinstance(body, dict) else True
    if not isinstance(values, list) or not isinstance(resolve, bool):
        return error(400, _USAGE)
    out: list[Any] = []
    total = 0
    for value in values:
        if not isinstance(value, str) or not store.is_known_token(value):
            out.append(value)
            continue
        try:
            if not resolve:
                out.append(await _describe(store, value))
                continue
            data = await store.download_async(value)
        except PayloadError as exc:
            out.append({"token": value, "error": public_message(exc, value)})
            continue
        total += len(data)
        # Stop fetching as soon as the answer cannot fit; its final size is checked once more.
        if refused := too_large(request, total, "the decoded values"):
            return refused
        try:
            out.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            out.append({"token": value, "error": f"the payload of {describe_token(value)} is not UTF-8 text"})
    return web.json_response({"values": out})


async def _preflight(request: web.Request) -> web.Response:
    """Answer a CORS preflight for /decode; anything else that is OPTIONS is not allowed here."""
    origin = request.headers.get("Origin")
    method = request.headers.get("Access-Control-Request-Method")
    if origin is None or method is None or origin not in request.app[SETTINGS].cors_origins:
        response = error(405, "OPTIONS is answered only as a CORS preflight from a --cors-origin origin")
        response.headers["Allow"] = "POST"
        return response
    if method != "POST":
        return error(405, f"only POST /decode is allowed from {origin[:100]!r}, not {method[:20]!r}")
    return web.Response(status=204, headers=CORS_HEADERS)


async def _describe_all(store: PayloadStore, places: dict[str, list[str]]) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(_INSPECTIONS_AT_ONCE)

    async def one(token: str, where: list[str]) -> dict[str, Any]:
        async with gate:
            try:
                entry = await _describe(store, token)
            except PayloadError as exc:
                entry = {"token": token, "error": public_message(exc, token)}
        return {**entry, "places": where}

    return list(await asyncio.gather(*(one(token, where) for token, where in places.items())))


async def _instance(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    store = request.app[STORE]
    backend = settings.backend
    if backend is None:
        return error(501, "start the viewer with --backend HOST:PORT to look up instances")
    instance_id = request.match_info["instance_id"]
    try:
        found, events = await asyncio.to_thread(backend.read_instance, instance_id)
    except grpc.RpcError as exc:
        code = exc.code().name
        hint = _RPC_HINTS.get(code, "the viewer's log has the details")
        return error(502, f"the backend at {backend.describe()} failed: {code}; {hint}")
    if not found.exists:
        return error(404, f"no instance {describe_token(instance_id)} in the backend at {backend.address}")
    state = found.orchestrationState
    timeline, places = await asyncio.to_thread(
        build_timeline, state, events, is_token=store.is_known_token, inline_limit=settings.preview_bytes
    )
    return web.json_response(
        {
            "instance_id": instance_id,
            "name": state.name,
            "runtime_status": next(
                (value for name, value in timeline["state"]["details"] if name == "orchestrationStatus"),
                "UNKNOWN",
            ),
            **timeline,
            "payloads": await _describe_all(store, places),
        }
    )


def _positive(name: str, flag: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} ({flag}) must be a positive number of bytes, got {value!r}")
    return value


def create_app(
    store: PayloadStore,
    *,
    backend: str | None = None,
    secure: bool = False,
    metadata: Sequence[tuple[str, str]] = (),
    bearer_token: str | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    preview_bytes: int = DEFAULT_PREVIEW_BYTES,
    allowed_hosts: Iterable[str] = (),
    cors_origins: Iterable[str] = (),
) -> web.Application:
    """Build the viewer's aiohttp application.

    Args:
        store: Where the payloads are.
        backend: ``host:port`` of the Durable Task sidecar, to look up instances.
        secure: Reach *backend* with TLS (the system's root certificates).
        metadata: gRPC metadata sent with every call to *backend* (``("taskhub", "orders")``).
        bearer_token: Require ``Authorization: Bearer <token>`` on every endpoint but the page.
        max_response_bytes: Refuse (413) responses larger than this, counted in bytes sent.
        preview_bytes: How much of a payload a preview shows by default, in UTF-8
            bytes, and the most an inline value shows in a timeline.
        allowed_hosts: Host names (``viewer.example``, any port) or ``host:port`` pairs
            to serve besides the defaults: the localhost names and the address a
            request arrived on, on the port it arrived on. Requests naming any
            other host are refused with 421 (DNS rebinding).
        cors_origins: Origins (``https://dashboard.example``) whose pages may call
            ``POST /decode``; none by default. Exact origins only, no wildcard.

    Raises:
        ValueError: An entry of *allowed_hosts* is not ``host`` or ``host:port``,
            an entry of *cors_origins* is not an origin, or a size is not positive.

    """
    _positive("max_response_bytes", "--max-response-bytes", max_response_bytes)
    _positive("preview_bytes", "--preview-bytes", preview_bytes)
    entries = [allowed_hosts] if isinstance(allowed_hosts, str) else list(allowed_hosts)
    try:
        rules = HostRules.from_entries(entries)
    except ValueError as exc:
        raise ValueError(f"allowed_hosts: {exc}") from None
    origins = [cors_origins] if isinstance(cors_origins, str) else list(cors_origins)
    try:
        allowed_origins = frozenset(cors_origin(entry) for entry in origins)
    except ValueError as exc:
        raise ValueError(f"cors_origins (--cors-origin): {exc}") from None
    html = resources.files("durabletask_payloads").joinpath("_viewer.html").read_text(encoding="utf-8")
    app = web.Application(middlewares=[guard, authorize, _answered], client_max_size=max_response_bytes)
    app[STORE] = store
    reader = Backend(backend, secure, tuple(metadata)) if backend else None
    app[SETTINGS] = Settings(
        backend=reader,
        bearer_token=bearer_token,
        max_response_bytes=max_response_bytes,
        preview_bytes=preview_bytes,
        hosts=rules,
        cors_origins=allowed_origins,
        page=(html, page_policy(html)),
    )

    async def close_backend(app: web.Application) -> AsyncIterator[None]:
        yield
        if reader is not None:
            reader.close()

    app.cleanup_ctx.append(close_backend)
    app.router.add_get("/", _page)
    app.router.add_get("/payloads/{token:.+}", _payload)
    app.router.add_get("/previews/{token:.+}", _preview)
    app.router.add_post("/decode", _decode)
    app.router.add_route("OPTIONS", "/decode", _preflight)
    app.router.add_get("/instances/{instance_id:.+}", _instance)
    return app
