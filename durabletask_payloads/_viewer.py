"""A small HTTP service that shows the payloads behind tokens, for people and for tools.

    GET  /                       a page to paste a token or an instance id into
    GET  /payloads/{token}       the original payload (JSON content type when it is JSON)
    POST /decode                 {"values": [...], "resolve": true} -> the values with tokens resolved,
                                 or, with "resolve": false, tokens described by their size only
    GET  /instances/{id}         the tokens of an instance's state and history (needs --backend)

Served by ``durabletask-payloads serve``; bound to 127.0.0.1 unless told otherwise.
With a bearer token configured, every endpoint but the page requires
``Authorization: Bearer <token>``. Responses larger than the size cap are refused
with 413 rather than sent.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from importlib import resources
from typing import Any

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the payload viewer needs aiohttp: pip install 'durabletask-payloads[viewer]'") from exc

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from ._exceptions import InvalidPayloadTokenError, PayloadError, PayloadNotFoundError, PayloadTooLargeError
from ._externalize import payload_tokens
from ._lifecycle import read_history
from ._store import PayloadStore

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "create_app"]

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_STORE = web.AppKey("store", PayloadStore)
_SETTINGS = web.AppKey("settings", dict)
_STATUS_NAMES = {
    value: name.removeprefix("ORCHESTRATION_STATUS_") for name, value in pb.OrchestrationStatus.items()
}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _payload_error(exc: PayloadError) -> web.Response:
    if isinstance(exc, PayloadNotFoundError):
        return _error(404, str(exc))
    if isinstance(exc, InvalidPayloadTokenError):
        return _error(400, str(exc))
    if isinstance(exc, PayloadTooLargeError):
        return _error(413, str(exc))
    return _error(502, str(exc))


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
    html = resources.files("durabletask_payloads").joinpath("_viewer.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


def _too_large(request: web.Request, size: int) -> web.Response | None:
    cap = request.app[_SETTINGS]["max_response_bytes"]
    if size > cap:
        return _error(413, f"the response would be {size:,} bytes, above this viewer's cap of {cap:,} bytes")
    return None


async def _payload(request: web.Request) -> web.Response:
    store = request.app[_STORE]
    token = request.match_info["token"]
    if not store.is_known_token(token):
        return _error(400, f"not a token of this viewer's store: {token[:200]!r}")
    try:
        info = await asyncio.to_thread(store.inspect, token)
        refused = _too_large(request, info.size or info.stored_size)
        if refused is not None:
            return refused
        data = await store.download_async(token)
    except PayloadError as exc:
        return _payload_error(exc)
    try:
        json.loads(data)
    except ValueError:
        return web.Response(body=data, content_type="text/plain", charset="utf-8")
    return web.Response(body=data, content_type="application/json", charset="utf-8")


async def _decode(request: web.Request) -> web.Response:
    store = request.app[_STORE]
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'send JSON: {"values": ["...", ...], "resolve": true}')
    values = body.get("values") if isinstance(body, dict) else body
    resolve = body.get("resolve", True) if isinstance(body, dict) else True
    if not isinstance(values, list):
        return _error(400, 'send JSON: {"values": ["...", ...], "resolve": true}')
    out: list[Any] = []
    total = 0
    for value in values:
        if not isinstance(value, str) or not store.is_known_token(value):
            out.append(value)
            continue
        try:
            if resolve:
                data = await store.download_async(value)
                total += len(data)
                out.append(data.decode("utf-8"))
            else:
                info = await asyncio.to_thread(store.inspect, value)
                out.append(
                    {
                        "token": value,
                        "size": info.size,
                        "stored_size": info.stored_size,
                        "content_encoding": info.content_encoding,
                    }
                )
        except PayloadError as exc:
            out.append({"token": value, "error": str(exc)})
        refused = _too_large(request, total)
        if refused is not None:
            return refused
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
        return _error(404, f"no instance {instance_id!r} in the backend")
    places: list[tuple[str, str]] = []
    fields = state.orchestrationState
    for name in ("input", "output", "customStatus"):
        places += [(name, token) for token in payload_tokens(getattr(fields, name), store)]
    for index, event in enumerate(events):
        kind = event.WhichOneof("eventType") or "event"
        places += [(f"history[{index}] {kind}", token) for token in payload_tokens(event, store)]
    payloads = []
    for where, token in places:
        entry: dict[str, Any] = {"where": where, "token": token}
        try:
            info = await asyncio.to_thread(store.inspect, token)
            entry.update(size=info.size, stored_size=info.stored_size, content_encoding=info.content_encoding)
        except PayloadError as exc:
            entry["error"] = str(exc)
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
) -> web.Application:
    """Build the viewer's aiohttp application.

    Args:
        store: Where the payloads are.
        backend: ``host:port`` of the Durable Task sidecar, to look up instances.
        bearer_token: Require ``Authorization: Bearer <token>`` on every endpoint but the page.
        max_response_bytes: Refuse (413) responses larger than this.

    """
    app = web.Application(middlewares=[_authorize], client_max_size=max_response_bytes)
    app[_STORE] = store
    app[_SETTINGS] = {
        "backend": backend,
        "bearer_token": bearer_token,
        "max_response_bytes": max_response_bytes,
    }
    app.router.add_get("/", _page)
    app.router.add_get("/payloads/{token:.+}", _payload)
    app.router.add_post("/decode", _decode)
    app.router.add_get("/instances/{instance_id:.+}", _instance)
    return app
