"""``TaskHubGrpcClient`` and ``AsyncTaskHubGrpcClient`` with ``payload_store=``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import grpc.aio
from durabletask import client as _client

from . import aio
from ._interceptors import PayloadInterceptor
from ._store import PayloadStore

__all__ = ["AsyncTaskHubGrpcClient", "TaskHubGrpcClient"]


class TaskHubGrpcClient(_client.TaskHubGrpcClient):
    """A drop-in ``durabletask.client.TaskHubGrpcClient`` that externalizes large payloads.

    Inputs, events, termination outputs and entity signals above the threshold
    are stored before the call is sent; states, histories and entities read
    back come with the original values. A value above the store's maximum
    raises :class:`~durabletask_payloads.PayloadTooLargeError` and nothing is
    sent. Every other argument is passed on to durabletask's client.

    Args:
        payload_store: Where large payloads go. Without one this is durabletask's
            client, unchanged.
        interceptors: Your own gRPC interceptors; the payload interceptor is added.
        channel: A channel you own; it is wrapped with the payload interceptor.
        **kwargs: Any other ``durabletask.client.TaskHubGrpcClient`` argument.

    """

    def __init__(
        self,
        *,
        payload_store: PayloadStore | None = None,
        interceptors: Sequence[Any] | None = None,
        channel: grpc.Channel | None = None,
        **kwargs: Any,
    ) -> None:
        self._payload_interceptor = PayloadInterceptor(payload_store) if payload_store is not None else None
        if self._payload_interceptor is not None:
            if channel is not None:
                channel = grpc.intercept_channel(channel, self._payload_interceptor)
            else:
                interceptors = [*(interceptors or ()), self._payload_interceptor]
        super().__init__(interceptors=interceptors, channel=channel, **kwargs)

    @property
    def payload_store(self) -> PayloadStore | None:
        """The store large payloads go to, or None."""
        return self._payload_interceptor.store if self._payload_interceptor is not None else None


class AsyncTaskHubGrpcClient(_client.AsyncTaskHubGrpcClient):
    """Async twin of :class:`TaskHubGrpcClient`, over ``grpc.aio``.

    ``grpc.aio`` cannot add an interceptor to an existing channel, so
    ``channel=`` cannot be combined with ``payload_store=``: build the channel
    with ``interceptors=durabletask_payloads.aio.payload_interceptors(store)``
    instead.

    Raises:
        ValueError: Both ``channel`` and ``payload_store`` were given.

    """

    def __init__(
        self,
        *,
        payload_store: PayloadStore | None = None,
        interceptors: Sequence[Any] | None = None,
        channel: grpc.aio.Channel | None = None,
        **kwargs: Any,
    ) -> None:
        if payload_store is not None and channel is not None:
            raise ValueError(
                "AsyncTaskHubGrpcClient cannot add the payload interceptor to a channel you created: "
                "pass channel= or payload_store=, not both. Create the channel with "
                "interceptors=durabletask_payloads.aio.payload_interceptors(store) instead."
            )
        self._payload_interceptor = (
            aio.PayloadInterceptor(payload_store) if payload_store is not None else None
        )
        if self._payload_interceptor is not None:
            interceptors = [*(interceptors or ()), *self._payload_interceptor.interceptors]
        super().__init__(interceptors=interceptors, channel=channel, **kwargs)

    @property
    def payload_store(self) -> PayloadStore | None:
        """The store large payloads go to, or None."""
        return self._payload_interceptor.store if self._payload_interceptor is not None else None
