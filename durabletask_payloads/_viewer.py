"""A small HTTP service that shows the payloads behind tokens, for people and for tools.

    GET  /                       a page to paste a token or an instance id into
    GET  /payloads/{token}       the original payload (JSON content type when it is JSON)
    POST /decode                 {"values": [...], "resolve": true} -> the values with tokens resolved,
                                 or, with "resolve": false, tokens described by their size only
    GET  /instances/{id}         the tokens of an instance's state and history (needs --backend)

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
import hmac
import json
import logging
from collections.abc import Iterable
from importlib import resources
from typing import Any

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the payload viewer needs aiohttp: pip install 'durabletask-payloads[viewer]'") from exc

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from ._exceptions import (
    InvalidPayloadTokenError,
    PayloadError,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadReadLimitError,
    PayloadStoreRefusedError,
    PayloadStoreUnavailableError,
    UnsupportedOperationError,
    describe_token,
)
from ._externalize import payload_tokens
from ._lifecycle import read_history
from ._store import PayloadInfo, PayloadStore
from ._viewer_guard import API_POLICY, SECURITY_HEADERS, HostRules, origin_host, page_policy, request_host

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "create_app"]

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_STORE = web.AppKey("store", PayloadStore)
_SETTINGS = web.AppKey("settings", dict)
_STATUS_NAMES = {
    value: name.removeprefix("ORCHESTRATION_STATUS_") for name, value in pb.OrchestrationStatus.items()
}
_USAGE = 'send JSON: {"values": ["...", ...], "resolve": true}'
_ROUTES = "GET /, GET /payloads/{token}, POST /decode, GET /instances/{instance_id}"

_log = logging.getLogger("durabletask_payloads.viewer")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _public_message(exc: PayloadError, asked: str) -> str:
    """Describe a failure to read *asked* for a response: the token and the numbers.

    Never the store's own text, which can name a server path, a URL or a key: that goes to the log.
    """
    _log.warning("viewer: %s: %s", type(exc).__name__, exc)
    see_log = "the viewer's log has the details"
    token = describe_token(asked)
    if isinstance(exc, PayloadNotFoundError):
        return (
            f"No stored payload for token {token}: it was deleted (purge, retention) or is in another store"
        )
    if isinstance(exc, PayloadReadLimitError):
        return (
            f"Stored payload for token {token} is {exc.size:,} bytes or more, above the store's read limit "
            f"of {exc.limit:,} bytes ({exc.setting})"
        )
    if isinstance(exc, PayloadIntegrityError):
        return f"Stored payload for token {token} failed its integrity check and is not shown; {see_log}"
    if isinstance(exc, InvalidPayloadTokenError):
        # The reason is this package's own text (no store message, credentials already masked).
        return f"Refused payload token {token}: {exc.reason}"
    if isinstance(exc, PayloadStoreUnavailableError):
        return f"The payload store could not be reached for {token} (try again later); {see_log}"
    if isinstance(exc, PayloadStoreRefusedError):
        return f"The payload store refused to {exc.operation} {token}: check its credentials; {see_log}"
    if isinstance(exc, UnsupportedOperationError):
        return str(exc)  # a class name and an operation
    return f"{type(exc).__name__}; {see_log}"


def _payload_error(exc: PayloadError, token: str) -> web.Response:
    message = _public_message(exc, token)
    if isinstance(exc, PayloadNotFoundError):
        return _error(404, message)
    if isinstance(exc, InvalidPayloadTokenError):
        return _error(400, message)
    if isinstance(exc, PayloadReadLimitError):
        return _error(413, message)
    return _error(502, message)


def _too_large(request: web.Request, size: int, what: str = "the response") -> web.Response | None:
    cap: int = request.app[_SETTINGS]["max_response_bytes"]
    if size > cap:
        return _error(
            413, f"{what} is {size:,} bytes, above this viewer's cap of {cap:,} bytes (--max-response-bytes)"
        )
    return None


def _refusal(request: web.Request) -> web.Response | None:
    """Refuse a request for a foreign host or origin, or a POST that is not JSON."""
    rules: HostRules = request.app[_SETTINGS]["hosts"]
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else None
    try:
        host = request_host(request.headers.get("Host"), request.scheme)
    except ValueError as exc:
        return _error(400, f"{exc}: send Host: localhost:{local[1] if local else 'PORT'}")
    if not rules.allows(host, local):
        return _error(
            421,
            f"this viewer does not serve the host {request.headers['Host'][:100]!r}; it serves "
            f"{rules.describe(local[1] if local else None)}. Start it with --allowed-host NAME to add one",
        )
    origin = request.headers.get("Origin")
    if origin is not None:
        try:
            allowed = rules.allows(origin_host(origin), local)
        except ValueError as exc:
            return _error(403, str(exc))
        if not allowed:
            return _error(403, f"requests from the origin {origin[:100]!r} are not served")
    if request.method == "POST" and request.content_type != "application/json":
        return _error(415, f"send Content-Type: application/json, not {request.content_type!r}")
    return None


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> web.Response:
    """Answer aiohttp's own refusals (no route, wrong method, body too large) as JSON."""
    if exc.status == 404:
        message = f"nothing at {request.path[:200]!r}; this viewer serves {_ROUTES}"
    elif exc.status == 405:
        message = f"{request.method} is not allowed on {request.path[:200]!r}; this viewer serves {_ROUTES}"
    elif exc.status == 413:
        limit = request.app[_SETTINGS]["max_response_bytes"]
        message = f"the request body is above this viewer's limit of {limit:,} bytes"
    else:
        message = exc.reason
    response = _error(exc.status, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Check host, origin and content type; answer every failure as JSON; cap what is sent."""
    response: web.StreamResponse | None = _refusal(request)
    if response is None:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _from_http_exception(exc, request)
        except Exception:  # noqa: BLE001 - logged whole; the client gets no text that could name a path
            _log.exception("viewer: %s %s failed", request.method, request.path[:200])
            response = _error(500, "the viewer failed on this request; its log has the details")
    assert response is not None
    # Whatever a handler decided from a store's metadata, the bytes about to be sent are what counts.
    # (Errors hold no payload data, and the page is the page.)
    body = response.body if isinstance(response, web.Response) else None
    if response.status < 300 and request.path != "/" and isinstance(body, bytes):
        response = _too_large(request, len(body)) or response
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Content-Security-Policy", API_POLICY)
    return response


@web.middleware
async def _authorize(request: web.Request, handler: Any) -> web.StreamResponse:
    expected = request.app[_SETTINGS]["bearer_token"]
    if expected and request.path != "/":
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return _error(401, "this viewer needs 'Authorization: Bearer <token>'")
    response: web.StreamResponse = await handler(request)
    return response


async def _page(request: web.Request) -> web.Response:
    html, policy = request.app[_SETTINGS]["page"]
    return web.Response(text=html, content_type="text/html", headers={"Content-Security-Policy": policy})


async def _inspect(store: PayloadStore, token: str) -> PayloadInfo | None:
    try:
        return await asyncio.to_thread(store.inspect, token)
    except UnsupportedOperationError:
        return None  # a store that cannot describe payloads: only the bytes read are counted


async def _payload(request: web.Request) -> web.Response:
    store = request.app[_STORE]
    token = request.match_info["token"]
    if not store.is_known_token(token):
        return _error(400, f"not a token of this viewer's store: {describe_token(token)}")
    what = f"the payload of {describe_token(token)}"
    try:
        # What the store says is only a hint that spares a download; the bytes are counted below.
        info = await _inspect(store, token)
        if info is not None and (refused := _too_large(request, max(info.size or 0, info.stored_size), what)):
            return refused
        data = await store.download_async(token)
    except PayloadError as exc:
        return _payload_error(exc, token)
    if refused := _too_large(request, len(data), what):
        return refused
    try:
        json.loads(data)
    except ValueError:
        return web.Response(body=data, content_type="text/plain", charset="utf-8")
    return web.Response(body=data, content_type="application/json", charset="utf-8")


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
    store = request.app[_STORE]
    try:
        body = await request.json()
    except ValueError:
        return _error(400, _USAGE)
    values = body.get("values") if isinstance(body, dict) else body
    resolve = body.get("resolve", True) if isinstance(body, dict) else True
    if not isinstance(values, list) or not isinstance(resolve, bool):
        return _error(400, _USAGE)
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
            out.append({"token": value, "error": _public_message(exc, value)})
            continue
        total += len(data)
        # Stop fetching as soon as the answer cannot fit; its final size is checked once more.
        if refused := _too_large(request, total, "the decoded values"):
            return refused
        try:
            out.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            out.append({"token": value, "error": f"the payload of {describe_token(value)} is not UTF-8 text"})
    return web.json_response({"values": out})


def _read_instance(address: str, instance_id: str) -> tuple[pb.GetInstanceResponse, list[pb.HistoryEvent]]:
    with grpc.insecure_channel(address) as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)  # type: ignore[no-untyped-call]
        state = stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True))
        events = read_history(stub, instance_id) if state.exists else []
    return state, events


async def _instance(request: web.Request) -> web.Response:
    store = request.app[_STORE]
    address = request.app[_SETTINGS]["backend"]
    if not address:
        return _error(501, "start the viewer with --backend to look up instances")
    instance_id = request.match_info["instance_id"]
    try:
        state, events = await asyncio.to_thread(_read_instance, address, instance_id)
    except grpc.RpcError as exc:
        return _error(502, f"the backend at {address} failed: {exc.code().name}")
    if not state.exists:
        return _error(404, f"no instance {describe_token(instance_id)} in the backend")
    places: list[tuple[str, str]] = []
    fields = state.orchestrationState
    for name in ("input", "output", "customStatus"):
        places += [(name, token) for token in payload_tokens(getattr(fields, name), store)]
    for index, event in enumerate(events):
        kind = event.WhichOneof("eventType") or "event"
        places += [(f"history[{index}] {kind}", token) for token in payload_tokens(event, store)]
    payloads = []
    for where, token in places:
        entry: dict[str, Any] = {"where": where}
        try:
            entry.update(await _describe(store, token))
        except PayloadError as exc:
            entry.update(token=token, error=_public_message(exc, token))
        payloads.append(entry)
    return web.json_response(
        {
            "instance_id": instance_id,
            "name": fields.name,
            "runtime_status": _STATUS_NAMES.get(fields.orchestrationStatus, str(fields.orchestrationStatus)),
            "payloads": payloads,
        }
    )


def create_app(
    store: PayloadStore,
    *,
    backend: str | None = None,
    bearer_token: str | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    allowed_hosts: Iterable[str] = (),
) -> web.Application:
    """Build the viewer's aiohttp application.

    Args:
        store: Where the payloads are.
        backend: ``host:port`` of the Durable Task sidecar, to look up instances.
        bearer_token: Require ``Authorization: Bearer <token>`` on every endpoint but the page.
        max_response_bytes: Refuse (413) responses larger than this, counted in bytes sent.
        allowed_hosts: Host names (``viewer.example``, any port) or ``host:port`` pairs
            to serve besides the defaults: the localhost names and the address a
            request arrived on, on the port it arrived on. Requests naming any
            other host are refused with 421 (DNS rebinding).

    Raises:
        ValueError: An entry of *allowed_hosts* is not ``host`` or ``host:port``,
            or *max_response_bytes* is not positive.

    """
    if (
        isinstance(max_response_bytes, bool)
        or not isinstance(max_response_bytes, int)
        or max_response_bytes < 1
    ):
        raise ValueError(
            f"max_response_bytes (--max-response-bytes) must be a positive number of bytes, "
            f"got {max_response_bytes!r}"
        )
    entries = [allowed_hosts] if isinstance(allowed_hosts, str) else list(allowed_hosts)
    try:
        rules = HostRules.from_entries(entries)
    except ValueError as exc:
        raise ValueError(f"allowed_hosts: {exc}") from None
    html = resources.files("durabletask_payloads").joinpath("_viewer.html").read_text(encoding="utf-8")
    app = web.Application(middlewares=[_guard, _authorize], client_max_size=max_response_bytes)
    app[_STORE] = store
    app[_SETTINGS] = {
        "backend": backend,
        "bearer_token": bearer_token,
        "max_response_bytes": max_response_bytes,
        "hosts": rules,
        "page": (html, page_policy(html)),
    }
    app.router.add_get("/", _page)
    app.router.add_get("/payloads/{token:.+}", _payload)
    app.router.add_post("/decode", _decode)
    app.router.add_get("/instances/{instance_id:.+}", _instance)
    return app
