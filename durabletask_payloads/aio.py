"""Async (``grpc.aio``) payload interceptors: ``AsyncPayloadInterceptor``, ``payload_interceptors_async``.

The names follow durabletask's convention (``Async…`` classes, ``…_async``
functions and methods); both are exported from :mod:`durabletask_payloads` too.
``AsyncTaskHubGrpcClient`` uses these; use :func:`payload_interceptors_async`
directly for other clients or workers built on ``grpc.aio`` channels. The old
same-as-sync names (``aio.PayloadInterceptor``, ``aio.payload_interceptors``)
still work and emit a :class:`DeprecationWarning`.

``grpc.aio`` files an interceptor object under the first call type it
implements and ignores the others, so one object cannot serve unary and
streaming calls alike. :class:`AsyncPayloadInterceptor` therefore holds the
logic and state, and hands out one small adapter per call type
(:attr:`AsyncPayloadInterceptor.interceptors`); pass those to the channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

import grpc.aio
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf.message import Message

from ._adapt import as_store
from ._calls import STREAM_STREAM, STREAM_UNARY, UNARY_STREAM, UNARY_UNARY, intercepted, sending
from ._deprecation import deprecated_module_attribute
from ._dispatch import triage
from ._externalize import deexternalize_payloads_async
from ._held import AsyncWorkerIO, Stopped, held, resolving
from ._hooks import WORK_ITEMS, Hooks
from ._steps import run_async
from ._store import PayloadStore
from ._workitems import (
    HEALTH_PING_SECONDS,
    End,
    Sequencer,
    health_ping,
    order_key,
)

__all__ = ["AsyncPayloadInterceptor", "payload_interceptors_async"]

_log = logging.getLogger("durabletask_payloads.interceptors")

_Continuation = Callable[[grpc.aio.ClientCallDetails, Any], Any]


class AsyncPayloadInterceptor:
    """Async twin of :class:`durabletask_payloads.PayloadInterceptor`: same rules, awaited store calls.

    Give the channel :attr:`interceptors` (one adapter per call type), not
    this object itself.

    Args:
        store: Where payloads go and come from.

    """

    def __init__(self, store: PayloadStore) -> None:
        self._given = store
        self._store = as_store(store)
        self._io = AsyncWorkerIO(self._store)
        self._hooks = Hooks()
        self._sequencer = Sequencer()
        self._adapters: list[Any] = [
            _UnaryUnary(self),
            _UnaryStream(self),
            _StreamUnary(self),
            _StreamStream(self),
        ]

    @property
    def interceptors(self) -> list[Any]:
        """The ``grpc.aio`` interceptors to give a channel: one per call type, sharing this object's state."""
        return list(self._adapters)

    @property
    def store(self) -> PayloadStore:
        """The payload store this interceptor uses (as it was given)."""
        return self._given

    async def _resolve_item(self, item: pb.WorkItem) -> None:
        """Resolve a work item, waiting out transient failures within the budget, else poison it."""
        outcome = await run_async(held(self._store, "download", resolving(item)), self._io)
        if outcome is not None:
            assert not isinstance(outcome, Stopped)
            self._hooks.poison(item, outcome)

    async def _work_items(self, call: Any) -> AsyncIterator[Any]:
        """Yield the ``GetWorkItems`` stream's items, read at once and resolved off the stream.

        The rules are those of :mod:`durabletask_payloads._workitems`.

        Unlike the sync dispatcher, items still being resolved when the consumer
        stops iterating are dropped with the stream (their tasks are cancelled).
        """
        outlet: asyncio.Queue[Any] = asyncio.Queue()
        resolving: set[asyncio.Future[None]] = set()
        held = 0

        async def finish(item: pb.WorkItem, key: Hashable | None) -> None:
            nonlocal held
            held -= 1
            outlet.put_nowait(item)
            following = self._sequencer.leave(key)
            if following is not None:
                await start(following, key)

        async def slow(item: pb.WorkItem, key: Hashable | None) -> None:
            await self._resolve_item(item)
            await finish(item, key)

        async def start(item: pb.WorkItem, key: Hashable | None) -> None:
            downloads = triage(item, self._store)
            if downloads is None:  # nothing to resolve
                await finish(item, key)
                return
            if not downloads:
                try:
                    await deexternalize_payloads_async(item, self._store)  # from the cache: no I/O
                except Exception:  # noqa: BLE001 - a store that did I/O after all: go the slow way
                    _log.debug("Cached resolution failed; resolving off the stream", exc_info=True)
                else:
                    await finish(item, key)
                    return
            task = asyncio.ensure_future(slow(item, key))
            resolving.add(task)
            task.add_done_callback(resolving.discard)

        async def read() -> None:
            nonlocal held
            try:
                async for item in call:
                    if item.WhichOneof("request") in (None, "healthPing"):
                        outlet.put_nowait(item)
                        continue
                    self._hooks.admit(item)
                    held += 1
                    key = order_key(item)
                    if self._sequencer.enter(key, item):
                        await start(item, key)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, as gRPC raised it
                outlet.put_nowait(End(exc))
            else:
                outlet.put_nowait(End(None))

        reader = asyncio.ensure_future(read())
        try:
            while True:
                try:
                    entry = await asyncio.wait_for(outlet.get(), HEALTH_PING_SECONDS)
                except asyncio.TimeoutError:
                    if held:
                        yield health_ping()  # items are held for downloads: the stream is alive
                    continue
                if isinstance(entry, End):
                    if entry.error is not None:
                        raise entry.error
                    return
                yield entry
        finally:
            for task in (reader, *resolving):
                task.cancel()

    # -- the edge of _calls' flows: the same operations as the sync interceptor's, awaited -------

    async def _proceed(self, continuation: _Continuation, details: Any, request: Any) -> Any:
        return await continuation(details, request)

    async def _send(self, method: str, request: Any) -> Any:
        return await run_async(sending(self._hooks, self._store, method, request), self._io)

    async def _send_each(
        self, method: str, requests: AsyncIterable[Any] | Iterable[Any]
    ) -> AsyncIterator[Any]:
        return self._requests(method, requests)

    async def _result(self, call: Any) -> Any:
        return await call

    async def _resolve(self, message: Message) -> None:
        await deexternalize_payloads_async(message, self._store)

    async def _stream(self, method: str, call: Any) -> AsyncIterator[Any]:
        return self._responses(method, call)

    async def _requests(
        self, method: str, requests: AsyncIterable[Any] | Iterable[Any]
    ) -> AsyncIterator[Any]:
        if isinstance(requests, AsyncIterable):
            async for request in requests:
                yield await self._send(method, request)
        else:
            for request in requests:
                yield await self._send(method, request)

    async def _responses(self, method: str, call: Any) -> AsyncIterator[Any]:
        if method == WORK_ITEMS:
            async for item in self._work_items(call):
                yield item
            return
        async for message in call:
            await self._resolve(message)
            yield message

    # -- grpc.aio's four methods (reached through the adapters): one flow, told the call type ----

    async def intercept_unary_unary(self, continuation: _Continuation, details: Any, request: Any) -> Any:
        """Externalize the request, send it, resolve the response."""
        return await run_async(intercepted(UNARY_UNARY, continuation, details, request), self)

    async def intercept_unary_stream(self, continuation: _Continuation, details: Any, request: Any) -> Any:
        """Externalize the request, send it, resolve each streamed response."""
        return await run_async(intercepted(UNARY_STREAM, continuation, details, request), self)

    async def intercept_stream_unary(self, continuation: _Continuation, details: Any, requests: Any) -> Any:
        """Externalize each streamed request, resolve the response."""
        return await run_async(intercepted(STREAM_UNARY, continuation, details, requests), self)

    async def intercept_stream_stream(self, continuation: _Continuation, details: Any, requests: Any) -> Any:
        """Externalize each streamed request, resolve each streamed response."""
        return await run_async(intercepted(STREAM_STREAM, continuation, details, requests), self)


def _adapter(base: type[Any], method: str) -> type[Any]:
    """Make an interceptor class of one grpc.aio call type that hands its calls to the owner's *method*.

    grpc.aio files an interceptor under the first call type it subclasses, so the
    owner, which handles all four, is given to the channel as four adapters.
    """

    def init(self: Any, owner: AsyncPayloadInterceptor) -> None:
        self.owner = owner

    async def intercept(self: Any, continuation: _Continuation, details: Any, request: Any) -> Any:
        return await getattr(self.owner, method)(continuation, details, request)

    return type(f"_{base.__name__}", (base,), {"__init__": init, method: intercept})


_UnaryUnary = _adapter(grpc.aio.UnaryUnaryClientInterceptor, "intercept_unary_unary")
_UnaryStream = _adapter(grpc.aio.UnaryStreamClientInterceptor, "intercept_unary_stream")
_StreamUnary = _adapter(grpc.aio.StreamUnaryClientInterceptor, "intercept_stream_unary")
_StreamStream = _adapter(grpc.aio.StreamStreamClientInterceptor, "intercept_stream_stream")


def payload_interceptors_async(store: PayloadStore) -> list[Any]:
    """Async twin of :func:`durabletask_payloads.payload_interceptors`, for ``grpc.aio`` channels.

    Returns one interceptor per call type (see the module docstring), sharing one state.
    """
    return AsyncPayloadInterceptor(store).interceptors


# The names before the one async convention; each use warns (DeprecationWarning).
if TYPE_CHECKING:  # type checkers still accept the old names
    PayloadInterceptor = AsyncPayloadInterceptor
    payload_interceptors = payload_interceptors_async
__getattr__ = deprecated_module_attribute(
    __name__,
    {
        "PayloadInterceptor": (
            "durabletask_payloads.AsyncPayloadInterceptor",
            lambda: AsyncPayloadInterceptor,
        ),
        "payload_interceptors": (
            "durabletask_payloads.payload_interceptors_async",
            lambda: payload_interceptors_async,
        ),
    },
)
