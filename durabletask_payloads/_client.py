"""``TaskHubGrpcClient`` and ``AsyncTaskHubGrpcClient`` with ``payload_store=``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import grpc
import grpc.aio
from durabletask import client as _client
from typing_extensions import Unpack

from . import aio
from ._arguments import ClientArguments
from ._flow import drive, drive_async
from ._interceptors import PayloadInterceptor, with_interceptor
from ._purge import PurgeSelection, purge_flow
from ._store import PayloadStore

__all__ = ["AsyncTaskHubGrpcClient", "TaskHubGrpcClient"]

T = TypeVar("T")


class TaskHubGrpcClient(_client.TaskHubGrpcClient):
    """A drop-in ``durabletask.client.TaskHubGrpcClient`` that externalizes large payloads.

    Inputs, events, termination outputs and entity signals above the threshold
    are stored before the call is sent; states, histories and entities read
    back come with the original values. A value above the store's maximum
    raises :class:`~durabletask_payloads.PayloadTooLargeError` and nothing is
    sent. Every other argument is passed on to durabletask's client.

    Purging an orchestration (``purge_orchestration``, ``purge_orchestrations_by``,
    recursive or not) also deletes the payloads the purged instances wrote that
    no instance still existing can refer to, unless
    ``delete_payloads_on_purge=False``; the result is then a
    :class:`~durabletask_payloads.PayloadPurgeResult` that counts them. What
    cannot be proven unreferenced (inputs, which a restart may copy, among
    others) is kept for ``durabletask-payloads gc``: docs/cli.md has the rules.

    Args:
        payload_store: Where large payloads go. Without one this is durabletask's
            client, unchanged.
        delete_payloads_on_purge: Delete the payloads of purged instances that
            nothing refers to (default True).
        interceptors: Your own gRPC interceptors; the payload interceptor is added.
        channel: A channel you own; it is wrapped with the payload interceptor.
        **kwargs: Any other ``durabletask.client.TaskHubGrpcClient`` argument.

    """

    def __init__(
        self,
        *,
        payload_store: PayloadStore | None = None,
        delete_payloads_on_purge: bool = True,
        interceptors: Sequence[Any] | None = None,
        channel: grpc.Channel | None = None,
        **kwargs: Unpack[ClientArguments],
    ) -> None:
        self._delete_payloads_on_purge = delete_payloads_on_purge
        self._payload_interceptor = PayloadInterceptor(payload_store) if payload_store is not None else None
        interceptors, channel = with_interceptor(self._payload_interceptor, interceptors, channel)
        super().__init__(interceptors=interceptors, channel=channel, **kwargs)

    @property
    def payload_store(self) -> PayloadStore | None:
        """The store large payloads go to, or None."""
        return self._payload_interceptor.store if self._payload_interceptor is not None else None

    def purge_orchestration(self, instance_id: str, recursive: bool = True) -> _client.PurgeInstancesResult:
        """Purge an orchestration instance, and then the payloads nothing else needs (see the class docs)."""
        purge = functools.partial(super().purge_orchestration, instance_id, recursive)
        return self._purge(PurgeSelection(instance_id=instance_id), purge)

    def purge_orchestrations_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[_client.OrchestrationStatus] | None = None,
        recursive: bool = False,
        timeout: timedelta | None = None,
    ) -> _client.PurgeInstancesResult:
        """Purge the orchestrations a filter selects, and then the payloads nothing else needs."""
        by = _PurgeFilter(created_time_from, created_time_to, runtime_status, recursive, timeout)
        return self._purge(by.selection(), by.bound(super().purge_orchestrations_by))

    def _purge(
        self, selection: PurgeSelection, purge: Callable[[], _client.PurgeInstancesResult]
    ) -> _client.PurgeInstancesResult:
        store = self.payload_store
        if store is None or not self._delete_payloads_on_purge:
            return purge()
        return drive(purge_flow(store, selection), self._stub, store, purge=purge)


class AsyncTaskHubGrpcClient(_client.AsyncTaskHubGrpcClient):
    """Async twin of :class:`TaskHubGrpcClient`, over ``grpc.aio``.

    ``grpc.aio`` cannot add an interceptor to an existing channel, so
    ``channel=`` cannot be combined with ``payload_store=``: build the channel
    with ``interceptors=durabletask_payloads.payload_interceptors_async(store)``
    instead.

    Raises:
        ValueError: Both ``channel`` and ``payload_store`` were given.

    """

    def __init__(
        self,
        *,
        payload_store: PayloadStore | None = None,
        delete_payloads_on_purge: bool = True,
        interceptors: Sequence[Any] | None = None,
        channel: grpc.aio.Channel | None = None,
        **kwargs: Unpack[ClientArguments],
    ) -> None:
        self._delete_payloads_on_purge = delete_payloads_on_purge
        if payload_store is not None and channel is not None:
            raise ValueError(
                "AsyncTaskHubGrpcClient cannot add the payload interceptor to a channel you created: "
                "pass channel= or payload_store=, not both. Create the channel with "
                "interceptors=durabletask_payloads.payload_interceptors_async(store) instead."
            )
        self._payload_interceptor = (
            aio.AsyncPayloadInterceptor(payload_store) if payload_store is not None else None
        )
        if self._payload_interceptor is not None:
            interceptors = [*(interceptors or ()), *self._payload_interceptor.interceptors]
        super().__init__(interceptors=interceptors, channel=channel, **kwargs)

    @property
    def payload_store(self) -> PayloadStore | None:
        """The store large payloads go to, or None."""
        return self._payload_interceptor.store if self._payload_interceptor is not None else None

    async def purge_orchestration(
        self, instance_id: str, recursive: bool = True
    ) -> _client.PurgeInstancesResult:
        """Async twin of :meth:`TaskHubGrpcClient.purge_orchestration`."""
        purge = functools.partial(super().purge_orchestration, instance_id, recursive)
        return await self._purge(PurgeSelection(instance_id=instance_id), purge)

    async def purge_orchestrations_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[_client.OrchestrationStatus] | None = None,
        recursive: bool = False,
        timeout: timedelta | None = None,
    ) -> _client.PurgeInstancesResult:
        """Async twin of :meth:`TaskHubGrpcClient.purge_orchestrations_by`."""
        by = _PurgeFilter(created_time_from, created_time_to, runtime_status, recursive, timeout)
        return await self._purge(by.selection(), by.bound(super().purge_orchestrations_by))

    async def _purge(
        self, selection: PurgeSelection, purge: Callable[[], Awaitable[_client.PurgeInstancesResult]]
    ) -> _client.PurgeInstancesResult:
        store = self.payload_store
        if store is None or not self._delete_payloads_on_purge:
            return await purge()
        return await drive_async(purge_flow(store, selection), self._get_stub(), store, purge=purge)


@dataclass(frozen=True)
class _PurgeFilter:
    """The arguments of ``purge_orchestrations_by``: durabletask's purge call, and what it selects."""

    created_time_from: datetime | None
    created_time_to: datetime | None
    runtime_status: list[_client.OrchestrationStatus] | None
    recursive: bool
    timeout: timedelta | None

    def bound(self, purge_by: Callable[..., T]) -> Callable[[], T]:
        """Return durabletask's *purge_by* (sync or async) called with these arguments."""
        return functools.partial(
            purge_by,
            self.created_time_from,
            self.created_time_to,
            self.runtime_status,
            self.recursive,
            self.timeout,
        )

    def selection(self) -> PurgeSelection:
        """Return the instances the filter selects, as the payload purge reads them."""
        status = self.runtime_status
        return PurgeSelection(
            created_time_from=self.created_time_from,
            created_time_to=self.created_time_to,
            runtime_status=[value.value for value in status] if status else None,
        )
