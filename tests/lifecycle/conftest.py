"""A fresh backend per test, a store location per store kind, and workers that come and go."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from durabletask import client as dt_client
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from durabletask.testing import create_test_backend

from durabletask_payloads import (
    BlobPayloadStoreOptions,
    FileSystemPayloadStore,
    LargePayloadStorageOptions,
    PayloadNotFoundError,
    PayloadStore,
    TaskHubGrpcClient,
    TaskHubGrpcWorker,
    payload_tokens,
)

from ..conftest import Backend
from ..helpers import free_port

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)
COMPLETED = dt_client.OrchestrationStatus.COMPLETED


class CountingInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    """Counts the calls made on a channel, by method name."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count(self, details: grpc.ClientCallDetails) -> None:
        name = str(details.method).rsplit("/", 1)[-1]
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def intercept_unary_unary(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        self._count(details)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation: Any, details: grpc.ClientCallDetails, request: Any) -> Any:
        self._count(details)
        return continuation(details, request)


@dataclass
class Site:
    """One backend and one store location, seen through as many store objects as a test wants."""

    kind: str
    address: str
    open_store: Callable[[], PayloadStore]
    spec: str  # the --store spec of the same location
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def store(self) -> PayloadStore:
        """A new store object on the location: what another process would open (no cache)."""
        store = self.open_store()
        self._closers.append(store.close)
        return store

    def worker(
        self,
        *,
        orchestrators: tuple[Any, ...] = (),
        activities: tuple[Any, ...] = (),
        entities: tuple[Any, ...] = (),
    ) -> TaskHubGrpcWorker:
        """A started worker with a new store, taking only the work it registers."""
        worker = TaskHubGrpcWorker(host_address=self.address, payload_store=self.store())
        for orchestrator in orchestrators:
            worker.add_orchestrator(orchestrator)
        for activity in activities:
            worker.add_activity(activity)
        for entity in entities:
            worker.add_entity(entity)
        worker.use_work_item_filters()
        worker.start()
        self._closers.insert(0, worker.stop)
        return worker

    def client(self, **kwargs: Any) -> TaskHubGrpcClient:
        """A client of this package with a new store."""
        client = TaskHubGrpcClient(host_address=self.address, payload_store=self.store(), **kwargs)
        self._closers.insert(0, client.close)
        return client

    def plain(self) -> dt_client.TaskHubGrpcClient:
        """durabletask's own client: purging with it leaves the payloads."""
        client = dt_client.TaskHubGrpcClient(host_address=self.address)
        self._closers.insert(0, client.close)
        return client

    def raw_stub(self) -> Any:
        """A stub without the payload interceptor: the backend's view, tokens and all."""
        channel = grpc.insecure_channel(self.address)
        self._closers.append(channel.close)
        return stubs.TaskHubSidecarServiceStub(channel)  # type: ignore[no-untyped-call]

    def history(self, instance_id: str) -> list[pb.HistoryEvent]:
        request = pb.StreamInstanceHistoryRequest(instanceId=instance_id)
        return [event for chunk in self.raw_stub().StreamInstanceHistory(request) for event in chunk.events]

    def tokens_of(self, instance_id: str) -> set[str]:
        """Every token the backend holds for an instance, in its state and history."""
        store = self.store()
        request = pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
        found = set(payload_tokens(self.raw_stub().GetInstance(request), store))
        for event in self.history(instance_id):
            found.update(payload_tokens(event, store))
        return found

    def child_of(self, parent_id: str) -> str:
        (created,) = [e for e in self.history(parent_id) if e.HasField("subOrchestrationInstanceCreated")]
        return str(created.subOrchestrationInstanceCreated.instanceId)

    def stored(self) -> set[str]:
        return {info.token for info in self.store().list_payloads()}

    def exists(self, token: str) -> bool:
        try:
            self.store().inspect(token)
        except PayloadNotFoundError:
            return False
        return True

    def close(self) -> None:
        for close in self._closers:
            close()


def new_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fresh_backend() -> Iterator[Backend]:
    """An in-memory backend for this test alone: the census sees only its instances."""
    port = free_port()
    server = create_test_backend(port=port)
    yield Backend(server, f"localhost:{port}")
    server.stop(grace=None)


SITE_KINDS = [pytest.param("filesystem"), pytest.param("azure_blob", marks=pytest.mark.azurite)]


def open_site(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, address: str, monkeypatch: pytest.MonkeyPatch
) -> Site:
    if kind == "filesystem":
        root = tmp_path / "payloads"
        return Site(kind, address, lambda: FileSystemPayloadStore(root, OPTIONS), f"file:{root}")
    from durabletask_payloads import BlobPayloadStore

    azurite = request.getfixturevalue("azurite")
    container = f"t-{uuid.uuid4().hex[:20]}"
    options = BlobPayloadStoreOptions(
        connection_string=azurite.connection_string, container_name=container, threshold_bytes=1024
    )
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return Site(kind, address, lambda: BlobPayloadStore(options), f"azure:?container={container}")


@pytest.fixture(params=SITE_KINDS)
def site(
    request: pytest.FixtureRequest, fresh_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    """A fresh backend and a fresh store location (filesystem, and Azure Blob on Azurite)."""
    opened = open_site(request.param, request, tmp_path, fresh_backend.address, monkeypatch)
    yield opened
    opened.close()
