"""The viewer's HTTP edge: its settings, its error answers, and the middleware every request passes.

The middleware refuses foreign hosts and origins and non-JSON posts (see
:mod:`._viewer_guard`), checks the bearer token, answers every failure as JSON
without a server path or a store's own text, counts the bytes about to be sent
against the cap, and puts the security headers (and, for an allowed
``--cors-origin`` on ``/decode``, the CORS headers) on every response.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

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
from ._store import PayloadStore
from ._viewer_backend import Backend
from ._viewer_guard import API_POLICY, SECURITY_HEADERS, HostRules, origin_host, request_host

__all__ = [
    "CORS_PATH",
    "ROUTES",
    "SETTINGS",
    "STORE",
    "Settings",
    "authorize",
    "error",
    "guard",
    "payload_error",
    "public_message",
    "too_large",
]

#: The one route other origins may call, when allowed with --cors-origin.
CORS_PATH = "/decode"
ROUTES = (
    "GET /, GET /payloads/{token}[?download=1], GET /previews/{token}[?bytes=N|all], POST /decode, "
    "GET /instances/{instance_id}"
)

_log = logging.getLogger("durabletask_payloads.viewer")


@dataclass(frozen=True)
class Settings:
    """What a viewer was started with (see :func:`~._viewer.create_app`)."""

    backend: Backend | None
    bearer_token: str | None
    max_response_bytes: int
    preview_bytes: int
    hosts: HostRules
    cors_origins: frozenset[str]
    page: tuple[str, str]  # the HTML and its Content-Security-Policy


STORE = web.AppKey("store", PayloadStore)
SETTINGS = web.AppKey("settings", Settings)


def error(status: int, message: str) -> web.Response:
    """Return ``{"error": message}`` with *status*."""
    return web.json_response({"error": message}, status=status)


def public_message(exc: PayloadError, asked: str) -> str:
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


def payload_error(exc: PayloadError, token: str) -> web.Response:
    """Answer a failure to read *token* with the status that fits it."""
    message = public_message(exc, token)
    if isinstance(exc, PayloadNotFoundError):
        return error(404, message)
    if isinstance(exc, InvalidPayloadTokenError):
        return error(400, message)
    if isinstance(exc, PayloadReadLimitError):
        return error(413, message)
    return error(502, message)


def too_large(request: web.Request, size: int, what: str = "the response") -> web.Response | None:
    """Return a 413 when *size* bytes are above the cap, else None."""
    cap = request.app[SETTINGS].max_response_bytes
    if size > cap:
        return error(
            413, f"{what} is {size:,} bytes, above this viewer's cap of {cap:,} bytes (--max-response-bytes)"
        )
    return None


def _cors_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return request.path == CORS_PATH and origin is not None and origin in request.app[SETTINGS].cors_origins


def _refusal(request: web.Request) -> web.Response | None:
    """Refuse a request for a foreign host or origin, or a POST that is not JSON."""
    rules = request.app[SETTINGS].hosts
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) else None
    try:
        host = request_host(request.headers.get("Host"), request.scheme)
    except ValueError as exc:
        return error(400, f"{exc}: send Host: localhost:{local[1] if local else 'PORT'}")
    if not rules.allows(host, local):
        return error(
            421,
            f"this viewer does not serve the host {request.headers['Host'][:100]!r}; it serves "
            f"{rules.describe(local[1] if local else None)}. Start it with --allowed-host NAME to add one",
        )
    origin = request.headers.get("Origin")
    if origin is not None and not _cors_allowed(request):
        try:
            allowed = rules.allows(origin_host(origin), local)
        except ValueError as exc:
            return error(403, str(exc))
        if not allowed:
            hint = " (start the viewer with --cors-origin ORIGIN to let it call /decode)"
            return error(403, f"requests from the origin {origin[:100]!r} are not served{hint}")
    if request.method == "POST" and request.content_type != "application/json":
        return error(415, f"send Content-Type: application/json, not {request.content_type!r}")
    return None


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> web.Response:
    """Answer aiohttp's own refusals (no route, wrong method, body too large) as JSON."""
    if exc.status == 404:
        message = f"nothing at {request.path[:200]!r}; this viewer serves {ROUTES}"
    elif exc.status == 405:
        message = f"{request.method} is not allowed on {request.path[:200]!r}; this viewer serves {ROUTES}"
    elif exc.status == 413:
        limit = request.app[SETTINGS].max_response_bytes
        message = f"the request body is above this viewer's limit of {limit:,} bytes"
    else:
        message = exc.reason
    response = error(exc.status, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Check host, origin and content type; answer every failure as JSON; cap what is sent."""
    response: web.StreamResponse | None = _refusal(request)
    if response is None:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _from_http_exception(exc, request)
        except Exception:  # noqa: BLE001 - logged whole; the client gets no text that could name a path
            _log.exception("viewer: %s %s failed", request.method, request.path[:200])
            response = error(500, "the viewer failed on this request; its log has the details")
    assert response is not None
    # Whatever a handler decided from a store's metadata, the bytes about to be sent are what counts.
    # (Errors hold no payload data, and the page is the page.)
    body = response.body if isinstance(response, web.Response) else None
    if response.status < 300 and request.path != "/" and isinstance(body, bytes):
        response = too_large(request, len(body)) or response
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Content-Security-Policy", API_POLICY)
    if request.path == CORS_PATH:
        response.headers["Vary"] = "Origin"  # the answer depends on it: caches must not share it
        if _cors_allowed(request):
            response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
    return response


@web.middleware
async def authorize(request: web.Request, handler: Any) -> web.StreamResponse:
    """Require the bearer token, if one is set, on everything but the page and CORS preflights."""
    expected = request.app[SETTINGS].bearer_token
    # A preflight never carries credentials (browsers send it without them); it reads nothing.
    if expected and request.path != "/" and request.method != "OPTIONS":
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return error(401, "this viewer needs 'Authorization: Bearer <token>'")
    response: web.StreamResponse = await handler(request)
    return response
