"""End-to-end harness: a worker and clients per store kind, on the session's in-memory backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from durabletask import client as dt_client
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from durabletask_payloads import (
    LargePayloadStorageOptions,
    PayloadInterceptor,
    PayloadStore,
    TaskHubGrpcClient,
    TaskHubGrpcWorker,
)

from ..conftest import STORE_KINDS, Backend, make_store
from ..helpers import CountingStore
from .workflows import register

THRESHOLD = 1024
SCENARIO_OPTIONS = LargePayloadStorageOptions(threshold_bytes=THRESHOLD)


@dataclass
class Env:
    """A running worker with its store, a client with the same store, and views without it."""

    kind: str
    store: CountingStore
    worker: TaskHubGrpcWorker
    client: TaskHubGrpcClient
    raw: dt_client.TaskHubGrpcClient  # no payload store: sees what the backend holds
    stub: Any  # protobuf-level access through a payload interceptor
    raw_stub: Any  # protobuf-level access without one
    address: str

    def start(self, orchestrator: Any, value: Any = None, **kwargs: Any) -> str:
        instance_id = kwargs.pop("instance_id", None) or f"{self.kind}-{uuid.uuid4().hex}"
        return self.client.schedule_new_orchestration(
            orchestrator, input=value, instance_id=instance_id, **kwargs
        )

    def wait(self, instance_id: str, timeout: float = 60) -> dt_client.OrchestrationState:
        state = self.client.wait_for_orchestration_completion(instance_id, timeout=timeout)
        assert state is not None
        return state

    def run(self, orchestrator: Any, value: Any = None, **kwargs: Any) -> dt_client.OrchestrationState:
        return self.wait(self.start(orchestrator, value, **kwargs))

    def history(self, instance_id: str, *, resolve: bool = True) -> list[pb.HistoryEvent]:
        """The instance's history as protobuf events, with payloads resolved or as the backend holds them."""
        stub = self.stub if resolve else self.raw_stub
        events: list[pb.HistoryEvent] = []
        for chunk in stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=instance_id)):
            events.extend(chunk.events)
        return events

    def is_token(self, value: str | None) -> bool:
        return value is not None and self.store.is_known_token(value)


def start_env(
    kind: str, store: PayloadStore, address: str, register_with: Callable[[Any], None] = register
) -> Env:
    counting = CountingStore(store)
    worker = TaskHubGrpcWorker(host_address=address, payload_store=counting)
    register_with(worker)
    worker.start()
    channel = grpc.intercept_channel(grpc.insecure_channel(address), PayloadInterceptor(counting))
    return Env(
        kind=kind,
        store=counting,
        worker=worker,
        client=TaskHubGrpcClient(host_address=address, payload_store=counting),
        raw=dt_client.TaskHubGrpcClient(host_address=address),
        stub=stubs.TaskHubSidecarServiceStub(channel),
        raw_stub=stubs.TaskHubSidecarServiceStub(grpc.insecure_channel(address)),
        address=address,
    )


def stop_env(env: Env) -> None:
    env.worker.stop()
    env.client.close()
    env.raw.close()


@pytest.fixture(scope="session", params=STORE_KINDS)
def env(
    request: pytest.FixtureRequest, backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """A worker with every workflow registered, for each store kind."""
    kind = request.param
    store = make_store(kind, request, tmp_path_factory.mktemp(kind), SCENARIO_OPTIONS)
    running = start_env(kind, store, backend.address)
    yield running
    stop_env(running)
    store.close()
