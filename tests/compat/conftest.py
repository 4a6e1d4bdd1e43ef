"""Each compatibility test runs twice: under durabletask's own worker and client given OUR store,
and under this package's worker and client. Each runner has a backend of its own, so no other
worker can take its work items."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from durabletask import client as dt_client
from durabletask import worker as dt_worker
from durabletask.testing import create_test_backend

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    TaskHubGrpcClient,
    TaskHubGrpcWorker,
)

from ..helpers import free_port
from ..services import Azurite
from .workflows import register

#: Upstream's e2e tests use a 1 KiB threshold so that kilobytes are "large".
THRESHOLD = 1024
RUNNERS = ["durabletask-worker-and-client", "durabletask-payloads-worker-and-client"]


@dataclass
class Harness:
    """A running worker and a client of one runner, our Azure store, and views around them."""

    runner: str
    store: BlobPayloadStore
    client: Any
    raw: dt_client.TaskHubGrpcClient  # no payload store: what the backend holds
    service: BlobServiceClient

    @property
    def container(self) -> ContainerClient:
        return self.service.get_container_client(self.store.options.container_name)

    def blob_names(self) -> set[str]:
        container = self.container
        return {blob.name for blob in container.list_blobs()} if container.exists() else set()

    def wait(self, instance_id: str) -> dt_client.OrchestrationState:
        state = self.client.wait_for_orchestration_completion(instance_id, timeout=60)
        assert state is not None
        return state

    def stored_input(self, instance_id: str) -> str | None:
        state = self.raw.get_orchestration_state(instance_id)
        assert state is not None
        return state.serialized_input


def compat_store(azurite: Azurite) -> BlobPayloadStore:
    return BlobPayloadStore(
        BlobPayloadStoreOptions(
            connection_string=azurite.connection_string,
            container_name=f"compat-{uuid.uuid4().hex[:12]}",
            threshold_bytes=THRESHOLD,
        )
    )


@pytest.fixture(scope="module", params=RUNNERS)
def harness(request: pytest.FixtureRequest, azurite: Azurite) -> Iterator[Harness]:
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    store = compat_store(azurite)
    if request.param.startswith("durabletask-worker"):
        worker: Any = dt_worker.TaskHubGrpcWorker(host_address=address, payload_store=store)
        client: Any = dt_client.TaskHubGrpcClient(host_address=address, payload_store=store)
    else:
        worker = TaskHubGrpcWorker(host_address=address, payload_store=store)
        client = TaskHubGrpcClient(host_address=address, payload_store=store)
    register(worker)
    worker.start()
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    raw = dt_client.TaskHubGrpcClient(host_address=address)
    yield Harness(request.param, store, client, raw, service)
    worker.stop()
    client.close()
    raw.close()
    service.close()
    store.close()
    backend.stop(grace=None)
