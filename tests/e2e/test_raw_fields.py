"""Tokens only where this package puts them, end to end on the real in-memory backend.

A caller who knows the token of another instance's payload writes it where the
SDK passes a string through as given: an orchestration's version, a
sub-orchestration's version, a suspend or resume reason. The orchestration,
and every reader of its history, must see that string, never the payload.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from durabletask import client as dt_client
from durabletask import task

from durabletask_payloads import FileSystemPayloadStore, InMemoryPayloadStore, PayloadStore

from ..conftest import Backend
from ..helpers import orders
from .conftest import SCENARIO_OPTIONS, Env, start_env, stop_env

pytestmark = pytest.mark.e2e

SECRET = {"victim": orders(20, seed=1201)}  # well above the 1 KiB threshold
COMPLETED = dt_client.OrchestrationStatus.COMPLETED


def return_input(ctx: task.OrchestrationContext, value: Any) -> Any:
    return value


def report_version(ctx: task.OrchestrationContext, _: Any) -> Any:
    return {"version": ctx.version}


def child_with_version(ctx: task.OrchestrationContext, version: str) -> Any:
    return (yield ctx.call_sub_orchestrator(report_version, version=version))


def wait_then_report(ctx: task.OrchestrationContext, _: Any) -> Any:
    yield ctx.wait_for_external_event("go")
    return {"version": ctx.version}


def _register(worker: Any) -> None:
    for orchestrator in (return_input, report_version, child_with_version, wait_then_report):
        worker.add_orchestrator(orchestrator)


@pytest.fixture(scope="module", params=["memory", "filesystem"])
def env(
    request: pytest.FixtureRequest, own_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    store: PayloadStore
    if request.param == "memory":
        store = InMemoryPayloadStore(SCENARIO_OPTIONS)
    else:
        store = FileSystemPayloadStore(tmp_path_factory.mktemp("raw") / "p", SCENARIO_OPTIONS)
    running = start_env(request.param, store, own_backend.address, register_with=_register)
    yield running
    stop_env(running)
    store.close()


@pytest.fixture(scope="module")
def victim(env: Env) -> tuple[str, str]:
    """Another instance, and the real token of its input as the backend holds it."""
    state = env.run(return_input, SECRET)
    assert state.runtime_status == COMPLETED
    raw = env.raw.get_orchestration_state(state.instance_id)
    assert raw is not None and raw.serialized_input is not None
    token = raw.serialized_input
    assert env.is_token(token)
    assert json.loads(env.store.download(token)) == SECRET  # it is the real thing
    return state.instance_id, token


@pytest.fixture
def victim_token(victim: tuple[str, str]) -> str:
    return victim[1]


def _output(state: dt_client.OrchestrationState) -> Any:
    assert state.runtime_status == COMPLETED, state.failure_details
    return json.loads(state.serialized_output or "null")


class TestVersions:
    def test_an_orchestration_sees_its_version_as_given_even_if_it_is_a_token(
        self, env: Env, victim_token: str
    ) -> None:
        before = env.store.snapshot()
        state = env.run(report_version, version=victim_token)
        assert _output(state) == {"version": victim_token}
        # Nothing was fetched for it: the victim's payload never left the store.
        assert env.store.snapshot()[1] == before[1]
        # And the history, read through the payload interceptor, holds the token string.
        (started,) = [e for e in env.history(state.instance_id) if e.HasField("executionStarted")]
        assert started.executionStarted.version.value == victim_token

    def test_a_sub_orchestration_version_equal_to_a_token_stays_that_token(
        self, env: Env, victim_token: str
    ) -> None:
        assert _output(env.run(child_with_version, victim_token)) == {"version": victim_token}

    def test_a_large_version_is_sent_inline(self, env: Env) -> None:
        version = "v" + "9" * 4000  # above the threshold; a version is text, never externalized
        state = env.run(report_version, version=version)
        assert _output(state) == {"version": version}
        (started,) = [
            e for e in env.history(state.instance_id, resolve=False) if e.HasField("executionStarted")
        ]
        assert started.executionStarted.version.value == version


class TestReasons:
    def test_suspend_and_resume_reasons_equal_to_a_token_stay_the_token_in_history(
        self, env: Env, victim_token: str
    ) -> None:
        instance_id = env.start(wait_then_report, instance_id=f"reasons-{uuid.uuid4().hex}")
        env.client.wait_for_orchestration_start(instance_id, timeout=30)
        env.client.suspend_orchestration(instance_id, reason=victim_token)
        env.client.resume_orchestration(instance_id, reason=victim_token)
        env.client.raise_orchestration_event(instance_id, "go", data=None)
        assert _output(env.wait(instance_id)) == {"version": None}
        before = env.store.snapshot()
        events = env.history(instance_id)  # through the payload interceptor
        suspended = [e.executionSuspended.input.value for e in events if e.HasField("executionSuspended")]
        resumed = [e.executionResumed.input.value for e in events if e.HasField("executionResumed")]
        assert (suspended, resumed) == ([victim_token], [victim_token])
        assert env.store.snapshot()[1] == before[1]  # no download for them
        text = "".join(str(e) for e in events)
        assert "ORD-1201-" not in text  # not a byte of the victim's data


class TestPayloadFieldsStillWork:
    def test_the_token_is_resolved_where_this_package_put_it(self, env: Env, victim: tuple[str, str]) -> None:
        """Control: the same token, in the victim's own input field, is resolved for its readers."""
        instance_id, token = victim
        state = env.client.get_orchestration_state(instance_id, fetch_payloads=True)
        assert state is not None and json.loads(state.serialized_input or "null") == SECRET
        (started,) = [e for e in env.history(instance_id) if e.HasField("executionStarted")]
        assert json.loads(started.executionStarted.input.value) == SECRET
        (raw,) = [e for e in env.history(instance_id, resolve=False) if e.HasField("executionStarted")]
        assert raw.executionStarted.input.value == token
