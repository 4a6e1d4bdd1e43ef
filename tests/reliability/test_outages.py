"""Work items never wait on each other, never strand, and outlive a storage outage (issue 10).

Each test proves its fault was hit: the stores below count the transient
failures they raised, and the stalling store records that the stalled download
had begun before the unrelated orchestration ran.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from durabletask import client as dt_client

from durabletask_payloads import (
    AsyncTaskHubGrpcClient,
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    FileSystemPayloadStore,
    LargePayloadStorageOptions,
    PayloadStoreUnavailableError,
    TaskHubGrpcClient,
)

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import start_env, stop_env
from ..faults import FaultProxy
from ..helpers import orders
from ..services import Azurite

COMPLETED = dt_client.OrchestrationStatus.COMPLETED
FAILED = dt_client.OrchestrationStatus.FAILED


class CountingBlobStore(BlobPayloadStore):
    """A real Blob store that counts the transient failures its transfers raised."""

    def __init__(self, options: BlobPayloadStoreOptions) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self.unavailable = 0
        self.calls = 0
        self.gave_up = threading.Event()  # set by the first transfer that gave up

    def _counted(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.calls += 1
        try:
            return call(*args, **kwargs)
        except PayloadStoreUnavailableError:
            with self._lock:
                self.unavailable += 1
            self.gave_up.set()
            raise

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        return self._counted(super().upload, data, instance_id=instance_id)  # type: ignore[no-any-return]

    def download(self, token: str) -> bytes:
        return self._counted(super().download, token)  # type: ignore[no-any-return]


def _blob_store(azurite: Azurite, container: str, **options: Any) -> CountingBlobStore:
    return CountingBlobStore(
        BlobPayloadStoreOptions(
            connection_string=azurite.connection_string,
            container_name=container,
            threshold_bytes=1024,
            **options,
        )
    )


class StallingStore(FileSystemPayloadStore):
    """A filesystem store whose downloads wait, while ``stall`` is set, until ``release`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, LargePayloadStorageOptions(threshold_bytes=1024))
        self.stall = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def download(self, token: str) -> bytes:
        if self.stall:
            self.entered.set()
            assert self.release.wait(120), "the test never released the stalled download"
        return super().download(token)


@pytest.mark.e2e
def test_a_stalled_download_delays_no_other_work_item(own_backend: Backend, tmp_path: Path) -> None:
    """While one item's download hangs, a payload-free orchestration on the same worker completes."""
    value = orders(60, seed=1)
    with TaskHubGrpcClient(
        host_address=own_backend.address,
        payload_store=FileSystemPayloadStore(tmp_path, LargePayloadStorageOptions(threshold_bytes=1024)),
    ) as writer:
        stalled_id = writer.schedule_new_orchestration(wf.call_echo, input=value)
    store = StallingStore(tmp_path)  # a new store object: nothing cached, the worker must download
    store.stall = True
    env = start_env("stall", store, own_backend.address)
    try:
        assert store.entered.wait(30), "the stalled item's download never began"
        free_id = env.start(wf.call_echo, "small")
        state = env.wait(free_id, timeout=30)
        assert state.runtime_status == COMPLETED, state.failure_details
        assert not store.release.is_set()  # the stalled download was still hanging throughout
        held = env.raw.get_orchestration_state(stalled_id)
        assert held is not None and held.runtime_status != COMPLETED
        store.release.set()
        state = env.wait(stalled_id, timeout=30)
        assert state.runtime_status == COMPLETED, state.failure_details
        assert json.loads(state.serialized_output or "null")["echo"] == value
    finally:
        store.release.set()
        stop_env(env)


@pytest.mark.e2e
@pytest.mark.slow
def test_a_store_frozen_past_the_silent_disconnect_strands_nothing(
    own_azurite: Azurite, own_backend: Backend
) -> None:
    """Azurite frozen (SIGSTOP) for 130 s while a fresh worker starts: all 20 complete after SIGCONT.

    130 s is past durabletask's silent-disconnect timeout (120 s), after which a
    worker that saw no work item cancels its stream and drops what it had read.
    """
    writer_store = _blob_store(own_azurite, "frozen")
    inputs = {f"frozen-{uuid.uuid4().hex[:8]}-{i}": orders(30, seed=700 + i) for i in range(20)}
    with TaskHubGrpcClient(host_address=own_backend.address, payload_store=writer_store) as writer:
        for instance_id, value in inputs.items():
            writer.schedule_new_orchestration(wf.call_echo, input=value, instance_id=instance_id)
    own_azurite.pause()
    store = _blob_store(own_azurite, "frozen", read_timeout_seconds=20)  # a fresh worker: empty cache
    env = start_env("frozen", store, own_backend.address)
    try:
        time.sleep(130)  # the fault itself: storage frozen past the silent-disconnect timeout
        # A download gives up after about 130 s too (20 s reads within a 120 s request budget):
        # stay frozen until one has, so that the retry of a given-up download is what is tested.
        assert store.gave_up.wait(120), "no download gave up while the store was frozen"
        tried_while_frozen, failed_while_frozen = store.calls, store.unavailable
        own_azurite.resume()
        for instance_id, value in inputs.items():
            state = env.wait(instance_id, timeout=300)
            assert state.runtime_status == COMPLETED, (instance_id, state.failure_details)
            assert json.loads(state.serialized_output or "null")["echo"] == value
        print(f"frozen: {tried_while_frozen} downloads tried, {failed_while_frozen} gave up while frozen")
        assert failed_while_frozen >= 1  # the freeze was hit: downloads timed out and were retried
        assert tried_while_frozen >= len(inputs)  # every item was being resolved while frozen
    finally:
        own_azurite.resume()
        stop_env(env)
        store.close()
        writer_store.close()


def _release_without_storage(azurite: Azurite, backend: Backend, instance_ids: Any) -> None:
    """Stop Azurite, then send each waiting orchestration its "go": each now needs storage there is not."""
    azurite.stop()
    with dt_client.TaskHubGrpcClient(host_address=backend.address) as plain:
        for instance_id in instance_ids:
            plain.raise_orchestration_event(instance_id, "go", data=1)


def _start_waiting(env: Any, inputs: dict[str, Any]) -> None:
    """Schedule an orchestration per input that waits for "go", then stores a large activity input."""
    for instance_id, value in inputs.items():
        env.client.schedule_new_orchestration(wf.wait_then_echo, input=value, instance_id=instance_id)
    for instance_id in inputs:
        env.client.wait_for_orchestration_start(instance_id, timeout=30)


@pytest.mark.e2e
@pytest.mark.slow
def test_a_30_second_outage_fails_nothing(own_azurite: Azurite, own_backend: Backend) -> None:
    """Azurite killed for 30 s mid-run and restarted on its port and data: 20 of 20 complete."""
    store = _blob_store(own_azurite, "outage")
    env = start_env("killed", store, own_backend.address)
    inputs = {f"killed-{uuid.uuid4().hex[:8]}-{i}": orders(40, seed=500 + i) for i in range(20)}
    try:
        _start_waiting(env, inputs)
        _release_without_storage(own_azurite, own_backend, inputs)
        time.sleep(30)  # the fault itself: storage is down for thirty seconds
        own_azurite.start()  # same port, same data
        for instance_id, value in inputs.items():
            state = env.wait(instance_id, timeout=300)
            assert state.runtime_status == COMPLETED, (instance_id, state.failure_details)
            output = json.loads(state.serialized_output or "null")
            assert output == {"activity_saw": wf.digest({"again": value}), "same_echo": True}
        assert store.unavailable >= 1  # the outage was hit, and waited out
    finally:
        stop_env(env)
        store.close()


@pytest.mark.e2e
@pytest.mark.slow
async def test_the_async_client_across_a_30_second_outage(own_azurite: Azurite, own_backend: Backend) -> None:
    """The same outage with AsyncTaskHubGrpcClient scheduling and reading: 20 of 20 complete."""
    store = _blob_store(own_azurite, "outage-async")
    env = start_env("killed-async", store, own_backend.address)
    inputs = {f"async-{uuid.uuid4().hex[:8]}-{i}": orders(40, seed=900 + i) for i in range(20)}
    client = AsyncTaskHubGrpcClient(host_address=own_backend.address, payload_store=store)
    try:
        for instance_id, value in inputs.items():
            await client.schedule_new_orchestration(wf.wait_then_echo, input=value, instance_id=instance_id)
        for instance_id in inputs:
            await client.wait_for_orchestration_start(instance_id, timeout=30)
        _release_without_storage(own_azurite, own_backend, inputs)
        await asyncio.sleep(30)  # the fault itself: storage is down
        own_azurite.start()
        for instance_id, value in inputs.items():
            state = await client.wait_for_orchestration_completion(instance_id, timeout=300)
            assert state is not None and state.runtime_status == COMPLETED, (instance_id, state)
            output = json.loads(state.serialized_output or "null")
            assert output == {"activity_saw": wf.digest({"again": value}), "same_echo": True}
        assert store.unavailable >= 1
    finally:
        await client.close()
        stop_env(env)
        store.close()


@pytest.mark.e2e
def test_an_outage_longer_than_the_budget_fails_clearly(own_azurite: Azurite, own_backend: Backend) -> None:
    """With outage_budget_seconds=3 and storage gone, each item fails non-retriably, naming the setting."""
    store = _blob_store(own_azurite, "budget", outage_budget_seconds=3, retry_total=1)
    env = start_env("budget", store, own_backend.address)
    inputs = {f"budget-{uuid.uuid4().hex[:8]}-{i}": orders(40, seed=300 + i) for i in range(3)}
    try:
        _start_waiting(env, inputs)
        _release_without_storage(own_azurite, own_backend, inputs)
        with dt_client.TaskHubGrpcClient(host_address=own_backend.address) as plain:
            states = [plain.wait_for_orchestration_completion(i, timeout=120) for i in inputs]
        for state in states:
            assert state is not None and state.runtime_status == FAILED
            assert state.failure_details is not None
            assert state.failure_details.error_type == "durabletask_payloads.PayloadStoreUnavailableError"
            assert "outage_budget_seconds (3 s)" in state.failure_details.message
            assert "AccountKey" not in state.failure_details.message
        assert store.unavailable >= 2 * len(inputs)  # each item retried before it failed
    finally:
        own_azurite.start()
        stop_env(env)
        store.close()


@pytest.fixture
def proxied_store(azurite: Azurite) -> Iterator[tuple[FaultProxy, BlobPayloadStore]]:
    proxy = FaultProxy(azurite.port)
    proxy.start()
    endpoint = azurite.connection_string.replace(f":{azurite.port}/", f":{proxy.port}/")
    store = BlobPayloadStore(
        BlobPayloadStoreOptions(
            connection_string=endpoint,
            container_name="client-budget",
            threshold_bytes=1024,
            retry_total=2,
            retry_backoff_seconds=0.05,
        )
    )
    yield proxy, store
    store.close()
    proxy.stop()


@pytest.mark.e2e
async def test_an_async_client_call_is_retried_within_its_budget_then_raises_transient(
    proxied_store: tuple[FaultProxy, BlobPayloadStore], own_backend: Backend
) -> None:
    """A client call does not wait out an outage: retried by its store, then a transient error."""
    proxy, store = proxied_store
    client = AsyncTaskHubGrpcClient(host_address=own_backend.address, payload_store=store)
    try:
        proxy.inject("PUT", 100, status=503)
        before = proxy.count("PUT")
        with pytest.raises(PayloadStoreUnavailableError, match="gave up after 3 attempts") as info:
            await client.schedule_new_orchestration(wf.call_echo, input=orders(40, seed=3))
        assert info.value.transient is True
        assert proxy.count("PUT") - before == 3  # the first attempt and retry_total=2 retries
    finally:
        await client.close()
