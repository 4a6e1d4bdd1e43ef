"""A finished ``ledger`` orchestration on a real in-memory backend with a worker and a filesystem store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from durabletask_payloads import FileSystemPayloadStore, LargePayloadStorageOptions
from durabletask_payloads._externalize import payload_tokens

from ..conftest import Backend
from ..e2e.conftest import Env, start_env, stop_env
from . import workflows

LEDGER_OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)


@dataclass
class Ledger:
    """The instance, what was sent, and how the backend holds it (tokens, not payloads)."""

    env: Env
    store: FileSystemPayloadStore
    root: Path
    instance_id: str
    raw_input: str
    events: list[pb.HistoryEvent]
    state: pb.OrchestrationState

    @property
    def address(self) -> str:
        return self.env.address

    def tokens(self) -> list[str]:
        """Every token the state and history refer to, each once, in the order first seen."""
        found: dict[str, None] = {}
        for message in [self.state, *self.events]:
            found.update(dict.fromkeys(payload_tokens(message, self.store)))
        return list(found)


@pytest.fixture(scope="module")
def ledger(own_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    root = tmp_path_factory.mktemp("ledger") / "payloads"
    store = FileSystemPayloadStore(root, LEDGER_OPTIONS)
    env = start_env("ledger", store, own_backend.address, register_with=workflows.register)
    try:
        raw = workflows.ledger_input()
        json.loads(raw)  # valid for Python (NaN included), so the orchestrator can read it
        instance_id = "ledger-" + own_backend.address.rsplit(":", 1)[1]
        # Through the payload interceptor but not the data converter: the input stays as written.
        env.stub.StartInstance(
            pb.CreateInstanceRequest(
                instanceId=instance_id, name="ledger", input=wrappers_pb2.StringValue(value=raw)
            )
        )
        env.wait(instance_id)
        state = env.raw_stub.GetInstance(
            pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
        ).orchestrationState
        events = env.history(instance_id, resolve=False)
        yield Ledger(env, store, root, instance_id, raw, events, state)
    finally:
        stop_env(env)
        store.close()
