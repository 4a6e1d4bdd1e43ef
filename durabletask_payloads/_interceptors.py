"""gRPC client interceptor that externalizes and resolves payloads (sync ``grpc`` channels).

The async twin, with the same class name, is in :mod:`durabletask_payloads.aio`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message

from ._adapt import as_store
from ._calls import STREAM_STREAM, STREAM_UNARY, UNARY_STREAM, UNARY_UNARY, intercepted, sending
from ._dispatch import WorkItemDispatcher
from ._externalize import deexternalize_payloads
from ._hooks import WORK_ITEMS, Hooks
from ._steps import run
from ._store import PayloadStore

_log = logging.getLogger("durabletask_payloads.interceptors")

__all__ = ["PayloadInterceptor", "payload_interceptors", "with_interceptor"]

_Continuation = Callable[[grpc.ClientCallDetails, Any], Any]


class _ResolvingStream:
    """A server-streaming call whose messages are resolved as they are read.

    Everything but iteration (``cancel()``, ``code()``, metadata, ...) is the
    underlying call's.
    """

    def __init__(self, call: Any, resolve: Callable[[Any], None]) -> None:
        self._call = call
        self._resolve = resolve

    def __iter__(self) -> _ResolvingStream:
        return self

    def __next__(self) -> Any:
        message = next(self._call)
        self._resolve(message)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class PayloadInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Applies the payload walkers to every ``TaskHubSidecarService`` request and response.

    Requests are externalized (large values replaced by tokens) before they are
    sent; responses, and every message of the ``GetWorkItems`` and
    ``StreamInstanceHistory`` streams, are resolved as they arrive. Calls to
    other services pass through untouched. ``GetWorkItemsRequest`` gains
    ``WORKER_CAPABILITY_LARGE_PAYLOADS``.

    Work items are resolved off the stream (see :mod:`durabletask_payloads._dispatch`):
    an item that needs no download is handed on at once, the others when their
    downloads are done, so one slow payload never holds up another item.

    A client call whose payload cannot be stored raises the
    :class:`~durabletask_payloads.PayloadError` before anything is sent (after the
    store's own retries). On a worker, a transient store failure is waited out
    for ``outage_budget_seconds`` (the work item is held and its transfers
    retried); a permanent failure, or an outage longer than that, becomes a
    non-retriable failure of that orchestration, activity or entity operation,
    so nothing hangs and nothing is retried forever.

    Use one instance per worker or client: it remembers the work items in
    flight on its channel.

    Args:
        store: Where payloads go and come from.

    """

    def __init__(self, store: PayloadStore) -> None:
        self._given = store
        store = as_store(store)
        self._store = store
        self._hooks = Hooks()
        workers = getattr(store.options, "max_concurrency", None)
        self._dispatcher = WorkItemDispatcher(
            store, self._hooks, workers=workers if isinstance(workers, int) and workers > 0 else 32
        )

    @property
    def store(self) -> PayloadStore:
        """The payload store this interceptor uses (as it was given)."""
        return self._given

    def close(self) -> None:
        """Stop waiting out store outages for held work items (the worker is stopping)."""
        self._dispatcher.close()

    # -- the edge of _calls' flows: these make the calls and move the payloads on this thread -----

    def _proceed(self, continuation: _Continuation, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(details, request)

    def _send(self, method: str, request: Any) -> Any:
        return run(sending(self._hooks, self._store, method, request), self._dispatcher.io)

    def _send_each(self, method: str, requests: Iterator[Any]) -> Iterator[Any]:
        return (self._send(method, request) for request in requests)

    def _result(self, call: Any) -> Any:
        return call.result()

    def _resolve(self, message: Message) -> None:
        deexternalize_payloads(message, self._store)

    def _stream(self, method: str, call: Any) -> Any:
        if method == WORK_ITEMS:
            return self._dispatcher.open(call)
        return _ResolvingStream(call, self._resolve)

    # -- grpc's four methods: one flow (_calls.intercepted), told the call type ------------------

    def intercept_unary_unary(
        self, continuation: _Continuation, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Externalize the request, send it, resolve the response."""
        return run(intercepted(UNARY_UNARY, continuation, client_call_details, request), self)

    def intercept_unary_stream(
        self, continuation: _Continuation, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Externalize the request, send it, resolve each streamed response."""
        return run(intercepted(UNARY_STREAM, continuation, client_call_details, request), self)

    def intercept_stream_unary(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        """Externalize each streamed request, resolve the response."""
        return run(intercepted(STREAM_UNARY, continuation, client_call_details, request_iterator), self)

    def intercept_stream_stream(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        """Externalize each streamed request, resolve each streamed response."""
        return run(intercepted(STREAM_STREAM, continuation, client_call_details, request_iterator), self)


def payload_interceptors(store: PayloadStore) -> list[PayloadInterceptor]:
    """Interceptors to add to any durabletask worker or client built on a sync gRPC channel.

    For worker classes this package does not wrap, e.g. durabletask-azuremanaged's
    ``DurableTaskSchedulerWorker``::

        worker = DurableTaskSchedulerWorker(..., interceptors=payload_interceptors(store))

    Do not also pass ``payload_store=`` to the same worker: the payloads would be
    processed twice.
    """
    return [PayloadInterceptor(store)]


def with_interceptor(
    interceptor: PayloadInterceptor | None, interceptors: Sequence[Any] | None, channel: grpc.Channel | None
) -> tuple[Sequence[Any] | None, grpc.Channel | None]:
    """Return a sync worker's or client's ``interceptors`` and ``channel`` with *interceptor* added.

    A channel the caller made is wrapped (gRPC cannot add to it); otherwise the
    interceptor joins the caller's own, after them. None adds nothing.
    """
    if interceptor is None:
        return interceptors, channel
    if channel is not None:
        return interceptors, grpc.intercept_channel(channel, interceptor)
    return [*(interceptors or ()), interceptor], channel
