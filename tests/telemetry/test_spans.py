"""Spans of payload batches and transfers, recorded by the real OpenTelemetry SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from durabletask_payloads import (
    FileSystemPayloadStore,
    FileSystemPayloadStoreOptions,
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadInfo,
    PayloadNotFoundError,
    PayloadStore,
    RoutingPayloadStore,
    by_size,
    deexternalize_payloads,
    deexternalize_payloads_async,
    externalize_payloads,
    externalize_payloads_async,
)
from durabletask_payloads import _otel as otel_module
from durabletask_payloads import _telemetry as telemetry_module

from .conftest import PAYLOAD, Telemetry, recording

THRESHOLD = 1024
OPTIONS = LargePayloadStorageOptions(threshold_bytes=THRESHOLD)
FILE_OPTIONS = FileSystemPayloadStoreOptions(threshold_bytes=THRESHOLD, fsync=False)
ROOT = Path(__file__).resolve().parents[2]


def _value(tag: str, size: int = 3000) -> str:
    return json.dumps({"tag": tag, "rows": ["x" * 40] * (size // 44)})


def _scheduling(*inputs: str) -> pb.OrchestratorResponse:
    """An orchestrator's response scheduling one activity per input."""
    response = pb.OrchestratorResponse(instanceId="order-7")
    for number, value in enumerate(inputs):
        action = response.actions.add(id=number)
        action.scheduleTask.name = "ship"
        action.scheduleTask.input.value = value
    return response


def _inputs(response: pb.OrchestratorResponse) -> list[str]:
    return [action.scheduleTask.input.value for action in response.actions]


def assert_no_payload(spans: list[ReadableSpan], payloads: list[str]) -> None:
    """No attribute, event or status of any span holds any part of a payload."""
    for span in spans:
        texts = [str(value) for value in (span.attributes or {}).values()]
        texts += [str(value) for event in span.events for value in (event.attributes or {}).values()]
        texts.append(span.status.description or "")
        for text in texts:
            for payload in payloads:
                assert payload[:64] not in text, f"{span.name} carries payload data"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileSystemPayloadStore]:
    with FileSystemPayloadStore(tmp_path / "payloads", FILE_OPTIONS) as opened:
        yield opened


class TestBatchSpans:
    def test_externalize_is_one_span_with_an_upload_span_per_distinct_value(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """Two distinct large inputs (one given twice): one batch span, two upload spans under it."""
        first, second = _value("a"), _value("b")
        response = _scheduling(first, second, first, "small")

        assert externalize_payloads(response, store, instance_id="order-7") == 3

        (batch,) = telemetry.spans(f"{PAYLOAD}externalize")
        attributes = dict(batch.attributes or {})
        assert attributes[f"{PAYLOAD}operation"] == "externalize"
        assert attributes[f"{PAYLOAD}store.kind"] == "FileSystemPayloadStore"
        assert attributes[f"{PAYLOAD}message.type"] == "OrchestratorResponse"
        assert attributes[f"{PAYLOAD}instance_id"] == "order-7"
        assert attributes[f"{PAYLOAD}values"] == 2
        assert attributes[f"{PAYLOAD}payload.size"] == len(first) + len(second)
        assert attributes[f"{PAYLOAD}outcome"] == "ok"
        assert batch.kind is SpanKind.INTERNAL
        uploads = telemetry.children(batch)
        assert [span.name for span in uploads] == [f"{PAYLOAD}upload"] * 2
        tokens = _inputs(response)
        assert sorted(str((span.attributes or {})[f"{PAYLOAD}token"]) for span in uploads) == sorted(
            {tokens[0], tokens[1]}
        )
        for span in uploads:
            assert span.kind is SpanKind.CLIENT
            assert (span.attributes or {})[f"{PAYLOAD}payload.size"] == len(first)
            assert (span.attributes or {})[f"{PAYLOAD}retries"] == 0
        assert_no_payload(telemetry.payload_spans(), [first, second])

    def test_resolve_counts_cache_misses_then_hits(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """A fresh store downloads both tokens (two misses); resolving them again hits the cache."""
        first, second = _value("a"), _value("b")
        response = _scheduling(first, second)
        externalize_payloads(response, store, instance_id="order-7")
        tokenized = pb.OrchestratorResponse()
        tokenized.CopyFrom(response)
        reader = FileSystemPayloadStore(store.root, OPTIONS)  # another process's view: an empty cache

        assert deexternalize_payloads(response, reader) == 2
        again = pb.OrchestratorResponse()
        again.CopyFrom(tokenized)
        assert deexternalize_payloads(again, reader) == 2

        cold, warm = telemetry.spans(f"{PAYLOAD}resolve")
        assert dict(cold.attributes or {})[f"{PAYLOAD}cache.misses"] == 2
        assert dict(cold.attributes or {})[f"{PAYLOAD}cache.hits"] == 0
        assert dict(warm.attributes or {})[f"{PAYLOAD}cache.hits"] == 2
        assert dict(warm.attributes or {})[f"{PAYLOAD}cache.misses"] == 0
        for span in (cold, warm):
            assert dict(span.attributes or {})[f"{PAYLOAD}payload.size"] == len(first) + len(second)
        downloads = telemetry.children(cold)
        assert sorted(str((s.attributes or {})[f"{PAYLOAD}token"]) for s in downloads) == sorted(
            _inputs(tokenized)
        )
        assert telemetry.children(warm) == []  # nothing was fetched
        assert_no_payload(telemetry.payload_spans(), [first, second])

    def test_a_batch_made_under_a_current_span_is_its_child(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """The caller's (or durabletask's) current span is the parent of the batch."""
        with trace.get_tracer("test").start_as_current_span("caller") as caller:
            externalize_payloads(_scheduling(_value("a")), store)
        (batch,) = telemetry.spans(f"{PAYLOAD}externalize")
        assert batch.parent is not None
        assert batch.parent.span_id == caller.get_span_context().span_id

    def test_a_work_item_joins_the_trace_it_carries(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """With no current span, an activity work item's resolution is a child of its propagated parent."""
        activity = pb.ActivityRequest(name="ship", taskId=3)
        activity.input.value = store.upload(_value("a").encode())
        activity.parentTraceContext.traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        item = pb.WorkItem(activityRequest=activity)

        deexternalize_payloads(item, store)

        (batch,) = telemetry.spans(f"{PAYLOAD}resolve")
        assert batch.context is not None and batch.parent is not None
        assert batch.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
        assert batch.parent.span_id == 0xB7AD6B7169203331
        assert dict(batch.attributes or {})[f"{PAYLOAD}message.type"] == "WorkItem"

    def test_an_orchestrators_response_belongs_to_the_orchestrations_span(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """The span id durabletask fixes for the orchestration, in the trace the worker runs it in."""
        response = _scheduling(_value("a"))
        response.orchestrationTraceContext.spanID.value = "00f067aa0ba902b7"
        with trace.get_tracer("test").start_as_current_span("work item") as work_item:
            externalize_payloads(response, store)

        (batch,) = telemetry.spans(f"{PAYLOAD}externalize")
        assert batch.parent is not None and batch.context is not None
        assert batch.parent.span_id == 0x00F067AA0BA902B7
        assert batch.context.trace_id == work_item.get_span_context().trace_id

    def test_without_a_current_span_the_response_names_its_trace_through_its_tasks(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """On a worker that runs work items outside their context, scheduled tasks carry the trace id."""
        response = _scheduling(_value("a"))
        response.orchestrationTraceContext.spanID.value = "00f067aa0ba902b7"
        carried = response.actions[0].scheduleTask.parentTraceContext
        carried.traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"

        externalize_payloads(response, store)

        (batch,) = telemetry.spans(f"{PAYLOAD}externalize")
        assert batch.parent is not None and batch.context is not None
        assert batch.parent.span_id == 0x00F067AA0BA902B7
        assert batch.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736

    async def test_async_twins_make_the_same_tree(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """Concurrent async transfers are still children of their batch."""
        response = _scheduling(_value("a"), _value("b"), _value("c"))
        await externalize_payloads_async(response, store, instance_id="order-7")
        reader = FileSystemPayloadStore(store.root, OPTIONS)
        await deexternalize_payloads_async(response, reader)

        for operation, transfer in (("externalize", "upload"), ("resolve", "download")):
            (batch,) = telemetry.spans(f"{PAYLOAD}{operation}")
            children = telemetry.children(batch)
            assert [span.name for span in children] == [f"{PAYLOAD}{transfer}"] * 3

    def test_a_failed_resolution_says_which_error_and_not_the_payload(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """A missing payload: the transfer and the batch end in error, with the error's class."""
        item = pb.WorkItem(activityRequest=pb.ActivityRequest(name="ship"))
        item.activityRequest.input.value = "file:v1:" + "0" * 32

        with pytest.raises(PayloadNotFoundError):
            deexternalize_payloads(item, store)

        (batch,) = telemetry.spans(f"{PAYLOAD}resolve")
        (download,) = telemetry.children(batch)
        for span in (batch, download):
            attributes = dict(span.attributes or {})
            assert span.status.status_code is StatusCode.ERROR
            assert attributes["error.type"] == "PayloadNotFoundError"
            assert attributes[f"{PAYLOAD}error.transient"] is False
            assert attributes[f"{PAYLOAD}outcome"] == "error"
        assert download.events[0].name == "exception"  # our messages are safe to record


class _Leaky(InMemoryPayloadStore):
    """A custom store whose client's error quotes a secret (as some SDKs' errors quote a URL)."""

    def download(self, token: str) -> bytes:
        raise RuntimeError("GET https://acct/x?sig=SECRET-SAS failed")


class TestTransferSpans:
    def test_head_and_delete_are_spans_of_their_own(
        self, telemetry: Telemetry, store: FileSystemPayloadStore
    ) -> None:
        """inspect() is a head span with both sizes; delete() says whether something was deleted."""
        data = _value("a").encode()
        token = store.upload(data, instance_id="order-7")
        info = store.inspect(token)
        assert store.delete(token) is True
        assert store.delete(token) is False

        (head,) = telemetry.spans(f"{PAYLOAD}head")
        assert dict(head.attributes or {})[f"{PAYLOAD}token"] == token
        assert dict(head.attributes or {})[f"{PAYLOAD}payload.size"] == len(data)
        assert dict(head.attributes or {})[f"{PAYLOAD}stored.size"] == info.stored_size
        deletes = telemetry.spans(f"{PAYLOAD}delete")
        assert [dict(span.attributes or {})[f"{PAYLOAD}found"] for span in deletes] == [True, False]
        (upload,) = telemetry.spans(f"{PAYLOAD}upload")
        assert dict(upload.attributes or {})[f"{PAYLOAD}instance_id"] == "order-7"

    def test_a_store_of_stores_makes_one_span_named_after_the_store_that_did_the_work(
        self, telemetry: Telemetry, tmp_path: Path
    ) -> None:
        """A routing store passes each call on: one span per transfer, not one per layer."""
        small, large = InMemoryPayloadStore(OPTIONS), FileSystemPayloadStore(tmp_path, OPTIONS)
        routing = RoutingPayloadStore([small, large], by_size(small, large, boundary=5000))
        token = routing.upload(_value("big", 8000).encode())
        routing.download(token)
        routing.inspect(token)

        spans = telemetry.payload_spans()
        assert [span.name for span in spans] == [f"{PAYLOAD}{op}" for op in ("upload", "download", "head")]
        for span in spans:
            assert dict(span.attributes or {})[f"{PAYLOAD}store.kind"] == "FileSystemPayloadStore"

    def test_a_foreign_exception_is_recorded_by_its_class_only(self, telemetry: Telemetry) -> None:
        """A custom store's own error may quote a secret: only its class reaches the span."""
        store = _Leaky(OPTIONS)
        with pytest.raises(RuntimeError):
            store.download("memory:v1:" + "0" * 32)
        (span,) = telemetry.spans(f"{PAYLOAD}download")
        assert span.status.description == "RuntimeError"
        assert dict(span.attributes or {})["error.type"] == "RuntimeError"
        assert span.events == ()

    def test_a_store_answering_oddly_is_still_answered(self, telemetry: Telemetry) -> None:
        """Telemetry never fails a call that succeeded, whatever the store returned."""

        class Odd(InMemoryPayloadStore):
            def inspect(self, token: str) -> PayloadInfo:
                return {"size": "unknown"}  # type: ignore[return-value]

        assert Odd(OPTIONS).inspect("memory:v1:" + "0" * 32) == {"size": "unknown"}
        (span,) = telemetry.spans(f"{PAYLOAD}head")
        assert dict(span.attributes or {})[f"{PAYLOAD}outcome"] == "ok"
        assert f"{PAYLOAD}stored.size" not in dict(span.attributes or {})

    def test_a_custom_stores_methods_are_traced_without_it_doing_anything(self, telemetry: Telemetry) -> None:
        """Any PayloadStore subclass gets transfer spans, and its methods keep their names and docs."""

        class Custom(InMemoryPayloadStore):
            def inspect(self, token: str) -> PayloadInfo:
                """Describe it."""
                return super().inspect(token)

        store = Custom(OPTIONS)
        store.inspect(store.upload(b"x" * 2000))
        assert Custom.inspect.__doc__ == "Describe it."
        assert Custom.inspect.__name__ == "inspect"
        assert [span.name for span in telemetry.payload_spans()] == [f"{PAYLOAD}upload", f"{PAYLOAD}head"]


class TestWithoutAProvider:
    def test_no_span_and_no_instrument_is_made(self, store: FileSystemPayloadStore) -> None:
        """The API's proxies are in place: batches are the shared no-op, nothing is created."""
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        assert otel_module.tracer() is None
        assert otel_module.instruments() is None
        message = _scheduling(_value("a"))
        assert telemetry_module.batch("externalize", store, message, 1) is telemetry_module._NULL
        assert externalize_payloads(message, store) == 1

    def test_the_fixture_puts_the_global_providers_back(self) -> None:
        """A test that records leaves no provider behind for the next one."""
        with recording() as recorded:
            assert not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            InMemoryPayloadStore(OPTIONS).upload(b"x" * 2000)
        assert len(recorded.payload_spans()) == 1
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
        assert otel_module.tracer() is None

    def test_without_opentelemetry_installed_nothing_is_wrapped(self, tmp_path: Path) -> None:
        """With the API missing, store methods are the plain functions and payloads still flow."""
        script = textwrap.dedent(
            """
            import sys
            sys.modules["opentelemetry"] = None  # what a missing package looks like to an import
            from durabletask.internal import orchestrator_service_pb2 as pb
            import durabletask_payloads as dtp
            from durabletask_payloads import _telemetry
            assert _telemetry.AVAILABLE is False
            assert not hasattr(dtp.InMemoryPayloadStore.upload, "__wrapped__")
            store = dtp.InMemoryPayloadStore(dtp.LargePayloadStorageOptions(threshold_bytes=1024))
            message = pb.ActivityResponse(instanceId="i")
            message.result.value = "x" * 5000
            assert dtp.externalize_payloads(message, store) == 1
            assert dtp.deexternalize_payloads(message, store) == 1
            assert message.result.value == "x" * 5000
            print("ok")
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok"

    def test_with_opentelemetry_installed_store_methods_are_wrapped(self) -> None:
        """The counterpart of the test above: the wrapping it checks for is really there."""
        assert hasattr(InMemoryPayloadStore.upload, "__wrapped__")
        assert not hasattr(PayloadStore.upload_many, "__wrapped__")  # batches are not transfers
