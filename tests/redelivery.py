"""durabletask's in-memory backend, plus what real backends do when a worker dies.

A real backend leases a work item to a worker and gives it to another when the
lease runs out; the in-memory backend does not (a work item sent to a worker
that dies is lost). This subclass redelivers a stream's unfinished work items
as soon as that worker's stream ends, which is what a lease expiry amounts to.
Everything else is the stock backend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.testing.in_memory_backend import ActivityWorkItem, InMemoryOrchestrationBackend


def _key(item: pb.WorkItem) -> tuple[Any, ...] | None:
    kind = item.WhichOneof("request")
    if kind == "activityRequest":
        return (
            "activity",
            item.activityRequest.orchestrationInstance.instanceId,
            item.activityRequest.taskId,
        )
    if kind == "orchestratorRequest":
        return ("orchestration", item.orchestratorRequest.instanceId)
    if kind == "entityRequestV2":
        return ("entity", item.entityRequestV2.instanceId)
    return None


class RedeliveringBackend(InMemoryOrchestrationBackend):
    """Gives a dead worker's unfinished work items to the next worker."""

    def __init__(self, port: int) -> None:
        super().__init__(port=port)
        self._leases: dict[tuple[Any, ...], pb.WorkItem] = {}
        self._leases_lock = threading.Lock()
        self.redelivered: list[tuple[Any, ...]] = []

    def GetWorkItems(
        self, request: pb.GetWorkItemsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WorkItem]:
        mine: list[tuple[Any, ...]] = []
        try:
            for item in super().GetWorkItems(request, context):
                key = _key(item)
                if key is not None:
                    with self._leases_lock:
                        self._leases[key] = item
                    mine.append(key)
                yield item
        finally:
            for key in mine:
                with self._leases_lock:
                    item = self._leases.pop(key, None)
                if item is not None:
                    self._redeliver(key, item, context)

    def _redeliver(self, key: tuple[Any, ...], item: pb.WorkItem, context: grpc.ServicerContext) -> None:
        self.redelivered.append(key)
        kind = item.WhichOneof("request")
        if kind == "orchestratorRequest":
            self.AbandonTaskOrchestratorWorkItem(
                pb.AbandonOrchestrationTaskRequest(completionToken=item.completionToken), context
            )
        elif kind == "entityRequestV2":
            self.AbandonTaskEntityWorkItem(
                pb.AbandonEntityTaskRequest(completionToken=item.completionToken), context
            )
        else:
            activity = item.activityRequest
            with self._lock:
                self._activity_queue.append(
                    ActivityWorkItem(
                        instance_id=activity.orchestrationInstance.instanceId,
                        name=activity.name,
                        task_id=activity.taskId,
                        input=activity.input.value if activity.HasField("input") else None,
                        completion_token=int(item.completionToken or 0),
                    )
                )
            self._work_available.set()

    def _complete(self, key: tuple[Any, ...]) -> None:
        with self._leases_lock:
            self._leases.pop(key, None)

    def CompleteActivityTask(self, request: pb.ActivityResponse, context: grpc.ServicerContext) -> Any:
        self._complete(("activity", request.instanceId, request.taskId))
        return super().CompleteActivityTask(request, context)

    def CompleteOrchestratorTask(
        self, request: pb.OrchestratorResponse, context: grpc.ServicerContext
    ) -> Any:
        self._complete(("orchestration", request.instanceId))
        return super().CompleteOrchestratorTask(request, context)


def start_redelivering_backend(port: int) -> RedeliveringBackend:
    backend = RedeliveringBackend(port)
    backend.start()
    return backend
