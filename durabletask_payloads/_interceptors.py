"""gRPC client interceptor that externalizes and resolves payloads (sync ``grpc`` channels).

The async twin, with the same class name, is in :mod:`durabletask_payloads.aio`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import Message

from ._adapt import as_store
from ._dispatch import WorkItemDispatcher
from ._externalize import deexternalize_payloads, externalize_payloads
from ._held import Stopped, externalizing, held
from ._hooks import WORK_ITEMS, Hooks, method_name
from ._steps import run
from ._store import PayloadStore

_log = logging.getLogger("durabletask_payloads.interceptors")

__all__ = ["PayloadInterceptor", "payload_interceptors"]

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

    def _send(self, method: str, request: Any) -> Any:
        plan = self._hooks.plan_send(method, request)
        if plan.replacement is not None:
            return plan.replacement
        if not plan.externalize:
            return request
        if plan.completion is None:  # a client call: the store's own retries have run, the caller decides
            externalize_payloads(request, self._store, instance_id=plan.scope)
            return request
        # A completion is held, not abandoned: durabletask.testing's backend drops abandoned activity
        # items, and any backend would run the activity again.
        outcome = run(held(self._store, "upload", externalizing(request, plan.scope)), self._dispatcher.io)
        if outcome is None:
            return request
        if isinstance(outcome, Stopped):
            raise outcome.error  # the worker is stopping: leave the item to the backend
        return self._hooks.failed_completion(plan.completion, request, plan.entry, outcome)

    def _resolve(self, message: Message) -> None:
        deexternalize_payloads(message, self._store)

    def _resolve_unary(self, call: Any) -> Any:
        try:
            response = call.result()
        except Exception:  # noqa: BLE001
            return call  # an RPC error: the caller sees it when it reads the result
        self._resolve(response)
        return call

    def _stream(self, method: str, call: Any) -> Any:
        if method == WORK_ITEMS:
            return self._dispatcher.open(call)
        return _ResolvingStream(call, self._resolve)

    def intercept_unary_unary(
        self, continuation: _Continuation, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Externalize the request, send it, resolve the response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return continuation(client_call_details, request)
        call = continuation(client_call_details, self._send(method, request))
        return self._resolve_unary(call)

    def intercept_unary_stream(
        self, continuation: _Continuation, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Externalize the request, send it, resolve each streamed response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return continuation(client_call_details, request)
        return self._stream(method, continuation(client_call_details, self._send(method, request)))

    def intercept_stream_unary(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        """Externalize each streamed request, resolve the response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return continuation(client_call_details, request_iterator)
        requests = (self._send(method, request) for request in request_iterator)
        return self._resolve_unary(continuation(client_call_details, requests))

    def intercept_stream_stream(
        self,
        continuation: _Continuation,
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        """Externalize each streamed request, resolve each streamed response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return continuation(client_call_details, request_iterator)
        requests = (self._send(method, request) for request in request_iterator)
        return self._stream(method, continuation(client_call_details, requests))


def payload_interceptors(store: PayloadStore) -> list[PayloadInterceptor]:
    """Interceptors to add to any durabletask worker or client built on a sync gRPC channel.

    For worker classes this package does not wrap, e.g. durabletask-azuremanaged's
    ``DurableTaskSchedulerWorker``::

        worker = DurableTaskSchedulerWorker(..., interceptors=payload_interceptors(store))

    Do not also pass ``payload_store=`` to the same worker: the payloads would be
    processed twice.
    """
    return [PayloadInterceptor(store)]
