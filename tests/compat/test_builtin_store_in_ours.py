"""durabletask's own built-in Blob store given to this package's worker and client (the reverse pairing)."""

from __future__ import annotations

import json
import uuid

import pytest
from durabletask import client as dt_client
from durabletask.extensions.azure_blob_payloads import BlobPayloadStore as BuiltInStore
from durabletask.extensions.azure_blob_payloads import BlobPayloadStoreOptions as BuiltInOptions
from durabletask.testing import create_test_backend

from durabletask_payloads import TaskHubGrpcClient, TaskHubGrpcWorker

from ..e2e import workflows as wf
from ..helpers import free_port, orders
from ..services import Azurite

pytestmark = pytest.mark.e2e


@pytest.fixture
def builtin_store(azurite: Azurite) -> BuiltInStore:
    return BuiltInStore(
        BuiltInOptions(
            connection_string=azurite.connection_string,
            container_name=f"builtin-{uuid.uuid4().hex[:8]}",
            threshold_bytes=1024,
        )
    )


def test_our_worker_and_client_take_durabletasks_own_store(builtin_store: BuiltInStore) -> None:
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    worker = TaskHubGrpcWorker(host_address=address, payload_store=builtin_store)
    wf.register(worker)
    worker.start()
    try:
        value = orders(40, seed=11)
        with TaskHubGrpcClient(host_address=address, payload_store=builtin_store) as client:
            assert client.payload_store is builtin_store
            instance_id = client.schedule_new_orchestration(wf.call_echo, input=value)
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
        assert json.loads(state.serialized_output or "null")["echo"] == value
        with dt_client.TaskHubGrpcClient(host_address=address) as raw:
            held = raw.get_orchestration_state(instance_id)
        assert held is not None and builtin_store.is_known_token(held.serialized_input or "")
    finally:
        worker.stop()
        backend.stop(grace=None)
