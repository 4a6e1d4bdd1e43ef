"""Every payload path of Durable Task, end to end over real gRPC, with each store.

The threshold is 1 KiB. For each path the test checks three things: user code
saw the original data (digests computed inside activities and orchestrators),
the backend holds a token instead of the data (read with a client that has no
payload store), and what comes back to the client is the original.
"""

from __future__ import annotations

import json

import pytest
from durabletask import client as dt_client
from durabletask.entities import EntityInstanceId

from ..helpers import order_batch_of_size, orders
from . import workflows as wf
from .conftest import THRESHOLD, Env

pytestmark = pytest.mark.e2e

BIG = order_batch_of_size(20_000, seed=1)
BIG_DIGEST = wf.digest(BIG)
COMPLETED = dt_client.OrchestrationStatus.COMPLETED


def _output(state: dt_client.OrchestrationState) -> object:
    assert state.runtime_status == COMPLETED, state.failure_details
    assert state.serialized_output is not None
    return json.loads(state.serialized_output)


class TestOrchestrationInputAndOutput:
    def test_large_input_and_output(self, env: Env) -> None:
        state = env.run(wf.return_input, BIG)
        assert _output(state) == BIG
        raw = env.raw.get_orchestration_state(state.instance_id)
        assert raw is not None
        assert env.is_token(raw.serialized_input)
        assert env.is_token(raw.serialized_output)

    def test_small_payloads_stay_inline_and_the_store_is_not_touched(self, env: Env) -> None:
        before = env.store.snapshot()
        state = env.run(wf.call_echo, {"small": True})
        assert _output(state)["same_echo"] is True  # type: ignore[index]
        assert env.store.snapshot() == before
        raw = env.raw.get_orchestration_state(state.instance_id)
        assert raw is not None
        assert raw.serialized_input == '{"small": true}'
        assert not env.is_token(raw.serialized_output)


class TestActivities:
    def test_large_activity_input_and_result(self, env: Env) -> None:
        output = _output(env.run(wf.call_echo, BIG))
        assert output == {"activity_saw": BIG_DIGEST, "same_echo": True, "echo": BIG}

    def test_history_holds_tokens_for_large_activity_data(self, env: Env) -> None:
        state = env.run(wf.call_echo, BIG)
        raw_events = list(env.raw.get_orchestration_history(state.instance_id))
        scheduled = [e for e in raw_events if type(e).__name__ == "TaskScheduledEvent"]
        completed = [e for e in raw_events if type(e).__name__ == "TaskCompletedEvent"]
        assert scheduled and completed
        assert env.is_token(scheduled[0].input)  # type: ignore[attr-defined]
        assert env.is_token(completed[0].result)  # type: ignore[attr-defined]

    def test_fan_out_fan_in_of_fifty_activities(self, env: Env) -> None:
        inputs = [orders(12, seed=100 + i) for i in range(50)]
        assert all(len(json.dumps(i)) > THRESHOLD for i in inputs)
        output = _output(env.run(wf.fan_out, inputs))
        assert output == {"digests": [wf.digest(i) for i in inputs], "all_echoed": True}


class TestEvents:
    def test_raise_event_with_a_large_payload(self, env: Env) -> None:
        instance_id = env.start(wf.wait_for_event)
        env.client.raise_orchestration_event(instance_id, "payload", data=BIG)
        assert _output(env.wait(instance_id)) == {"digest": BIG_DIGEST, "value": BIG}
        raised = [
            e
            for e in env.raw.get_orchestration_history(instance_id)
            if type(e).__name__ == "EventRaisedEvent"
        ]
        assert env.is_token(raised[0].input)  # type: ignore[attr-defined]

    def test_terminate_with_a_large_output(self, env: Env) -> None:
        instance_id = env.start(wf.wait_forever)
        env.client.wait_for_orchestration_start(instance_id, timeout=30)
        env.client.terminate_orchestration(instance_id, output=BIG)
        state = env.wait(instance_id)
        assert state.runtime_status == dt_client.OrchestrationStatus.TERMINATED
        assert json.loads(state.serialized_output or "null") == BIG
        raw = env.raw.get_orchestration_state(instance_id)
        assert raw is not None and env.is_token(raw.serialized_output)

    def test_suspend_and_resume_with_large_reasons(self, env: Env) -> None:
        """Reasons are the caller's text: sent inline as given, never externalized (see _fields)."""
        suspend_reason = "suspended: " + json.dumps(orders(20, seed=7))
        resume_reason = "resumed: " + json.dumps(orders(20, seed=8))
        instance_id = env.start(wf.wait_for_event)
        env.client.wait_for_orchestration_start(instance_id, timeout=30)
        env.client.suspend_orchestration(instance_id, reason=suspend_reason)
        env.client.raise_orchestration_event(instance_id, "payload", data="go")
        env.client.resume_orchestration(instance_id, reason=resume_reason)
        assert _output(env.wait(instance_id)) == {"digest": wf.digest("go"), "value": "go"}
        events = env.history(instance_id)
        suspended = [e.executionSuspended.input.value for e in events if e.HasField("executionSuspended")]
        resumed = [e.executionResumed.input.value for e in events if e.HasField("executionResumed")]
        assert (suspended, resumed) == ([suspend_reason], [resume_reason])
        raw_kinds = {type(e).__name__: e for e in env.raw.get_orchestration_history(instance_id)}
        assert raw_kinds["ExecutionSuspendedEvent"].input == suspend_reason  # type: ignore[attr-defined]


class TestCustomStatus:
    def test_large_custom_status(self, env: Env) -> None:
        state = env.run(wf.with_custom_status, BIG)
        assert json.loads(state.serialized_custom_status or "null") == BIG
        raw = env.raw.get_orchestration_state(state.instance_id)
        assert raw is not None and env.is_token(raw.serialized_custom_status)


class TestSubOrchestrations:
    def test_large_sub_orchestration_input_and_output(self, env: Env) -> None:
        assert _output(env.run(wf.parent, BIG)) == {"child_saw": BIG_DIGEST, "roundtrip": True}


class TestContinueAsNew:
    def test_large_input_carried_across_generations(self, env: Env) -> None:
        blob = json.dumps(orders(15, seed=3))
        output = _output(env.run(wf.countdown, {"n": 3, "blob": blob, "seen": []}))
        expected_seen = []
        state = {"n": 3, "blob": blob, "seen": []}
        for _ in range(3):
            expected_seen.append(wf.digest(state))
            state = {"n": state["n"] - 1, "blob": state["blob"] + "+", "seen": list(expected_seen)}  # type: ignore[operator]
        assert output == {"seen": expected_seen, "final": wf.digest(state)}


class TestEntities:
    def test_signal_with_large_input_and_large_state(self, env: Env) -> None:
        key = f"signal-{env.kind}"
        entity = EntityInstanceId("cart", key)
        env.client.signal_entity(entity, "set", input=BIG)
        # Operations on one entity run in order: this call runs after the signal.
        state = _output(env.run(wf.read_cart, key))
        assert state == BIG
        metadata = env.client.get_entity(entity, include_state=True)
        assert metadata is not None
        assert json.loads(metadata.get_state()) == BIG
        raw = env.raw.get_entity(entity, include_state=True)
        assert raw is not None and env.is_token(raw.get_state())

    def test_call_with_large_input(self, env: Env) -> None:
        value = orders(30, seed=11)
        output = _output(env.run(wf.use_cart, {"key": f"call-{env.kind}", "value": value}))
        assert output == {"stored_digest": wf.digest(value), "state_digest": wf.digest(value), "state": value}

    def test_queried_entities_come_back_with_their_state(self, env: Env) -> None:
        key = f"query-{env.kind}"
        value = orders(25, seed=12)
        _output(env.run(wf.use_cart, {"key": key, "value": value}))
        # Only this store's entities: the session's other store kinds share the backend.
        query = dt_client.EntityQuery(instance_id_starts_with=f"@cart@{key}", include_state=True)
        found = env.client.get_all_entities(query)
        assert [(e.id.key, json.loads(e.get_state())) for e in found] == [(key, value)]


class TestQueries:
    def test_querying_instances_returns_the_originals(self, env: Env) -> None:
        prefix = f"query-{env.kind}-"
        payloads = {f"{prefix}{i}": orders(10, seed=200 + i) for i in range(3)}
        for instance_id, value in payloads.items():
            env.run(wf.return_input, value, instance_id=instance_id)
        states = env.client.get_all_orchestration_states(
            dt_client.OrchestrationQuery(instance_id_prefix=prefix, fetch_inputs_and_outputs=True)
        )
        assert {s.instance_id: json.loads(s.serialized_input or "null") for s in states} == payloads
        assert {s.instance_id: json.loads(s.serialized_output or "null") for s in states} == payloads


class TestAsyncClient:
    def test_the_async_client_externalizes_and_resolves(self, env: Env) -> None:
        import asyncio

        from durabletask_payloads import AsyncTaskHubGrpcClient

        event = orders(15, seed=21)

        async def scenario() -> tuple[object, object, list[str], object]:
            client = AsyncTaskHubGrpcClient(host_address=env.address, payload_store=env.store)
            try:
                instance_id = await client.schedule_new_orchestration(wf.wait_for_event, input=BIG)
                await client.raise_orchestration_event(instance_id, "payload", data=event)
                state = await client.wait_for_orchestration_completion(instance_id, timeout=60)
                assert state is not None
                history = await client.get_orchestration_history(instance_id)
                started = [e for e in history if type(e).__name__ == "ExecutionStartedEvent"]
                fetched = await client.get_orchestration_state(instance_id, fetch_payloads=True)
                assert fetched is not None
                return (
                    json.loads(fetched.serialized_input or "null"),
                    _output(state),
                    [str(e.input) for e in started],  # type: ignore[attr-defined]
                    instance_id,
                )
            finally:
                await client.close()

        stored_input, output, started_inputs, instance_id = asyncio.run(scenario())
        assert stored_input == BIG
        assert output == {"digest": wf.digest(event), "value": event}
        assert [json.loads(text) for text in started_inputs] == [BIG]
        raw = env.raw.get_orchestration_state(str(instance_id))
        assert raw is not None and env.is_token(raw.serialized_input)

    def test_a_caller_owned_aio_channel_cannot_be_combined_with_a_store(self, env: Env) -> None:
        import grpc.aio

        from durabletask_payloads import AsyncTaskHubGrpcClient

        async def scenario() -> None:
            channel = grpc.aio.insecure_channel(env.address)
            try:
                with pytest.raises(ValueError, match="payload_interceptors"):
                    AsyncTaskHubGrpcClient(channel=channel, payload_store=env.store)
            finally:
                await channel.close()

        import asyncio

        asyncio.run(scenario())


class TestCallerOwnedChannel:
    def test_sync_worker_and_client_wrap_a_channel_they_are_given(self, env: Env) -> None:
        import grpc

        from durabletask_payloads import TaskHubGrpcClient

        with grpc.insecure_channel(env.address) as channel:
            client = TaskHubGrpcClient(channel=channel, payload_store=env.store)
            instance_id = client.schedule_new_orchestration(wf.return_input, input=BIG)
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None
            assert _output(state) == BIG
        raw = env.raw.get_orchestration_state(instance_id)
        assert raw is not None and env.is_token(raw.serialized_input)
