"""Failure semantics: nothing hangs, nothing retries forever, errors name their cause.

Each case ends by running an ordinary orchestration on the same worker, which
must complete: one bad payload never takes the worker down.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from durabletask import client as dt_client
from durabletask.entities import EntityInstanceId
from durabletask.testing import create_test_backend

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadStoreUnavailableError,
    PayloadTooLargeError,
    TaskHubGrpcClient,
)

from ..conftest import Backend
from ..helpers import CountingStore, VanishingStore, free_port, order_batch_of_size, orders
from . import workflows as wf
from .conftest import Env, start_env, stop_env

pytestmark = pytest.mark.e2e

LIMITS = LargePayloadStorageOptions(threshold_bytes=1024, max_stored_payload_bytes=50_000)
FAILED = dt_client.OrchestrationStatus.FAILED
BIG = order_batch_of_size(20_000, seed=5)


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    """A backend of its own: the broken instances and entities made here stay here."""
    port = free_port()
    server = create_test_backend(port=port)
    yield Backend(server, f"localhost:{port}")
    server.stop(grace=None)


def _store() -> InMemoryPayloadStore:
    return InMemoryPayloadStore(LIMITS)


@pytest.fixture
def limited(backend: Backend) -> Iterator[Env]:
    """A worker whose store refuses payloads above 50,000 bytes."""
    running = start_env("limited", _store(), backend.address)
    yield running
    _worker_still_serves(running)
    stop_env(running)


def _worker_still_serves(env: Env) -> None:
    state = env.run(wf.call_echo, BIG)
    assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state.failure_details
    assert json.loads(state.serialized_output or "null")["same_echo"] is True


def _non_retriable_failures(env: Env, instance_id: str) -> list[tuple[str, bool]]:
    found = []
    for event in env.history(instance_id, resolve=False):
        for name in ("taskFailed", "executionCompleted"):
            if event.HasField(name) and getattr(event, name).HasField("failureDetails"):
                details = getattr(event, name).failureDetails
                found.append((details.errorType, details.isNonRetriable))
    return found


class TestTooLarge:
    def test_client_input_above_the_maximum_raises_before_any_rpc(self, backend: Backend) -> None:
        store = CountingStore(_store())
        instance_id = f"too-large-{uuid.uuid4().hex}"
        with TaskHubGrpcClient(host_address=backend.address, payload_store=store) as client:
            with pytest.raises(PayloadTooLargeError) as info:
                client.schedule_new_orchestration(
                    wf.return_input, input="x" * 60_000, instance_id=instance_id
                )
            assert info.value.limit == 50_000
            assert "60,002 bytes" in str(info.value)
            with pytest.raises(PayloadTooLargeError):
                client.raise_orchestration_event("any", "evt", data="y" * 60_000)
        assert store.snapshot() == (0, 0)
        with dt_client.TaskHubGrpcClient(host_address=backend.address) as raw:
            assert raw.get_orchestration_state(instance_id) is None

    def test_activity_result_above_the_maximum_is_a_catchable_task_failure(self, limited: Env) -> None:
        state = limited.run(wf.try_activity, {"activity": "grow", "input": {"name": "n", "size": 60_000}})
        output = json.loads(state.serialized_output or "null")
        assert output["failed"] is True
        assert output["type"] == "durabletask_payloads.PayloadTooLargeError"
        size = len(json.dumps("result:n:" + "r" * 60_000))
        assert f"{size:,} bytes exceeds the limit of 50,000 bytes" in output["message"]
        assert ("durabletask_payloads.PayloadTooLargeError", True) in _non_retriable_failures(
            limited, state.instance_id
        )

    def test_orchestrator_output_above_the_maximum_fails_the_orchestration(self, limited: Env) -> None:
        state = limited.run(wf.big_output, 60_000)
        assert state.runtime_status == FAILED
        assert state.failure_details is not None
        assert state.failure_details.error_type == "durabletask_payloads.PayloadTooLargeError"
        assert "60,002 bytes exceeds the limit of 50,000 bytes" in state.failure_details.message

    def test_activity_input_built_by_the_orchestrator_above_the_maximum_fails_it(self, limited: Env) -> None:
        state = limited.run(wf.schedule_big_activity_input, 60_000)
        assert state.runtime_status == FAILED
        assert state.failure_details is not None
        assert "max_stored_payload_bytes" in state.failure_details.message

    def test_custom_status_above_the_maximum_fails_the_orchestration(self, limited: Env) -> None:
        state = limited.run(wf.big_custom_status, 60_000)
        assert state.runtime_status == FAILED
        assert state.failure_details is not None
        assert state.failure_details.error_type == "durabletask_payloads.PayloadTooLargeError"

    def test_entity_state_above_the_maximum_fails_the_operation_and_keeps_the_state(
        self, limited: Env
    ) -> None:
        key = f"too-large-{uuid.uuid4().hex}"
        first = orders(20, seed=1)
        ok = limited.run(wf.use_cart, {"key": key, "value": first})
        assert ok.runtime_status == dt_client.OrchestrationStatus.COMPLETED
        state = limited.run(wf.try_entity, {"key": key, "operation": "append", "input": "z" * 49_000})
        output = json.loads(state.serialized_output or "null")
        assert output["failed"] is True
        assert output["type"] == "durabletask_payloads.PayloadTooLargeError"
        assert json.loads(limited.run(wf.read_cart, key).serialized_output or "null") == first


class TestUnresolvableTokens:
    def test_activity_input_lost_after_it_was_written(self, backend: Backend) -> None:
        store = VanishingStore(_store(), vanish=lambda data: wf.VANISH.encode() in data)
        env = start_env("vanish", store, backend.address)
        try:
            state = env.run(wf.vanishing_activity_input, 5000)
            assert state.runtime_status == FAILED
            assert state.failure_details is not None
            assert state.failure_details.error_type == "durabletask_payloads.PayloadNotFoundError"
            (lost,) = set(store.vanished)
            assert lost in state.failure_details.message
            _worker_still_serves(env)
        finally:
            stop_env(env)

    def test_activity_result_lost_after_it_was_written(self, backend: Backend) -> None:
        marker = ("result:" + wf.VANISH).encode()
        store = VanishingStore(_store(), vanish=lambda data: marker in data)
        env = start_env("vanish-result", store, backend.address)
        try:
            state = env.run(wf.try_activity, {"activity": "grow", "input": {"name": wf.VANISH, "size": 5000}})
            assert state.runtime_status == FAILED
            assert state.failure_details is not None
            assert state.failure_details.error_type == "durabletask_payloads.PayloadNotFoundError"
            (lost,) = set(store.vanished)
            assert lost in state.failure_details.message
            assert ("durabletask_payloads.PayloadNotFoundError", True) in _non_retriable_failures(
                env, state.instance_id
            )
            _worker_still_serves(env)
        finally:
            stop_env(env)

    def test_entity_state_deleted_fails_its_operations_and_keeps_the_reference(self, limited: Env) -> None:
        key = f"lost-{uuid.uuid4().hex}"
        entity = EntityInstanceId("cart", key)
        limited.run(wf.use_cart, {"key": key, "value": BIG})
        raw = limited.raw.get_entity(entity, include_state=True)
        assert raw is not None
        token = raw.get_state()
        assert limited.store.delete(token)
        state = limited.run(wf.try_entity, {"key": key, "operation": "get"})
        output = json.loads(state.serialized_output or "null")
        assert output["failed"] is True
        assert output["type"] == "durabletask_payloads.PayloadNotFoundError"
        assert token in output["message"]
        after = limited.raw.get_entity(entity, include_state=True)
        assert after is not None and after.get_state() == token

    def test_a_store_outage_within_the_budget_is_waited_out(self, backend: Backend) -> None:
        """Transient failures keep the work item alive: retried, then completed once the store is back."""
        store = Offline(_store(), refusals_before_signal=2)
        env = start_env("outage-short", store, backend.address)
        try:
            instance_id = env.start(wf.wait_for_event, BIG)
            env.client.wait_for_orchestration_start(instance_id, timeout=30)
            store.offline = True
            with dt_client.TaskHubGrpcClient(host_address=backend.address) as raw:
                raw.raise_orchestration_event(instance_id, "payload", data="go")
                assert store.refused_enough.wait(60), "the work item never asked the store"
                store.offline = False
                state = raw.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None
            assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state.failure_details
            assert store.refusals >= 2  # the outage was hit, and retried through
            _worker_still_serves(env)
        finally:
            stop_env(env)

    def test_an_outage_longer_than_the_budget_fails_non_retriably(self, backend: Backend) -> None:
        """Past outage_budget_seconds the item fails, with a message naming the outage and the setting."""
        options = LargePayloadStorageOptions(
            threshold_bytes=1024, max_stored_payload_bytes=50_000, outage_budget_seconds=2
        )
        store = Offline(InMemoryPayloadStore(options), refusals_before_signal=1)
        env = start_env("outage-long", store, backend.address)
        try:
            instance_id = env.start(wf.wait_for_event, BIG)
            env.client.wait_for_orchestration_start(instance_id, timeout=30)
            store.offline = True
            with dt_client.TaskHubGrpcClient(host_address=backend.address) as raw:
                raw.raise_orchestration_event(instance_id, "payload", data="go")
                state = raw.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None and state.runtime_status == FAILED
            assert state.failure_details is not None
            assert state.failure_details.error_type == "durabletask_payloads.PayloadStoreUnavailableError"
            message = state.failure_details.message
            assert "connection refused after 5 attempts" in message
            assert "outage_budget_seconds (2 s)" in message
            assert store.refusals >= 2  # retried before giving up
            assert _non_retriable_failures(env, instance_id)[-1][1] is True
            store.offline = False
            _worker_still_serves(env)
        finally:
            stop_env(env)


class Offline(CountingStore):
    """A store whose downloads fail as transient outages while ``offline`` is set; counts refusals."""

    def __init__(self, inner: InMemoryPayloadStore, *, refusals_before_signal: int) -> None:
        super().__init__(inner)
        self.offline = False
        self.refusals = 0
        self._signal_at = refusals_before_signal
        self.refused_enough = threading.Event()

    def download_many(self, tokens: Sequence[str]) -> list[bytes]:
        if self.offline:
            self.refusals += 1
            if self.refusals >= self._signal_at:
                self.refused_enough.set()
            raise PayloadStoreUnavailableError("download", tokens[0], "connection refused after 5 attempts")
        return super().download_many(tokens)


def test_our_stores_work_with_durabletasks_builtin_worker_and_client(
    backend: Backend, tmp_path: Path
) -> None:
    """durabletask's own payload_store= accepts our stores (same method shapes)."""
    from durabletask import worker as dt_worker

    from durabletask_payloads import FileSystemPayloadStore

    store = FileSystemPayloadStore(tmp_path, LargePayloadStorageOptions(threshold_bytes=1024))
    worker = dt_worker.TaskHubGrpcWorker(host_address=backend.address, payload_store=store)
    wf.register(worker)
    worker.start()
    try:
        with dt_client.TaskHubGrpcClient(host_address=backend.address, payload_store=store) as client:
            instance_id = client.schedule_new_orchestration(wf.call_echo, input=BIG)
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
        assert json.loads(state.serialized_output or "null")["echo"] == BIG
        with dt_client.TaskHubGrpcClient(host_address=backend.address) as raw:
            held = raw.get_orchestration_state(instance_id)
        assert held is not None and store.is_known_token(held.serialized_input or "")
        assert store.is_known_token(held.serialized_output or "")
    finally:
        worker.stop()
