"""What an instance's state and history refer to, for purge, gc and the viewer.

No Durable Task backend deletes externalized payloads. The purge of this
package's clients and the ``gc`` command decide what to delete from what the
backend holds: tokens in states and histories (read raw, so nothing is
downloaded). This module turns one instance's state and history into an
:class:`InstanceRecord`: every token it refers to, and which of them are
inputs, outputs, or values it sent to another instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from durabletask.client import PurgeInstancesResult
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf.message import Message

from ._externalize import payload_tokens
from ._store import PayloadStore

__all__ = [
    "TERMINAL",
    "Delivery",
    "InstanceRecord",
    "PayloadPurgeResult",
    "read_history",
    "read_history_async",
    "record_instance",
]

_Metadata = Sequence[tuple[str, str]]

#: Statuses after which an orchestration's history no longer grows.
TERMINAL = frozenset(
    {
        pb.ORCHESTRATION_STATUS_COMPLETED,
        pb.ORCHESTRATION_STATUS_FAILED,
        pb.ORCHESTRATION_STATUS_TERMINATED,
        pb.ORCHESTRATION_STATUS_CANCELED,
    }
)


@dataclass
class PayloadPurgeResult(PurgeInstancesResult):
    """durabletask's ``PurgeInstancesResult``, plus what happened to the instances' payloads.

    Attributes:
        deleted_payload_count: Payloads deleted from the store.
        kept_payload_count: Payloads the purged instances referred to and that
            were kept: referred to by an instance that still exists, written by
            another instance or by another SDK, an input (which a restart may
            have copied), sent to an instance that may not have received it
            yet, or not deletable because the store failed. ``gc`` collects
            those that no instance refers to.

    """

    deleted_payload_count: int = 0
    kept_payload_count: int = 0


@dataclass(frozen=True)
class Delivery:
    """A token an orchestration sent to another instance, as its history records it.

    Attributes:
        target: The receiving instance.
        token: The token sent.
        kind: ``"event"`` (``send_event``), ``"signal"`` or ``"call"`` (entity operations).
        answered: For a call, whether its response is in the sender's history.

    """

    target: str
    token: str
    kind: str
    answered: bool = False


@dataclass
class InstanceRecord:
    """What one instance's state and history refer to.

    Attributes:
        instance_id: The instance.
        status: Its runtime status (an ``OrchestrationStatus`` value), if an orchestration.
        tokens: Every token of the store in its state and history, in order, once each.
        inputs: Tokens that are inputs: its own, its children's, its next generation's.
        outputs: Tokens of its result or failure, which go to its parent.
        deliveries: Tokens it sent to other instances.
        parent: The parent the backend recorded, if any.
        children: The sub-orchestrations it started.
        complete: Whether its history could be read; if not, what it sent
            is unknown and none of its tokens may be deleted.

    """

    instance_id: str
    status: int | None = None
    tokens: dict[str, None] = field(default_factory=dict)
    inputs: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    deliveries: list[Delivery] = field(default_factory=list)
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    complete: bool = True

    @property
    def terminal(self) -> bool:
        """Whether its history can no longer grow."""
        return self.status in TERMINAL


def _tokens(message: Message | None, store: PayloadStore) -> list[str]:
    return payload_tokens(message, store) if message is not None else []


def _value_tokens(holder: Message, name: str, store: PayloadStore) -> list[str]:
    return _tokens(getattr(holder, name), store) if holder.HasField(name) else []


def record_instance(
    instance_id: str,
    state: pb.OrchestrationState | pb.EntityMetadata | None,
    events: Iterable[pb.HistoryEvent],
    store: PayloadStore,
) -> InstanceRecord:
    """Describe what an orchestration's (or entity's) state and history refer to.

    Args:
        instance_id: The instance.
        state: Its ``OrchestrationState`` (read with inputs and outputs) or an
            entity's ``EntityMetadata`` (read with its state), as the backend holds them.
        events: Its history, as the backend holds it.
        store: The store whose tokens count.

    """
    record = InstanceRecord(instance_id)
    if isinstance(state, pb.OrchestrationState):
        record.status = state.orchestrationStatus
        record.tokens.update(dict.fromkeys(_tokens(state, store)))
        record.inputs.update(_value_tokens(state, "input", store))
        record.outputs.update(_value_tokens(state, "output", store))
        record.outputs.update(_value_tokens(state, "failureDetails", store))
        if state.HasField("parentInstanceId") and state.parentInstanceId.value:
            record.parent = state.parentInstanceId.value
    elif state is not None:
        record.tokens.update(dict.fromkeys(_tokens(state, store)))
    history = list(events)
    answered = {
        event.entityOperationCompleted.requestId
        for event in history
        if event.HasField("entityOperationCompleted")
    } | {
        event.entityOperationFailed.requestId for event in history if event.HasField("entityOperationFailed")
    }
    for event in history:
        record.tokens.update(dict.fromkeys(_tokens(event, store)))
        _classify(record, event, answered, store)
    return record


def _classify(
    record: InstanceRecord, event: pb.HistoryEvent, answered: set[str], store: PayloadStore
) -> None:
    kind = event.WhichOneof("eventType")
    if kind == "executionStarted":
        started = event.executionStarted
        record.inputs.update(_value_tokens(started, "input", store))
        parent = started.parentInstance.orchestrationInstance.instanceId
        if started.HasField("parentInstance") and parent:
            record.parent = parent
    elif kind == "subOrchestrationInstanceCreated":
        created = event.subOrchestrationInstanceCreated
        record.inputs.update(_value_tokens(created, "input", store))
        if created.instanceId:
            record.children.append(created.instanceId)
    elif kind == "continueAsNew":
        record.inputs.update(_value_tokens(event.continueAsNew, "input", store))
    elif kind in ("executionCompleted", "executionTerminated"):
        record.outputs.update(_tokens(getattr(event, kind), store))
    elif kind == "eventSent":
        sent = event.eventSent
        for token in _value_tokens(sent, "input", store):
            record.deliveries.append(Delivery(sent.instanceId, token, "event"))
    elif kind == "entityOperationSignaled":
        signal = event.entityOperationSignaled
        for token in _value_tokens(signal, "input", store):
            record.deliveries.append(Delivery(signal.targetInstanceId.value, token, "signal"))
    elif kind == "entityOperationCalled":
        call = event.entityOperationCalled
        for token in _value_tokens(call, "input", store):
            record.deliveries.append(
                Delivery(call.targetInstanceId.value, token, "call", answered=call.requestId in answered)
            )


def read_history(stub: Any, instance_id: str, metadata: _Metadata = ()) -> list[pb.HistoryEvent]:
    """Return an instance's history as *stub*'s channel delivers it.

    A backend without history streaming (or any failure of the stream) gives an
    empty history: callers then go by the instance's state alone. Purge and gc
    do not use this: they must tell a missing history from an unreadable one.
    """
    request = pb.StreamInstanceHistoryRequest(instanceId=instance_id)
    try:
        return [
            event
            for chunk in stub.StreamInstanceHistory(request, metadata=metadata)
            for event in chunk.events
        ]
    except grpc.RpcError:
        return []


async def read_history_async(stub: Any, instance_id: str, metadata: _Metadata = ()) -> list[pb.HistoryEvent]:
    """Async twin of :func:`read_history`, for a ``grpc.aio`` stub."""
    request = pb.StreamInstanceHistoryRequest(instanceId=instance_id)
    try:
        return [
            event
            async for chunk in stub.StreamInstanceHistory(request, metadata=metadata)
            for event in chunk.events
        ]
    except grpc.RpcError:
        return []


def with_payloads(result: PurgeInstancesResult, deleted: int, kept: int) -> PayloadPurgeResult:
    """Return *result* extended with payload counts."""
    return PayloadPurgeResult(
        deleted_instance_count=result.deleted_instance_count,
        is_complete=result.is_complete,
        deleted_payload_count=deleted,
        kept_payload_count=kept,
    )
