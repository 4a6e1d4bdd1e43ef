"""Which ``StringValue`` fields of the Durable Task protocol carry payloads; no I/O here.

A field *carries a payload* when the SDKs put serialized data there (the
data converter's JSON: inputs, results, outputs, custom status, event data,
entity state). Those fields are externalized on the way out and resolved on
the way in. Every other ``StringValue`` field holds a caller's own text, sent
as it was given: an orchestration version, a name, an instance or execution
id, a suspend or resume reason, a paging cursor, a trace id, a stack trace.
Such a field is never externalized and never resolved: if a caller writes the
token of another instance's payload into it (``version=<token>``), it stays
that string, and no reader of the history ever sees the payload behind it.

Only JSON fields can be trusted with tokens because a caller cannot put a bare
token there through an SDK: the data converter quotes a string (``"blob:v1:…"``
with its quotes is data, not a token).

The table lists every ``StringValue`` field of ``orchestrator_service.proto``
in durabletask 1.12 (a test checks it against the installed descriptor). A field
added by a later durabletask is treated as a caller's text until it is listed
here. Messages of other protobuf files (your own, passed to
:func:`~durabletask_payloads.externalize_payloads`) have no table: each of
their ``StringValue`` fields carries a payload.

The .NET SDK (``Microsoft.DurableTask.Extensions.AzureBlobPayloads``) also
externalizes suspend and resume reasons (``SuspendRequest.reason``,
``ResumeRequest.reason``), ``TerminateOrchestrationAction.reason`` and
``CompleteOrchestrationAction.details`` above its threshold (256 KiB by
default), and resolves ``ExecutionSuspendedEvent.input`` and
``ExecutionResumedEvent.input``. This package treats all of them as text: a
reason of 256 KiB or more written by a .NET client shows here as its token
(``durabletask-payloads get TOKEN`` reads it). No orchestration logic reads
these fields, so nothing else changes.
"""

from __future__ import annotations

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf.descriptor import FieldDescriptor

__all__ = ["PAYLOAD_FIELDS", "PROTOCOL_FILE", "TEXT_FIELDS", "carries_payload"]

#: The protobuf file whose fields the tables below describe.
PROTOCOL_FILE: str = pb.DESCRIPTOR.name

#: ``Message.field`` of every StringValue field that carries serialized data.
PAYLOAD_FIELDS: frozenset[str] = frozenset(
    {
        # Client requests, and the state a client reads back.
        "CreateInstanceRequest.input",
        "RaiseEventRequest.input",
        "TerminateRequest.output",
        "SignalEntityRequest.input",
        "OrchestrationState.input",
        "OrchestrationState.output",
        "OrchestrationState.customStatus",
        "EntityMetadata.serializedState",
        # Work items, and what a worker answers.
        "ActivityRequest.input",
        "ActivityResponse.result",
        "OrchestratorResponse.customStatus",
        "EntityBatchRequest.entityState",
        "EntityBatchResult.entityState",
        "EntityRequest.entityState",
        "OperationRequest.input",
        "OperationResultSuccess.result",
        # Orchestrator and entity actions.
        "ScheduleTaskAction.input",
        "CreateSubOrchestrationAction.input",
        "SendEventAction.data",
        "CompleteOrchestrationAction.result",
        "SendSignalAction.input",
        "StartNewOrchestrationAction.input",
        # History events.
        "ExecutionStartedEvent.input",
        "ExecutionCompletedEvent.result",
        "ExecutionTerminatedEvent.input",
        "TaskScheduledEvent.input",
        "TaskCompletedEvent.result",
        "SubOrchestrationInstanceCreatedEvent.input",
        "SubOrchestrationInstanceCompletedEvent.result",
        "EventSentEvent.input",
        "EventRaisedEvent.input",
        "GenericEvent.data",
        "ContinueAsNewEvent.input",
        "EntityOperationSignaledEvent.input",
        "EntityOperationCalledEvent.input",
        "EntityOperationCompletedEvent.output",
        "ExecutionRewoundEvent.input",
    }
)

#: ``Message.field`` of every StringValue field that holds a caller's text, by what it holds.
TEXT_FIELDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ActivityRequest.version",
            "ParentInstanceInfo.version",
            "ExecutionStartedEvent.version",
            "TaskScheduledEvent.version",
            "SubOrchestrationInstanceCreatedEvent.version",
            "ExecutionRewoundEvent.version",
            "ScheduleTaskAction.version",
            "CreateSubOrchestrationAction.version",
            "CompleteOrchestrationAction.newVersion",
            "CreateInstanceRequest.version",
            "OrchestrationState.version",
            "StartNewOrchestrationAction.version",
        ),
        "version",
    ),
    **dict.fromkeys(("ParentInstanceInfo.name", "ExecutionRewoundEvent.name"), "name"),
    **dict.fromkeys(
        (
            "OrchestrationInstance.executionId",
            "EntityOperationSignaledEvent.targetInstanceId",
            "EntityOperationCalledEvent.parentInstanceId",
            "EntityOperationCalledEvent.parentExecutionId",
            "EntityOperationCalledEvent.targetInstanceId",
            "EntityLockRequestedEvent.parentInstanceId",
            "EntityUnlockSentEvent.parentInstanceId",
            "EntityUnlockSentEvent.targetInstanceId",
            "ExecutionRewoundEvent.parentExecutionId",
            "ExecutionRewoundEvent.instanceId",
            "OrchestratorRequest.executionId",
            "CreateInstanceRequest.executionId",
            "OrchestrationState.executionId",
            "OrchestrationState.parentInstanceId",
            "StreamInstanceHistoryRequest.executionId",
            "EntityMetadata.lockedBy",
        ),
        "instance or execution id",
    ),
    **dict.fromkeys(
        (
            "ExecutionSuspendedEvent.input",
            "ExecutionResumedEvent.input",
            "SuspendRequest.reason",
            "ResumeRequest.reason",
            "RewindInstanceRequest.reason",
            "ExecutionRewoundEvent.reason",
            "TerminateOrchestrationAction.reason",
            "SkipGracefulOrchestrationTerminationsRequest.reason",
        ),
        "reason",
    ),
    "CompleteOrchestrationAction.details": "failure details text",
    "TaskFailureDetails.stackTrace": "stack trace",
    **dict.fromkeys(
        (
            "TraceContext.traceState",
            "ExecutionStartedEvent.orchestrationSpanID",
            "OrchestrationTraceContext.spanID",
        ),
        "trace context",
    ),
    **dict.fromkeys(
        (
            "InstanceQuery.taskHubNames",
            "InstanceQuery.instanceIdPrefix",
            "EntityQuery.instanceIdStartsWith",
        ),
        "query filter",
    ),
    **dict.fromkeys(
        (
            "InstanceQuery.continuationToken",
            "QueryInstancesResponse.continuationToken",
            "ListInstanceIdsRequest.lastInstanceKey",
            "ListInstanceIdsResponse.lastInstanceKey",
            "EntityQuery.continuationToken",
            "QueryEntitiesResponse.continuationToken",
            "CleanEntityStorageRequest.continuationToken",
            "CleanEntityStorageResponse.continuationToken",
        ),
        "paging cursor",
    ),
}


def carries_payload(field: FieldDescriptor) -> bool:
    """Return whether a ``StringValue`` field (singular, repeated or map) may hold a token.

    Fields of the Durable Task protocol carry a payload only when listed in
    :data:`PAYLOAD_FIELDS`; fields of any other protobuf file always do.
    """
    message = field.containing_type
    if message is None or message.file.name != PROTOCOL_FILE:
        return True
    return f"{message.full_name}.{field.name}" in PAYLOAD_FIELDS
