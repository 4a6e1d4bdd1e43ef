"""Purging an orchestration deletes the payloads it wrote that nothing can need, for every store kind.

The rules (and the scenarios where another instance needs a purged one's
payloads) are in tests/lifecycle; these tests run the common cases on every store.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from durabletask import client as dt_client
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads import (
    AsyncTaskHubGrpcClient,
    PayloadNotFoundError,
    TaskHubGrpcClient,
    payload_tokens,
)

from ..helpers import orders
from . import workflows as wf
from .conftest import Env

pytestmark = pytest.mark.e2e

COMPLETED = dt_client.OrchestrationStatus.COMPLETED


def _tokens(env: Env, instance_id: str) -> set[str]:
    """Every token the backend holds for an instance, in its state and its history."""
    state = env.raw_stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True))
    found = set(payload_tokens(state, env.store))
    for event in env.history(instance_id, resolve=False):
        found.update(payload_tokens(event, env.store))
    return found


def _stored(env: Env, token: str) -> bool:
    try:
        env.store.inspect(token)
    except PayloadNotFoundError:
        return False
    return True


def _run(env: Env, orchestrator: object, value: object) -> str:
    state = env.run(orchestrator, value)
    assert state.runtime_status == COMPLETED, state.failure_details
    return state.instance_id


def _activity_result(env: Env, instance_id: str) -> str:
    """The token of the activity result in an instance's history (call_echo has one)."""
    (event,) = [e for e in env.history(instance_id, resolve=False) if e.HasField("taskCompleted")]
    assert env.is_token(event.taskCompleted.result.value)
    return event.taskCompleted.result.value


class TestPurge:
    def test_purge_deletes_what_only_the_instance_held_and_keeps_the_rest_for_gc(self, env: Env) -> None:
        """The activity's result goes; the input (a restart may copy it) and the output stay for gc."""
        doomed = _run(env, wf.call_echo, orders(40, seed=301))
        survivor = _run(env, wf.call_echo, orders(40, seed=302))
        doomed_tokens, survivor_tokens = _tokens(env, doomed), _tokens(env, survivor)
        result_token = _activity_result(env, doomed)
        assert len(doomed_tokens) == 3 and survivor_tokens
        result = env.client.purge_orchestration(doomed)
        assert result.deleted_instance_count == 1
        assert (result.deleted_payload_count, result.kept_payload_count) == (1, 2)  # type: ignore[attr-defined]
        assert {t for t in doomed_tokens if _stored(env, t)} == doomed_tokens - {result_token}
        assert all(_stored(env, t) for t in survivor_tokens)
        survivor_state = env.client.get_orchestration_state(survivor)
        assert survivor_state is not None and survivor_state.serialized_output

    def test_purging_again_is_harmless(self, env: Env) -> None:
        instance_id = _run(env, wf.call_echo, orders(30, seed=303))
        env.client.purge_orchestration(instance_id)
        again = env.client.purge_orchestration(instance_id)
        assert again.deleted_instance_count == 0
        assert again.deleted_payload_count == 0  # type: ignore[attr-defined]

    def test_a_sub_orchestration_keeps_the_input_its_parent_wrote(self, env: Env) -> None:
        """Purging only the parent (the in-memory backend ignores recursive) must not break the child."""
        parent = _run(env, wf.parent, orders(40, seed=304))
        (child_event,) = [
            e for e in env.history(parent, resolve=False) if e.HasField("subOrchestrationInstanceCreated")
        ]
        child = child_event.subOrchestrationInstanceCreated.instanceId
        child_tokens = _tokens(env, child)
        result = env.client.purge_orchestration(parent, recursive=True)
        assert result.deleted_instance_count == 1
        assert env.client.get_orchestration_state(child) is not None  # the backend kept the child
        assert all(_stored(env, t) for t in child_tokens)  # so everything it refers to is kept
        assert env.client.get_orchestration_history(child)

    def test_purge_by_filter(self, env: Env) -> None:
        since = datetime.now(timezone.utc) - timedelta(seconds=1)
        finished = [_run(env, wf.call_echo, orders(25, seed=305 + i)) for i in range(2)]
        results = {i: _activity_result(env, i) for i in finished}
        waiting = env.start(wf.wait_for_event, orders(25, seed=309))
        env.client.wait_for_orchestration_start(waiting, timeout=30)
        tokens = {i: _tokens(env, i) for i in [*finished, waiting]}
        result = env.client.purge_orchestrations_by(created_time_from=since, runtime_status=[COMPLETED])
        assert result.deleted_instance_count >= 2
        assert not any(_stored(env, results[i]) for i in finished)
        assert all(_stored(env, t) for i in finished for t in tokens[i] - {results[i]})
        assert all(_stored(env, t) for t in tokens[waiting])
        env.client.raise_orchestration_event(waiting, "payload", data="done")
        assert env.wait(waiting).runtime_status == COMPLETED

    def test_the_setting_turns_deletion_off(self, env: Env) -> None:
        instance_id = _run(env, wf.call_echo, orders(30, seed=306))
        tokens = _tokens(env, instance_id)
        with TaskHubGrpcClient(
            host_address=env.address, payload_store=env.store, delete_payloads_on_purge=False
        ) as keep:
            result = keep.purge_orchestration(instance_id)
        assert result.deleted_instance_count == 1
        assert all(_stored(env, t) for t in tokens)

    def test_the_async_client_decides_as_the_sync_one(self, env: Env) -> None:
        # An activity call, so that a token is in the history only: the async client must read it.
        instance_id = _run(env, wf.call_echo, orders(30, seed=307))
        result_token = _activity_result(env, instance_id)

        async def purge() -> object:
            client = AsyncTaskHubGrpcClient(host_address=env.address, payload_store=env.store)
            try:
                return await client.purge_orchestration(instance_id)
            finally:
                await client.close()

        result = asyncio.run(purge())
        assert (result.deleted_payload_count, result.kept_payload_count) == (1, 2)  # type: ignore[attr-defined]
        assert not _stored(env, result_token)
