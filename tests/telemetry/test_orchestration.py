"""A fan-out orchestration on durabletask's real in-memory backend, traced and measured by the real SDK.

Two backends: ``durabletask.testing``'s as it is, which drops the trace context
durabletask sends (each orchestration and activity span is then a trace of its
own), and the same backend carrying that context as production backends do
(``examples/tracing/backend.py``), where the payload spans must form one tree
under durabletask's spans.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from durabletask import client as dt_client
from durabletask.testing import create_test_backend
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from durabletask_payloads import (
    FileSystemPayloadStore,
    FileSystemPayloadStoreOptions,
    LargePayloadStorageOptions,
    TaskHubGrpcClient,
    TaskHubGrpcWorker,
)

from ..e2e.workflows import echo, fan_out
from ..helpers import free_port
from .conftest import PAYLOAD, Telemetry

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)
FILE_OPTIONS = FileSystemPayloadStoreOptions(threshold_bytes=1024, fsync=False)
FAN_OUT = 3


def _load_example_backend() -> Any:
    path = ROOT / "examples" / "tracing" / "backend.py"
    spec = importlib.util.spec_from_file_location("tracing_backend", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Run:
    """One fan-out, finished, with the workers stopped (so every span has ended)."""

    state: dt_client.OrchestrationState
    store: FileSystemPayloadStore
    inputs: list[dict[str, Any]]


def _fan_out(address: str, root: Path) -> Run:
    # Two store objects on one directory, as a client and a worker in two processes would have.
    worker_store = FileSystemPayloadStore(root, FILE_OPTIONS)
    client_store = FileSystemPayloadStore(root, FILE_OPTIONS)
    inputs = [{"item": n, "rows": [f"row-{n}-{i:04d}" for i in range(300)]} for n in range(FAN_OUT)]
    worker = TaskHubGrpcWorker(host_address=address, payload_store=worker_store)
    worker.add_orchestrator(fan_out)
    worker.add_activity(echo)
    worker.start()
    try:
        with TaskHubGrpcClient(host_address=address, payload_store=client_store) as client:
            instance_id = client.schedule_new_orchestration(
                fan_out, input=inputs, instance_id=uuid.uuid4().hex[:12]
            )
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
    finally:
        worker.stop()
    assert state is not None
    assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
    assert json.loads(state.serialized_output or "{}")["all_echoed"] is True
    return Run(state, client_store, inputs)


@pytest.fixture
def plain(telemetry: Telemetry, tmp_path: Path) -> Iterator[Run]:
    port = free_port()
    backend = create_test_backend(port=port)
    try:
        yield _fan_out(f"localhost:{port}", tmp_path)
    finally:
        backend.stop(grace=None)


@pytest.fixture
def propagating(telemetry: Telemetry, tmp_path: Path) -> Iterator[Run]:
    port = free_port()
    backend = _load_example_backend().start_backend(port)
    try:
        yield _fan_out(f"localhost:{port}", tmp_path)
    finally:
        backend.stop(grace=None)


def _attribute(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(f"{PAYLOAD}{name}")


class TestOnTheInMemoryBackend:
    def test_the_metrics_count_what_moved(self, telemetry: Telemetry, plain: Run) -> None:
        """1 input, 3 activity inputs, 3 results uploaded; only the input downloaded (the rest is cached)."""
        stored = list(plain.store.list_payloads())
        assert len(stored) == 1 + 2 * FAN_OUT
        input_size = len(json.dumps(plain.inputs).encode())
        assert input_size in {info.size for info in stored}

        assert telemetry.total(f"{PAYLOAD}uploads") == 1 + 2 * FAN_OUT
        assert telemetry.total(f"{PAYLOAD}upload.bytes") == sum(info.size or 0 for info in stored)
        assert telemetry.total(f"{PAYLOAD}downloads") == 1
        assert telemetry.total(f"{PAYLOAD}download.bytes") == input_size
        assert telemetry.total(f"{PAYLOAD}cache.misses") == 1
        assert telemetry.total(f"{PAYLOAD}cache.hits") >= 1 + 2 * FAN_OUT  # each activity input, each result
        assert telemetry.total(f"{PAYLOAD}failures") == 0
        assert telemetry.total(f"{PAYLOAD}retries") == 0

    def test_the_clients_upload_is_under_durabletasks_create_orchestration_span(
        self, telemetry: Telemetry, plain: Run
    ) -> None:
        """The client's span is current when it sends the input: the batch and its upload nest under it."""
        (create,) = telemetry.spans("create_orchestration:fan_out")
        (batch,) = telemetry.children(create, PAYLOAD)
        assert batch.name == f"{PAYLOAD}externalize"
        assert _attribute(batch, "message.type") == "CreateInstanceRequest"
        (upload,) = telemetry.children(batch)
        assert _attribute(upload, "payload.size") == len(json.dumps(plain.inputs).encode())
        uploads, downloads = telemetry.spans(f"{PAYLOAD}upload"), telemetry.spans(f"{PAYLOAD}download")
        assert (len(uploads), len(downloads)) == (1 + 2 * FAN_OUT, 1)
        for span in uploads + downloads:  # every transfer belongs to a batch
            parent = telemetry.parent(span)
            assert parent is not None
            assert parent.name in (f"{PAYLOAD}externalize", f"{PAYLOAD}resolve")


class TestWithTraceContextPropagated:
    def test_payload_spans_form_one_tree_under_durabletasks_spans(
        self, telemetry: Telemetry, propagating: Run
    ) -> None:
        """create_orchestration > orchestration > activity (client) > resolve, activity, externalize."""
        # One trace, but for the client's wait for completion: a call of its own, made under no span.
        waits = [s for s in telemetry.spans() if _attribute(s, "message.type") == "GetInstanceResponse"]
        assert [telemetry.parent(span) for span in waits] == [None]
        others = [span for span in telemetry.spans() if span not in waits]
        assert len({span.context.trace_id for span in others if span.context}) == 1
        (create,) = telemetry.spans("create_orchestration:fan_out")
        (orchestration,) = telemetry.spans("orchestration:fan_out")
        assert telemetry.parent(orchestration) is create
        (client_batch,) = [s for s in telemetry.children(create, PAYLOAD) if s.name.endswith("externalize")]
        assert _attribute(client_batch, "message.type") == "CreateInstanceRequest"

        scheduling = [
            span
            for span in telemetry.children(orchestration, f"{PAYLOAD}externalize")
            if _attribute(span, "message.type") == "OrchestratorResponse"
        ]
        assert [len(telemetry.children(span, f"{PAYLOAD}upload")) for span in scheduling] == [FAN_OUT]

        calls = [span for span in telemetry.spans("activity:echo") if span.kind is SpanKind.CLIENT]
        assert len(calls) == FAN_OUT
        for call in calls:
            assert telemetry.parent(call) is orchestration
            children = telemetry.children(call)
            names = sorted(span.name for span in children)
            assert names == ["activity:echo", f"{PAYLOAD}externalize", f"{PAYLOAD}resolve"]
            by_name = {span.name: span for span in children}
            assert by_name["activity:echo"].kind is SpanKind.SERVER
            assert _attribute(by_name[f"{PAYLOAD}resolve"], "message.type") == "WorkItem"
            result = by_name[f"{PAYLOAD}externalize"]
            assert _attribute(result, "message.type") == "ActivityResponse"
            (upload,) = telemetry.children(result)
            assert upload.name == f"{PAYLOAD}upload"

        for span in telemetry.payload_spans():  # no payload span of the orchestration is left out
            assert span in waits or telemetry.parent(span) is not None, span.name
