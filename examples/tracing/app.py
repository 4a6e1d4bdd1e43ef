"""The fulfillment demo, traced: where the time of each activity went, payload transfers included.

The workflow of ``examples/large_payload`` (a batch of orders through two
activities) runs with OpenTelemetry's SDK configured. Spans are printed by
the SDK's console exporter as they end, one line each (``--json`` for the
exporter's full JSON), then the trace is drawn as a tree and the payload
metrics are summed up.

It runs on durabletask's in-memory backend, extended to carry trace context
between work items as the Durable Task Scheduler and the sidecar do (see
``backend.py``), with a FileSystemPayloadStore in a temporary directory. The
client and the worker each have their own store object on that directory, as
two processes would, and the worker's cache is off, so every transfer shows.

    pip install "durabletask-payloads[otel]" opentelemetry-sdk
    python examples/tracing/app.py [--orders 100] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import socket
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep gRPC's shutdown chatter out of the output

from durabletask import client as dt_client
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import durabletask_payloads as dtp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from backend import start_backend  # noqa: E402 - this example's own module, next to it


def _load_demo() -> Any:
    """The workflow and data of examples/large_payload/app.py (also named app.py, hence by path)."""
    spec = importlib.util.spec_from_file_location(
        "large_payload_demo", HERE.parent / "large_payload" / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()
fulfill, make_batch = demo.fulfill, demo.make_batch
plan_shipments, validate_orders = demo.plan_shipments, demo.validate_orders

PREFIX = "durabletask_payloads."


def one_line(span: ReadableSpan) -> str:
    """The console exporter's output for one span: name, ids, duration and the payload attributes."""
    context, parent = span.context, span.parent
    ids = f"span={context.span_id:016x}" if context else ""
    ids += f" parent={parent.span_id:016x}" if parent else " parent=-"
    return f"[span] {span.name} {ids} {_ms(span)} {_summary(span)}".rstrip() + "\n"


def _ms(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return ""
    return f"{(span.end_time - span.start_time) / 1e6:.1f} ms"


def _summary(span: ReadableSpan) -> str:
    attributes = dict(span.attributes or {})
    shown = []
    for key in ("message.type", "store.kind", "values", "payload.size", "stored.size", "cache.hits", "token"):
        if PREFIX + key in attributes:
            value = attributes[PREFIX + key]
            shown.append(f"{key}={value:,}" if isinstance(value, int) else f"{key}={value}")
    if attributes.get(PREFIX + "outcome") == "error":
        shown.append(f"error={attributes.get('error.type')}")
    if span.kind is trace.SpanKind.CLIENT and span.name.startswith(("activity:", "orchestration:")):
        shown.append("(client)")
    return " ".join(shown)


def draw(spans: list[ReadableSpan]) -> list[str]:
    """The spans as trees, each child under its parent, in the order they started."""
    known = {span.context.span_id for span in spans if span.context}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in known else None
        children[parent].append(span)
    lines: list[str] = []

    def walk(parent: int | None, indent: str) -> None:
        ordered = sorted(children.get(parent, []), key=lambda s: s.start_time or 0)
        for number, span in enumerate(ordered):
            last = number == len(ordered) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            lines.append(f"{indent}{branch}{span.name}  {_ms(span)}  {_summary(span)}".rstrip())
            deeper = indent if parent is None else indent + ("   " if last else "│  ")
            walk(span.context.span_id if span.context else None, deeper)

    walk(None, "")
    return lines


def metric_totals(reader: InMemoryMetricReader) -> dict[str, str]:
    """Each payload metric summed over its attributes: a counter's sum, a histogram's count and sum."""
    sums: dict[str, list[float]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name.startswith(PREFIX):
                    for point in metric.data.data_points:
                        total = sums.setdefault(f"{metric.name} ({metric.unit})", [0, 0])
                        if getattr(point, "value", None) is not None:
                            total[1] += point.value
                        else:
                            total[0] += point.count
                            total[1] += point.sum
    return {
        name: (
            f"{count:,.0f} measured, sum {value:,.{3 if name.endswith('(s)') else 0}f}"
            if count
            else f"{value:,.0f}"
        )
        for name, (count, value) in sums.items()
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("demo.durabletask")
    logger.setLevel(logging.ERROR)
    return logger


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100, help="orders in the batch (default 100, ~1 MB)")
    parser.add_argument("--json", action="store_true", help="print each span as the console exporter's JSON")
    args = parser.parse_args()

    # -- OpenTelemetry: what an application sets up once, at start ------------------------------------
    recorded = InMemorySpanExporter()  # keeps the spans, to draw the tree at the end
    console = ConsoleSpanExporter() if args.json else ConsoleSpanExporter(formatter=one_line)
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "fulfillment-demo"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(console))
    tracer_provider.add_span_processor(SimpleSpanProcessor(recorded))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    # -- the demo ---------------------------------------------------------------------------------
    batch = make_batch(args.orders)
    port = _free_port()
    backend = start_backend(port)
    address = f"localhost:{port}"
    root = tempfile.mkdtemp(prefix="durabletask-payloads-tracing-")
    worker_store = dtp.FileSystemPayloadStore(root, dtp.LargePayloadStorageOptions(cache_max_bytes=0))
    client_store = dtp.FileSystemPayloadStore(root)

    print(f"tracing demo: {args.orders} orders, {len(json.dumps(batch).encode()):,} bytes of JSON\n")
    worker = dtp.TaskHubGrpcWorker(host_address=address, payload_store=worker_store, logger=_quiet_logger())
    worker.add_orchestrator(fulfill)
    worker.add_activity(validate_orders)
    worker.add_activity(plan_shipments)
    worker.start()
    try:
        with dtp.TaskHubGrpcClient(
            host_address=address, payload_store=client_store, logger=_quiet_logger()
        ) as client:
            instance_id = client.schedule_new_orchestration(fulfill, input=batch)
            state = client.wait_for_orchestration_completion(instance_id, timeout=120)
    finally:
        worker.stop()
        backend.stop(grace=None)
    if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
        raise SystemExit(f"the orchestration did not complete: {state}")
    tracer_provider.force_flush()

    print("\nthe trace:\n")
    for line in draw(list(recorded.get_finished_spans())):
        print(f"  {line}")
    print("\npayload metrics (summed over their attributes):\n")
    for name, value in sorted(metric_totals(reader).items()):
        print(f"  {name:<48} {value}")
    print(f"\nresult: {state.serialized_output}")


if __name__ == "__main__":
    main()
