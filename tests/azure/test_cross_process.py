"""Nothing depends on in-process state: another process, with a fresh client and store, reads it all."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from durabletask import client as dt_client

from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import start_env, stop_env
from ..helpers import order_batch_of_size
from ..services import Azurite

pytestmark = pytest.mark.e2e

READER = """
import hashlib, json, sys
from durabletask_payloads import BlobPayloadStore, TaskHubGrpcClient
address, connection_string, container, instance_id = sys.argv[1:5]
store = BlobPayloadStore.from_connection_string(connection_string, container_name=container)
with TaskHubGrpcClient(host_address=address, payload_store=store) as client:
    state = client.get_orchestration_state(instance_id, fetch_payloads=True)
    history = client.get_orchestration_history(instance_id)
print(json.dumps({
    "input": hashlib.sha256(state.serialized_input.encode()).hexdigest(),
    "output": json.loads(state.serialized_output),
    "history_events": len(history),
}))
"""


def test_a_fresh_process_reads_what_a_worker_wrote(azurite: Azurite, own_backend: Backend) -> None:
    container = "cross-process"
    options = BlobPayloadStoreOptions(
        connection_string=azurite.connection_string, container_name=container, threshold_bytes=1024
    )
    batch = order_batch_of_size(200_000, seed=31)
    store = BlobPayloadStore(options)
    env = start_env("cross", store, own_backend.address)
    try:
        state = env.run(wf.call_echo, batch)
        assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
        raw = env.raw.get_orchestration_state(state.instance_id)
        assert raw is not None and env.is_token(raw.serialized_output)
    finally:
        stop_env(env)
        store.close()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            READER,
            own_backend.address,
            azurite.connection_string,
            container,
            state.instance_id,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["input"] == hashlib.sha256(json.dumps(batch).encode()).hexdigest()
    assert seen["output"]["echo"] == batch
    assert seen["output"]["activity_saw"] == wf.digest(batch)
    assert seen["history_events"] > 0
