"""Purging an orchestration deletes the payloads it wrote, and nothing another instance needs."""

from __future__ import annotations

import asyncio
import uuid
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


class TestPurge:
    def test_purge_deletes_the_instances_payloads_and_only_those(self, env: Env) -> None:
        doomed = _run(env, wf.call_echo, orders(40, seed=301))
        survivor = _run(env, wf.call_echo, orders(40, seed=302))
        doomed_tokens, survivor_tokens = _tokens(env, doomed), _tokens(env, survivor)
        assert doomed_tokens and survivor_tokens
        result = env.client.purge_orchestration(doomed)
        assert result.deleted_instance_count == 1
        assert result.deleted_payload_count == len(doomed_tokens)  # type: ignore[attr-defined]
        assert not any(_stored(env, t) for t in doomed_tokens)
        assert all(_stored(env, t) for t in survivor_tokens)
        survivor_state = env.client.get_orchestration_state(survivor)
        assert survivor_state is not None and survivor_state.serialized_output

    def test_purging_again_is_harmless(self, env: Env) -> None:
        instance_id = _run(env, wf.return_input, orders(30, seed=303))
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
        parent_only = _tokens(env, parent) - child_tokens
        result = env.client.purge_orchestration(parent, recursive=True)
        assert result.deleted_instance_count == 1
        assert env.client.get_orchestration_state(child) is not None  # the backend kept the child
        assert all(_stored(env, t) for t in child_tokens)  # so everything it refers to is kept
        assert not any(_stored(env, t) for t in parent_only)
        assert env.client.get_orchestration_history(child)

    def test_purge_by_filter(self, env: Env) -> None:
        since = datetime.now(timezone.utc) - timedelta(seconds=1)
        marker = f"filter-{uuid.uuid4().hex}"
        finished = [_run(env, wf.return_input, [marker, orders(25, seed=305 + i)]) for i in range(2)]
        waiting = env.start(wf.wait_for_event, orders(25, seed=309))
        env.client.wait_for_orchestration_start(waiting, timeout=30)
        tokens = {i: _tokens(env, i) for i in [*finished, waiting]}
        result = env.client.purge_orchestrations_by(created_time_from=since, runtime_status=[COMPLETED])
        assert result.deleted_instance_count >= 2
        assert not any(_stored(env, t) for i in finished for t in tokens[i])
        assert all(_stored(env, t) for t in tokens[waiting])
        env.client.raise_orchestration_event(waiting, "payload", data="done")
        assert env.wait(waiting).runtime_status == COMPLETED

    def test_the_setting_turns_deletion_off(self, env: Env) -> None:
        instance_id = _run(env, wf.return_input, orders(30, seed=306))
        tokens = _tokens(env, instance_id)
        with TaskHubGrpcClient(
            host_address=env.address, payload_store=env.store, delete_payloads_on_purge=False
        ) as keep:
            result = keep.purge_orchestration(instance_id)
        assert result.deleted_instance_count == 1
        assert all(_stored(env, t) for t in tokens)

    def test_the_async_client_deletes_too(self, env: Env) -> None:
        # An activity call, so that some tokens are in the history only: the async client must read it.
        instance_id = _run(env, wf.call_echo, orders(30, seed=307))
        tokens = _tokens(env, instance_id)

        async def purge() -> object:
            client = AsyncTaskHubGrpcClient(host_address=env.address, payload_store=env.store)
            try:
                return await client.purge_orchestration(instance_id)
            finally:
                await client.close()

        result = asyncio.run(purge())
        assert result.deleted_payload_count == len(tokens)  # type: ignore[attr-defined]
        assert not any(_stored(env, t) for t in tokens)
