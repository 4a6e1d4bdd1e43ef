"""What the interceptors do to each ``TaskHubSidecarService`` message, without I/O.

The sync and async interceptors share these rules and differ only in how they
call the store:

* Every request is externalized and every response (each message of a stream
  too) is resolved.
* A client call whose payload cannot be stored raises to the caller before
  anything is sent.
* A worker's completion whose payload cannot be stored is replaced by a
  non-retriable failure: the activity fails, the orchestration completes as
  FAILED, each entity operation fails with the entity state left as it was.
* A work item whose token cannot be resolved is rewritten so that the worker
  runs no user code (its orchestrator, activity or entity name is replaced by
  one nobody registers and its payloads are dropped); the worker's answer is
  then replaced by a non-retriable failure naming the token. The worker never
  sees the item fail, so it keeps serving other work, and the backend never
  redelivers it forever.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from ._exceptions import PayloadError

__all__ = ["UNRESOLVED_NAME", "Hooks", "SendPlan", "method_name"]

_log = logging.getLogger("durabletask_payloads.interceptors")

SERVICE = pb.DESCRIPTOR.services_by_name["TaskHubSidecarService"]
_PATH_PREFIX = f"/{SERVICE.full_name}/"

WORK_ITEMS = "GetWorkItems"
_COMPLETE_ACTIVITY = "CompleteActivityTask"
_COMPLETE_ORCHESTRATION = "CompleteOrchestratorTask"
_COMPLETE_ENTITY = "CompleteEntityTask"
_COMPLETIONS = frozenset({_COMPLETE_ACTIVITY, _COMPLETE_ORCHESTRATION, _COMPLETE_ENTITY})
_ABANDONS = {
    "AbandonTaskActivityWorkItem": "activity",
    "AbandonTaskOrchestratorWorkItem": "orchestration",
    "AbandonTaskEntityWorkItem": "entity",
}

#: The orchestrator, activity and entity name given to a work item that cannot be resolved.
UNRESOLVED_NAME = "durabletask_payloads.unresolvable_payload"

# Work items in flight that the hooks must remember until the worker answers.
_LEDGER_CAPACITY = 65_536


#: gRPC metadata that makes the interceptors pass a call through untouched (used to read
#: tokens as the backend holds them, e.g. before a purge).
RAW_CALL = ("x-durabletask-payloads", "raw")


def method_name(path: str | bytes, metadata: Any = None) -> str | None:
    """Return the method name of a ``TaskHubSidecarService`` call to process, or None to pass it through.

    Calls to other services, and calls carrying :data:`RAW_CALL` metadata, pass through.
    """
    text = path.decode() if isinstance(path, bytes) else path
    if not text.startswith(_PATH_PREFIX):
        return None
    if metadata and any(tuple(item) == RAW_CALL for item in metadata):
        return None
    return text[len(_PATH_PREFIX) :]


def scope_of(message: Message) -> str | None:
    """Return the instance a message is written for: its ``instanceId`` or ``orchestrationInstance``."""
    fields = message.DESCRIPTOR.fields_by_name
    if "instanceId" in fields and fields["instanceId"].message_type is None:
        value = getattr(message, "instanceId")  # noqa: B009 - the field is known only by name
        if value:
            return str(value)
    if "orchestrationInstance" in fields and message.HasField("orchestrationInstance"):
        value = getattr(message, "orchestrationInstance").instanceId  # noqa: B009
        if value:
            return str(value)
    return None


def as_payload_error(exc: BaseException, operation: str) -> PayloadError:
    """Return *exc* if it is a PayloadError, else a PayloadError describing it (never its arguments)."""
    if isinstance(exc, PayloadError):
        return exc
    # The exception's own text could quote payload data: only its type is kept.
    return PayloadError(
        f"Unexpected {type(exc).__name__} during payload {operation}; the worker log has the traceback."
    )


def failure_details(error: PayloadError) -> pb.TaskFailureDetails:
    """Failure details for an orchestration history: our error type, its message, non-retriable."""
    return pb.TaskFailureDetails(
        errorType=f"durabletask_payloads.{type(error).__name__}",
        errorMessage=str(error),
        isNonRetriable=True,
    )


@dataclass
class _Entry:
    """A work item the hooks must remember until the worker completes it."""

    instance_id: str | None
    failure: PayloadError | None = None
    entity_state: str | None = None  # as it arrived: a token or a small inline value


@dataclass
class SendPlan:
    """What to do with an outgoing request.

    Attributes:
        replacement: Send this instead, and do nothing else.
        externalize: Externalize the request's payloads first.
        scope: The instance the payloads belong to.
        completion: The request completes a work item: a failure to store its
            payloads must become a failed result (see :meth:`Hooks.failed_completion`).
        entry: What was remembered about the work item being completed.

    """

    replacement: Message | None = None
    externalize: bool = False
    scope: str | None = None
    completion: str | None = None
    entry: _Entry | None = None


def _key_of_item(item: pb.WorkItem) -> tuple[Any, ...] | None:
    kind = item.WhichOneof("request")
    token = item.completionToken
    if kind == "activityRequest":
        req = item.activityRequest
        return ("activity", token, req.orchestrationInstance.instanceId, req.taskId)
    if kind == "orchestratorRequest":
        return ("orchestration", token, item.orchestratorRequest.instanceId)
    if kind in ("entityRequest", "entityRequestV2"):
        return ("entity", token)
    return None


def _key_of_completion(method: str, request: Any) -> tuple[Any, ...]:
    if method == _COMPLETE_ACTIVITY:
        return ("activity", request.completionToken, request.instanceId, request.taskId)
    if method == _COMPLETE_ORCHESTRATION:
        return ("orchestration", request.completionToken, request.instanceId)
    return ("entity", request.completionToken)


class Hooks:
    """The interceptors' decisions and their memory of in-flight work items (thread-safe)."""

    def __init__(self) -> None:
        self._ledger: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _remember(self, key: tuple[Any, ...], entry: _Entry) -> None:
        with self._lock:
            self._ledger[key] = entry
            self._ledger.move_to_end(key)
            while len(self._ledger) > _LEDGER_CAPACITY:
                self._ledger.popitem(last=False)

    # -- outgoing ---------------------------------------------------------------------

    def plan_send(self, method: str, request: Any) -> SendPlan:
        """Decide what happens to an outgoing request of *method*."""
        if method == WORK_ITEMS:
            if pb.WORKER_CAPABILITY_LARGE_PAYLOADS not in request.capabilities:
                request.capabilities.append(pb.WORKER_CAPABILITY_LARGE_PAYLOADS)
            return SendPlan()
        abandoned = _ABANDONS.get(method)
        if abandoned is not None:
            with self._lock:
                for key in [k for k in self._ledger if k[0] == abandoned and k[1] == request.completionToken]:
                    del self._ledger[key]
            return SendPlan()
        if method not in _COMPLETIONS:
            return SendPlan(externalize=True, scope=scope_of(request))
        with self._lock:
            entry = self._ledger.pop(_key_of_completion(method, request), None)
        if entry is not None and entry.failure is not None:
            return SendPlan(replacement=self.failed_completion(method, request, entry, entry.failure))
        scope = entry.instance_id if entry is not None else scope_of(request)
        return SendPlan(externalize=True, scope=scope, completion=method, entry=entry)

    def failed_completion(
        self, method: str, request: Any, entry: _Entry | None, error: BaseException
    ) -> Message:
        """Replace a worker's completion by a non-retriable failure carrying *error*."""
        payload_error = as_payload_error(error, "upload")
        if payload_error is not error:
            _log.error("Unexpected error while storing the payloads of %s", method, exc_info=error)
        details = failure_details(payload_error)
        _log.warning("%s fails for instance %r: %s", method, scope_of(request), payload_error)
        if method == _COMPLETE_ACTIVITY:
            return pb.ActivityResponse(
                instanceId=request.instanceId,
                taskId=request.taskId,
                completionToken=request.completionToken,
                failureDetails=details,
            )
        if method == _COMPLETE_ORCHESTRATION:
            response = pb.OrchestratorResponse(
                instanceId=request.instanceId,
                completionToken=request.completionToken,
            )
            if request.HasField("orchestrationTraceContext"):
                response.orchestrationTraceContext.CopyFrom(request.orchestrationTraceContext)
            response.actions.add(
                id=-1,
                completeOrchestration=pb.CompleteOrchestrationAction(
                    orchestrationStatus=pb.ORCHESTRATION_STATUS_FAILED, failureDetails=details
                ),
            )
            return response
        result = pb.EntityBatchResult(completionToken=request.completionToken)
        result.operationInfos.extend(request.operationInfos)
        for _ in request.results:
            result.results.add(failure=pb.OperationResultFailure(failureDetails=details))
        if entry is None:
            # The state before the batch is unknown: fail the batch as a whole
            # rather than overwrite the entity's state with nothing.
            result.failureDetails.CopyFrom(details)
        elif entry.entity_state is not None:
            result.entityState.value = entry.entity_state
        return result

    # -- incoming ---------------------------------------------------------------------

    def admit(self, item: pb.WorkItem) -> None:
        """Remember what a completion will need before the work item's tokens are resolved."""
        kind = item.WhichOneof("request")
        if kind not in ("entityRequest", "entityRequestV2"):
            return
        request = getattr(item, kind)
        state = request.entityState.value if request.HasField("entityState") else None
        key = _key_of_item(item)
        assert key is not None
        self._remember(key, _Entry(instance_id=request.instanceId or None, entity_state=state))

    def poison(self, item: pb.WorkItem, error: BaseException) -> None:
        """Rewrite an unresolvable work item so the worker runs no user code, and remember why."""
        payload_error = as_payload_error(error, "download")
        if payload_error is not error:
            _log.error("Unexpected error while resolving a work item", exc_info=error)
        key = _key_of_item(item)
        if key is None:
            return
        kind = item.WhichOneof("request")
        with self._lock:
            entry = self._ledger.get(key) or _Entry(instance_id=None)
        entry.failure = payload_error
        if kind == "activityRequest":
            request = item.activityRequest
            entry.instance_id = request.orchestrationInstance.instanceId or None
            request.name = UNRESOLVED_NAME
            request.ClearField("input")
        elif kind == "orchestratorRequest":
            entry.instance_id = item.orchestratorRequest.instanceId or None
            _replace_history(item.orchestratorRequest)
        else:
            _neutralise_entity(getattr(item, kind))
        _log.warning(
            "Work item for instance %r cannot be resolved and will fail: %s", entry.instance_id, payload_error
        )
        self._remember(key, entry)


def _replace_history(request: pb.OrchestratorRequest) -> None:
    """Give the worker a one-step history that starts an orchestrator nobody registers."""
    original: pb.ExecutionStartedEvent | None = None
    timestamp = timestamp_pb2.Timestamp()
    events = [*request.pastEvents, *request.newEvents]
    if events:
        timestamp.CopyFrom(events[0].timestamp)
    for event in events:
        if event.HasField("executionStarted"):
            original = event.executionStarted
            break
    started = pb.ExecutionStartedEvent(name=UNRESOLVED_NAME)
    if original is not None:
        # Same version and instance, so versioning rules treat it like the original.
        if original.HasField("version"):
            started.version.CopyFrom(original.version)
        started.orchestrationInstance.CopyFrom(original.orchestrationInstance)
    else:
        started.orchestrationInstance.instanceId = request.instanceId
    request.ClearField("pastEvents")
    request.ClearField("newEvents")
    request.requiresHistoryStreaming = False
    request.newEvents.add(eventId=-1, timestamp=timestamp, orchestratorStarted=pb.OrchestratorStartedEvent())
    request.newEvents.add(eventId=-1, timestamp=timestamp, executionStarted=started)


def _neutralise_entity(request: pb.EntityBatchRequest | pb.EntityRequest) -> None:
    """Point an entity batch at an entity nobody registers, without its state or inputs."""
    _, _, key = request.instanceId.partition("@")[2].partition("@")
    request.instanceId = f"@{UNRESOLVED_NAME}@{key}"
    request.ClearField("entityState")
    if isinstance(request, pb.EntityBatchRequest):
        for operation in request.operations:
            operation.ClearField("input")
        return
    for event in request.operationRequests:
        for name in ("entityOperationSignaled", "entityOperationCalled"):
            if event.HasField(name):
                getattr(event, name).ClearField("input")
