"""durabletask's in-memory backend, carrying trace context between work items as production backends do.

``durabletask.testing``'s backend drops the W3C trace context that durabletask
sends with each new orchestration and each scheduled task, so on it every
orchestration and activity span is the root of a trace of its own. The
Durable Task Scheduler and the sidecar keep that context and hand it back with
the work items; this subclass does the same, through the service's own
messages only, so that the demo prints one connected trace:

* ``StartInstance`` and ``createSubOrchestration`` actions: the context becomes
  the new instance's ``executionStarted.parentTraceContext``;
* ``scheduleTask`` actions: the context goes with the activity's work item and
  with its ``taskScheduled`` history event;
* the orchestration's own span id and start time (``orchestrationTraceContext``)
  come back with each later dispatch;
* ``taskScheduled`` and ``taskCompleted`` events carry the time they happened
  (this backend leaves them at zero), from which durabletask draws the
  activity's client span.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.testing import InMemoryOrchestrationBackend


class TracePropagatingBackend(InMemoryOrchestrationBackend):
    """An in-memory backend that hands back the trace context it was sent (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trace_lock = threading.Lock()
        self._started: dict[str, pb.TraceContext] = {}  # instance id -> its creator's context
        self._tasks: dict[tuple[str, int], pb.TraceContext] = {}  # (instance id, task id) -> context
        self._orchestrations: dict[str, pb.OrchestrationTraceContext] = {}
        self._times: dict[tuple[str, str, int], int] = {}  # (event, instance id, task id) -> ns

    # The gRPC service's own method names.
    def StartInstance(self, request: pb.CreateInstanceRequest, context: Any) -> Any:  # noqa: N802
        response = super().StartInstance(request, context)
        if request.parentTraceContext.traceParent:
            with self._trace_lock:
                self._started[response.instanceId] = _copy(request.parentTraceContext)
        return response

    def CompleteOrchestratorTask(self, request: pb.OrchestratorResponse, context: Any) -> Any:  # noqa: N802
        with self._trace_lock:
            if request.HasField("orchestrationTraceContext"):
                self._orchestrations[request.instanceId] = _copy(request.orchestrationTraceContext)
            for action in request.actions:
                if action.HasField("scheduleTask"):
                    self._times[("taskScheduled", request.instanceId, action.id)] = time.time_ns()
                if action.HasField("scheduleTask") and action.scheduleTask.parentTraceContext.traceParent:
                    key = (request.instanceId, action.id)
                    self._tasks[key] = _copy(action.scheduleTask.parentTraceContext)
                elif action.HasField("createSubOrchestration"):
                    created = action.createSubOrchestration
                    if created.parentTraceContext.traceParent:
                        self._started[created.instanceId] = _copy(created.parentTraceContext)
        return super().CompleteOrchestratorTask(request, context)

    def CompleteActivityTask(self, request: pb.ActivityResponse, context: Any) -> Any:  # noqa: N802
        with self._trace_lock:
            self._times[("taskCompleted", request.instanceId, request.taskId)] = time.time_ns()
        return super().CompleteActivityTask(request, context)

    def GetWorkItems(self, request: pb.GetWorkItemsRequest, context: Any) -> Any:  # noqa: N802
        items = super().GetWorkItems(request, context)
        try:
            for item in items:
                with self._trace_lock:
                    self._fill(item)
                yield item
        finally:
            items.close()  # the worker went away: end the backend's own stream now

    def _fill(self, item: pb.WorkItem) -> None:
        if item.HasField("activityRequest"):
            activity = item.activityRequest
            carried = self._tasks.get((activity.orchestrationInstance.instanceId, activity.taskId))
            if carried is not None:
                activity.parentTraceContext.CopyFrom(carried)
        elif item.HasField("orchestratorRequest"):
            orchestration = item.orchestratorRequest
            instance_id = orchestration.instanceId
            if instance_id in self._orchestrations:
                orchestration.orchestrationTraceContext.CopyFrom(self._orchestrations[instance_id])
            for event in (*orchestration.pastEvents, *orchestration.newEvents):
                if event.HasField("executionStarted") and instance_id in self._started:
                    event.executionStarted.parentTraceContext.CopyFrom(self._started[instance_id])
                elif event.HasField("taskScheduled"):
                    carried = self._tasks.get((instance_id, event.eventId))
                    if carried is not None:
                        event.taskScheduled.parentTraceContext.CopyFrom(carried)
                    self._stamp(event, ("taskScheduled", instance_id, event.eventId))
                elif event.HasField("taskCompleted"):
                    self._stamp(event, ("taskCompleted", instance_id, event.taskCompleted.taskScheduledId))

    def _stamp(self, event: pb.HistoryEvent, key: tuple[str, str, int]) -> None:
        if key in self._times and not event.timestamp.seconds and not event.timestamp.nanos:
            event.timestamp.FromNanoseconds(self._times[key])


def _copy(message: Any) -> Any:
    duplicate = type(message)()
    duplicate.CopyFrom(message)
    return duplicate


def start_backend(port: int) -> TracePropagatingBackend:
    """Start a trace-propagating in-memory backend on *port* (as ``create_test_backend`` does)."""
    backend = TracePropagatingBackend(port=port)
    backend.start()
    return backend
