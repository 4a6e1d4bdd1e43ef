"""What the payload interceptors do with a call, written once as flows that the sync and aio edges run.

grpc asks an interceptor for four methods, one per call type: a request or a
stream of requests, answered by a response or a stream of responses
(:class:`CallType`). All four do the same thing: a call to another service, or a
raw call, passes through untouched; otherwise each request is externalized
(:func:`sending`), the call is made, and the response, or each message of the
response stream, is resolved (:func:`intercepted`).

Both are :mod:`._steps` flows. :func:`sending` runs on a worker I/O object
(``_held.WorkerIO`` or ``AsyncWorkerIO``); :func:`intercepted` runs on the
interceptor itself, whose edge implements these operations, plain in
:mod:`._interceptors` and awaited in :mod:`.aio`:

``_proceed(continuation, details, request)``
    Make the call (gRPC's continuation) and return it.
``_send(method, request)``
    Return the request to send, externalized (runs :func:`sending`).
``_send_each(method, requests)``
    Return the stream of requests to send, each externalized as it is sent.
``_result(call)``
    Return a unary call's response; raises the RPC's error.
``_resolve(message)``
    Resolve the tokens in a response, in place.
``_stream(method, call)``
    Return the response stream, each message resolved as it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._held import Stopped, externalizing, held
from ._hooks import Hooks, method_name
from ._steps import Flow, op
from ._store import PayloadStore

__all__ = [
    "STREAM_STREAM",
    "STREAM_UNARY",
    "UNARY_STREAM",
    "UNARY_UNARY",
    "CallType",
    "intercepted",
    "sending",
]


@dataclass(frozen=True)
class CallType:
    """One of gRPC's four call types.

    Attributes:
        streams_requests: The client sends a stream of requests, not one.
        streams_responses: The server answers with a stream of responses, not one.

    """

    streams_requests: bool
    streams_responses: bool


UNARY_UNARY = CallType(streams_requests=False, streams_responses=False)
UNARY_STREAM = CallType(streams_requests=False, streams_responses=True)
STREAM_UNARY = CallType(streams_requests=True, streams_responses=False)
STREAM_STREAM = CallType(streams_requests=True, streams_responses=True)


def intercepted(kind: CallType, continuation: Any, details: Any, request: Any) -> Flow[Any]:
    """Intercept one call of type *kind*; return what the interceptor method returns to gRPC.

    *request* is the request, or the iterator of requests of a streaming call.
    """
    method = method_name(details.method, details.metadata)
    if method is None:
        return (yield op("_proceed", continuation, details, request))
    outgoing = yield op("_send_each" if kind.streams_requests else "_send", method, request)
    call = yield op("_proceed", continuation, details, outgoing)
    if kind.streams_responses:
        return (yield op("_stream", method, call))
    try:
        response = yield op("_result", call)
    except Exception:  # noqa: BLE001 - an RPC error: the caller sees it when it reads the call's result
        return call
    yield op("_resolve", response)
    return call


def sending(hooks: Hooks, store: PayloadStore, method: str, request: Any) -> Flow[Any]:
    """Return the request to send in place of *request*, its large values stored (see :mod:`._hooks`).

    Operations: those of :func:`._held.held` (``externalize``, ``backoff``).
    """
    plan = hooks.plan_send(method, request)
    if plan.replacement is not None:
        return plan.replacement
    if not plan.externalize:
        return request
    if plan.completion is None:
        # A client call: the store's own retries have run, the caller decides (the error propagates).
        yield op("externalize", request, plan.scope)
        return request
    # A completion is held, not abandoned: durabletask.testing's backend drops abandoned activity
    # items, and any backend would run the activity again.
    outcome = yield from held(store, "upload", externalizing(request, plan.scope))
    if outcome is None:
        return request
    if isinstance(outcome, Stopped):
        # The worker is stopping: leave the item to the backend. (Only a sync backoff stops so;
        # an async one ends by cancellation.)
        raise outcome.error
    return hooks.failed_completion(plan.completion, request, plan.entry, outcome)
