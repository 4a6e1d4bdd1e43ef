"""Azurite stopped in the middle of 20 orchestrations with large payloads and started again 5 s later."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from durabletask import client as dt_client

from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import start_env, stop_env
from ..helpers import orders
from ..services import Azurite, ServiceError

pytestmark = [pytest.mark.azurite, pytest.mark.e2e]

OUTAGE_SECONDS = 5


@pytest.fixture
def own_azurite(azurite: Azurite, tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite of this test's own, since the test stops it (requires the installed one)."""
    server = Azurite(tmp_path)
    try:
        server.start()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def test_every_orchestration_completes_across_an_outage(own_azurite: Azurite, own_backend: Backend) -> None:
    store = BlobPayloadStore(
        BlobPayloadStoreOptions(
            connection_string=own_azurite.connection_string, container_name="outage", threshold_bytes=1024
        )
    )
    env = start_env("outage", store, own_backend.address)
    try:
        inputs = {f"outage-{uuid.uuid4().hex[:8]}-{i}": orders(40, seed=500 + i) for i in range(20)}
        for instance_id, value in inputs.items():
            env.client.schedule_new_orchestration(wf.wait_then_echo, input=value, instance_id=instance_id)
        for instance_id in inputs:
            env.client.wait_for_orchestration_start(instance_id, timeout=30)
        own_azurite.stop()
        # Every orchestration now needs storage (its activity input is large) while there is none.
        with dt_client.TaskHubGrpcClient(host_address=own_backend.address) as plain:
            for instance_id in inputs:
                plain.raise_orchestration_event(instance_id, "go", data=1)
        time.sleep(OUTAGE_SECONDS)  # the fault itself: storage is down for five seconds
        own_azurite.start()
        for instance_id, value in inputs.items():
            state = env.wait(instance_id, timeout=120)
            failure = state.failure_details
            assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, (instance_id, failure)
            output = json.loads(state.serialized_output or "null")
            assert output == {"activity_saw": wf.digest({"again": value}), "same_echo": True}
    finally:
        stop_env(env)
        store.close()
