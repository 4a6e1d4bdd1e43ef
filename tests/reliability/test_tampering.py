"""A blob deleted or changed while its orchestration runs: the orchestration fails at once, naming
the token, and the same worker goes on to complete a fresh orchestration.

"At once" is counted, not timed: the worker's store reaches Azurite through a counting proxy, and
the failed read is one request, never retried (a permanent failure)."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings
from durabletask import client as dt_client

from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import Env, start_env, stop_env
from ..faults import FaultProxy
from ..helpers import orders
from ..services import Azurite, dev_connection_string

pytestmark = pytest.mark.e2e

# Without a cache the worker reads the input again at every replay, as a restarted worker would.
NO_CACHE = {"threshold_bytes": 1024, "cache_max_bytes": 0}


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    """Between the worker's store and Azurite: it counts the store's requests."""
    with FaultProxy(azurite.port) as proxy:
        yield proxy


@pytest.fixture
def worker(proxy: FaultProxy, own_backend: Backend) -> Iterator[tuple[Env, str]]:
    container = f"tamper-{uuid.uuid4().hex[:8]}"
    store = BlobPayloadStore(
        BlobPayloadStoreOptions(
            connection_string=dev_connection_string(f"http://127.0.0.1:{proxy.port}"),
            container_name=container,
            **NO_CACHE,
        )
    )
    env = start_env("tamper", store, own_backend.address)
    yield env, container
    stop_env(env)
    store.close()


def _delete(azurite: Azurite, container: str, name: str) -> None:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.get_blob_client(container, name).delete_blob()


def _corrupt(azurite: Azurite, container: str, name: str) -> None:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        blob = service.get_blob_client(container, name)
        metadata = blob.get_blob_properties().metadata  # the recorded SHA-256 stays
        forged = json.dumps(orders(40, seed=999)).encode()
        blob.upload_blob(
            gzip.compress(forged),
            overwrite=True,
            metadata=metadata,
            content_settings=ContentSettings(content_encoding="gzip"),
        )


@pytest.mark.parametrize(
    ("tamper", "error_type"),
    [
        (_delete, "durabletask_payloads.PayloadNotFoundError"),
        (_corrupt, "durabletask_payloads.PayloadIntegrityError"),
    ],
    ids=["deleted", "corrupted"],
)
def test_the_orchestration_fails_naming_the_token_and_the_worker_carries_on(
    worker: tuple[Env, str], azurite: Azurite, proxy: FaultProxy, tamper: object, error_type: str
) -> None:
    env, container = worker
    instance_id = env.start(wf.wait_for_event, orders(40, seed=701))
    env.client.wait_for_orchestration_start(instance_id, timeout=30)
    raw = env.raw.get_orchestration_state(instance_id)
    assert raw is not None and env.is_token(raw.serialized_input)
    token = str(raw.serialized_input)
    name = token.rsplit(":", 1)[1]
    tamper(azurite, container, name)  # type: ignore[operator]

    before = proxy.count("GET", name)
    env.client.raise_orchestration_event(instance_id, "payload", data="go")
    # Our client would resolve the (broken) input when reading the state: read it as stored.
    state = env.raw.wait_for_orchestration_completion(instance_id, timeout=60)
    assert state is not None
    assert state.runtime_status == dt_client.OrchestrationStatus.FAILED
    assert state.failure_details is not None
    assert state.failure_details.error_type == error_type
    assert token in state.failure_details.message
    # The replay after the event reads the input once (no cache); a permanent failure is not retried.
    reads = proxy.count("GET", name) - before
    assert reads == 1, f"{reads} reads of the broken payload: a permanent failure must not be retried"

    fresh = env.run(wf.call_echo, orders(30, seed=702))
    assert fresh.runtime_status == dt_client.OrchestrationStatus.COMPLETED
