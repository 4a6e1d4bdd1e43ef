"""``TaskHubGrpcWorker`` with ``payload_store=``: durabletask's worker plus the payload interceptor."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc
from durabletask import worker as _worker
from durabletask.internal import orchestrator_service_pb2 as pb
from typing_extensions import Unpack

from . import _telemetry
from ._arguments import WorkerArguments
from ._interceptors import PayloadInterceptor, with_interceptor
from ._store import PayloadStore

__all__ = ["TaskHubGrpcWorker"]


class TaskHubGrpcWorker(_worker.TaskHubGrpcWorker):
    """A drop-in ``durabletask.worker.TaskHubGrpcWorker`` that externalizes large payloads.

    Orchestrators, activities and entities are registered and run exactly as
    with durabletask's worker; every other argument is passed on to it.
    Work items are resolved before user code sees them, and results are
    externalized before they are sent, by a :class:`PayloadInterceptor` on the
    worker's channel. The worker advertises ``WORKER_CAPABILITY_LARGE_PAYLOADS``.

    Args:
        payload_store: Where large payloads go. Without one this is durabletask's
            worker, unchanged.
        interceptors: Your own gRPC interceptors; the payload interceptor is added.
        channel: A channel you own; it is wrapped with the payload interceptor.
        **kwargs: Any other ``durabletask.worker.TaskHubGrpcWorker`` argument.

    """

    def __init__(
        self,
        *,
        payload_store: PayloadStore | None = None,
        interceptors: Sequence[Any] | None = None,
        channel: grpc.Channel | None = None,
        **kwargs: Unpack[WorkerArguments],
    ) -> None:
        self._payload_interceptor = PayloadInterceptor(payload_store) if payload_store is not None else None
        interceptors, channel = with_interceptor(self._payload_interceptor, interceptors, channel)
        super().__init__(interceptors=interceptors, channel=channel, **kwargs)
        if payload_store is not None:
            self.add_capability(pb.WORKER_CAPABILITY_LARGE_PAYLOADS)

    def stop(self) -> None:
        """Stop the worker, and stop waiting out store outages for the work items it holds."""
        super().stop()  # type: ignore[no-untyped-call]
        if self._payload_interceptor is not None:
            self._payload_interceptor.close()

    @property
    def payload_store(self) -> PayloadStore | None:
        """The store large payloads go to, or None."""
        return self._payload_interceptor.store if self._payload_interceptor is not None else None

    # -- telemetry: durabletask sends a work item's result after its span has closed; running the
    # whole work item in the trace context the backend sent with it keeps that upload in the trace.

    def _execute_orchestrator(self, req: pb.OrchestratorRequest, *args: Any, **kwargs: Any) -> None:
        with self._work_item_scope(req):
            super()._execute_orchestrator(req, *args, **kwargs)

    def _execute_activity(self, req: pb.ActivityRequest, *args: Any, **kwargs: Any) -> None:
        with self._work_item_scope(req):
            super()._execute_activity(req, *args, **kwargs)

    def _work_item_scope(self, req: Any) -> AbstractContextManager[None]:
        # Without a payload store this is durabletask's worker, unchanged.
        return _telemetry.work_item_scope(req) if self._payload_interceptor is not None else nullcontext()
