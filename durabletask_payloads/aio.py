"""Async (``grpc.aio``) twins of the payload interceptors, with the same names.

``AsyncTaskHubGrpcClient`` uses these; use :func:`payload_interceptors` directly
for other clients or workers built on ``grpc.aio`` channels.

``grpc.aio`` files an interceptor object under the first call type it
implements and ignores the others, so one object cannot serve unary and
streaming calls alike. :class:`PayloadInterceptor` therefore holds the logic
and state, and hands out one small adapter per call type
(:attr:`PayloadInterceptor.interceptors`); pass those to the channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

import grpc.aio
from google.protobuf.message import Message

from ._externalize import deexternalize_payloads_async, externalize_payloads_async
from ._hooks import WORK_ITEMS, Hooks, method_name
from ._store import PayloadStore

__all__ = ["PayloadInterceptor", "payload_interceptors"]

_Continuation = Callable[[grpc.aio.ClientCallDetails, Any], Any]


class PayloadInterceptor:
    """Async twin of :class:`durabletask_payloads.PayloadInterceptor`: same rules, awaited store calls.

    Give the channel :attr:`interceptors` (one adapter per call type), not
    this object itself.

    Args:
        store: Where payloads go and come from.

    """

    def __init__(self, store: PayloadStore) -> None:
        self._store = store
        self._hooks = Hooks()
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
        """The payload store this interceptor uses."""
        return self._store

    async def _send(self, method: str, request: Any) -> Any:
        plan = self._hooks.plan_send(method, request)
        if plan.replacement is not None:
            return plan.replacement
        if plan.externalize:
            try:
                await externalize_payloads_async(request, self._store, instance_id=plan.scope)
            except Exception as exc:  # any failure of a completion must become a failed result
                if plan.completion is None:
                    raise
                return self._hooks.failed_completion(plan.completion, request, plan.entry, exc)
        return request

    async def _resolve(self, method: str, message: Message) -> None:
        if method != WORK_ITEMS:
            await deexternalize_payloads_async(message, self._store)
            return
        self._hooks.admit(message)  # type: ignore[arg-type]
        try:
            await deexternalize_payloads_async(message, self._store)
        except Exception as exc:  # noqa: BLE001 - any failure must fail the item, not the stream
            self._hooks.poison(message, exc)  # type: ignore[arg-type]

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
        async for message in call:
            await self._resolve(method, message)
            yield message

    async def intercept_unary_unary(
        self, continuation: _Continuation, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        """Externalize the request, send it, resolve the response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return await continuation(client_call_details, request)
        call = await continuation(client_call_details, await self._send(method, request))
        response = await call
        await self._resolve(method, response)
        return call

    async def intercept_unary_stream(
        self, continuation: _Continuation, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        """Externalize the request, send it, resolve each streamed response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return await continuation(client_call_details, request)
        call = await continuation(client_call_details, await self._send(method, request))
        return self._responses(method, call)

    async def intercept_stream_unary(
        self,
        continuation: _Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        """Externalize each streamed request, resolve the response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return await continuation(client_call_details, request_iterator)
        call = await continuation(client_call_details, self._requests(method, request_iterator))
        response = await call
        await self._resolve(method, response)
        return call

    async def intercept_stream_stream(
        self,
        continuation: _Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        """Externalize each streamed request, resolve each streamed response."""
        method = method_name(client_call_details.method, client_call_details.metadata)
        if method is None:
            return await continuation(client_call_details, request_iterator)
        call = await continuation(client_call_details, self._requests(method, request_iterator))
        return self._responses(method, call)


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, owner: PayloadInterceptor) -> None:
        self.owner = owner

    async def intercept_unary_unary(
        self, continuation: _Continuation, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await self.owner.intercept_unary_unary(continuation, client_call_details, request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, owner: PayloadInterceptor) -> None:
        self.owner = owner

    async def intercept_unary_stream(
        self, continuation: _Continuation, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await self.owner.intercept_unary_stream(continuation, client_call_details, request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, owner: PayloadInterceptor) -> None:
        self.owner = owner

    async def intercept_stream_unary(
        self,
        continuation: _Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self.owner.intercept_stream_unary(continuation, client_call_details, request_iterator)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[type-arg]
    def __init__(self, owner: PayloadInterceptor) -> None:
        self.owner = owner

    async def intercept_stream_stream(
        self,
        continuation: _Continuation,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self.owner.intercept_stream_stream(continuation, client_call_details, request_iterator)


def payload_interceptors(store: PayloadStore) -> list[Any]:
    """Async twin of :func:`durabletask_payloads.payload_interceptors`, for ``grpc.aio`` channels.

    Returns one interceptor per call type (see the module docstring), sharing one state.
    """
    return PayloadInterceptor(store).interceptors
