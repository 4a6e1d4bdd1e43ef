"""``TaskHubGrpcClient`` and ``AsyncTaskHubGrpcClient`` with ``payload_store=``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import grpc
import grpc.aio
from durabletask import client as _client
from durabletask.internal import orchestrator_service_pb2 as pb
from typing_extensions import Unpack

from . import aio
from ._arguments import ClientArguments
from ._hooks import RAW_CALL
from ._interceptors import PayloadInterceptor
from ._lifecycle import (
    PurgePlan,
    child_instances,
    delete_owned_payloads,
    read_history,
    read_history_async,
    with_payloads,
)
from ._store import PayloadStore

__all__ = ["AsyncTaskHubGrpcClient", "TaskHubGrpcClient"]


class TaskHubGrpcClient(_client.TaskHubGrpcClient):
    """A drop-in ``durabletask.client.TaskHubGrpcClient`` that externalizes large payloads.

    Inputs, events, termination outputs and entity signals above the threshold
    are stored before the call is sent; states, histories and entities read
    back come with the original values. A value above the store's maximum
    raises :class:`~durabletask_payloads.PayloadTooLargeError` and nothing is
    sent. Every other argument is passed on to durabletask's client.

    Purging an orchestration (``purge_orchestration``, ``purge_orchestrations_by``,
    recursive or not) also deletes the payloads the purged instances wrote,
    unless ``delete_payloads_on_purge=False``; the result is then a
    :class:`~durabletask_payloads.PayloadPurgeResult` that counts them.

    Args:
        payload_store: Where large payloads go. Without one this is durabletask's
            client, unchanged.
        delete_payloads_on_purge: Delete the payloads of purged instances (default True).
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

    def purge_orchestration(self, instance_id: str, recursive: bool = True) -> _client.PurgeInstancesResult:
        """Purge an orchestration instance, and then the payloads it wrote (see the class docs)."""
        plan = self._plan_purge([instance_id])
        return self._finish_purge(super().purge_orchestration(instance_id, recursive), plan)

    def purge_orchestrations_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[_client.OrchestrationStatus] | None = None,
        recursive: bool = False,
        timeout: timedelta | None = None,
    ) -> _client.PurgeInstancesResult:
        """Purge the orchestrations a filter selects, and then the payloads they wrote."""
        plan: PurgePlan | None = None
        if self._delete_payloads_on_purge and self.payload_store is not None:
            query = _client.OrchestrationQuery(
                created_time_from=created_time_from,
                created_time_to=created_time_to,
                runtime_status=runtime_status,
            )
            plan = self._plan_purge([s.instance_id for s in self.get_all_orchestration_states(query)])
        result = super().purge_orchestrations_by(
            created_time_from, created_time_to, runtime_status, recursive, timeout
        )
        return self._finish_purge(result, plan)

    def _plan_purge(self, instance_ids: list[str]) -> PurgePlan | None:
        store = self.payload_store
        if store is None or not self._delete_payloads_on_purge:
            return None
        stub = cast(Any, self._stub)
        plan = PurgePlan()
        pending = deque(instance_ids)
        while pending:
            instance_id = pending.popleft()
            if instance_id in plan.references:
                continue
            request = pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
            state = stub.GetInstance(request, metadata=[RAW_CALL])
            if not state.exists:
                continue
            # RAW_CALL: the tokens as the backend holds them, not the payloads behind them.
            events = read_history(stub, instance_id, metadata=[RAW_CALL])
            plan.add(instance_id, [state, *events], store)
            pending.extend(child_instances(events))  # even when not recursive: see PurgePlan
        return plan

    def _finish_purge(
        self, result: _client.PurgeInstancesResult, plan: PurgePlan | None
    ) -> _client.PurgeInstancesResult:
        store = self.payload_store
        if plan is None or store is None:
            return result
        stub = cast(Any, self._stub)
        # Only instances that really are gone give up their payloads (a filter may match running ones).
        purged = {
            instance_id
            for instance_id in plan.references
            if not stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id), metadata=[RAW_CALL]).exists
        }
        return with_payloads(result, *delete_owned_payloads(store, plan, purged))


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

    async def purge_orchestration(
        self, instance_id: str, recursive: bool = True
    ) -> _client.PurgeInstancesResult:
        """Async twin of :meth:`TaskHubGrpcClient.purge_orchestration`."""
        plan = await self._plan_purge([instance_id])
        return await self._finish_purge(await super().purge_orchestration(instance_id, recursive), plan)

    async def purge_orchestrations_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[_client.OrchestrationStatus] | None = None,
        recursive: bool = False,
        timeout: timedelta | None = None,
    ) -> _client.PurgeInstancesResult:
        """Async twin of :meth:`TaskHubGrpcClient.purge_orchestrations_by`."""
        plan: PurgePlan | None = None
        if self._delete_payloads_on_purge and self.payload_store is not None:
            query = _client.OrchestrationQuery(
                created_time_from=created_time_from,
                created_time_to=created_time_to,
                runtime_status=runtime_status,
            )
            states = await self.get_all_orchestration_states(query)
            plan = await self._plan_purge([s.instance_id for s in states])
        result = await super().purge_orchestrations_by(
            created_time_from, created_time_to, runtime_status, recursive, timeout
        )
        return await self._finish_purge(result, plan)

    async def _plan_purge(self, instance_ids: list[str]) -> PurgePlan | None:
        store = self.payload_store
        if store is None or not self._delete_payloads_on_purge:
            return None
        stub = cast(Any, self._get_stub())
        plan = PurgePlan()
        pending = deque(instance_ids)
        while pending:
            instance_id = pending.popleft()
            if instance_id in plan.references:
                continue
            request = pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
            state = await stub.GetInstance(request, metadata=[RAW_CALL])
            if not state.exists:
                continue
            events = await read_history_async(stub, instance_id, metadata=[RAW_CALL])
            plan.add(instance_id, [state, *events], store)
            pending.extend(child_instances(events))  # even when not recursive: see PurgePlan
        return plan

    async def _finish_purge(
        self, result: _client.PurgeInstancesResult, plan: PurgePlan | None
    ) -> _client.PurgeInstancesResult:
        store = self.payload_store
        if plan is None or store is None:
            return result
        stub = cast(Any, self._get_stub())
        purged = set()
        for instance_id in plan.references:
            state = await stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id), metadata=[RAW_CALL])
            if not state.exists:
                purged.add(instance_id)
        deleted, kept = await asyncio.to_thread(delete_owned_payloads, store, plan, purged)
        return with_payloads(result, deleted, kept)
