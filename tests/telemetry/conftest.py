"""The real OpenTelemetry SDK with its in-memory span exporter and metric reader, installed for one test.

durabletask's own spans come from the global tracer provider, so the tests set
the global providers; OpenTelemetry's API lets a process set each only once, so
the fixture puts back what was there before (no provider: the API's proxies),
and no other test sees them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_globals
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

PAYLOAD = "durabletask_payloads."


@dataclass
class Telemetry:
    """What the SDK recorded during a test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, prefix: str = "") -> list[ReadableSpan]:
        """Finished spans whose name starts with *prefix*, in the order they started."""
        found = [span for span in self.exporter.get_finished_spans() if span.name.startswith(prefix)]
        return sorted(found, key=lambda span: span.start_time or 0)

    def payload_spans(self) -> list[ReadableSpan]:
        return self.spans(PAYLOAD)

    def children(self, parent: ReadableSpan, prefix: str = "") -> list[ReadableSpan]:
        assert parent.context is not None
        return [
            span
            for span in self.spans(prefix)
            if span.parent is not None and span.parent.span_id == parent.context.span_id
        ]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        for candidate in self.exporter.get_finished_spans():
            if candidate.context is not None and candidate.context.span_id == span.parent.span_id:
                return candidate
        return None

    def metric(self, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        """Points of metric *name* by attributes: sums of counters, (count, sum) of histograms."""
        points: dict[tuple[tuple[str, Any], ...], Any] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        value = getattr(point, "value", None)
                        points[key] = value if value is not None else (point.count, point.sum)
        return points

    def total(self, name: str, **where: Any) -> Any:
        """The sum of counter *name* over the points whose attributes include *where* (0 if none)."""
        # Keys are this package's attribute names without the prefix, or OpenTelemetry's error.type.
        wanted = {key if key == "error.type" else f"{PAYLOAD}{key}": value for key, value in where.items()}
        total = 0
        for key, value in self.metric(name).items():
            attributes = dict(key)
            if all(attributes.get(k) == v for k, v in wanted.items()):
                total += value
        return total


def _set_globals(tracer_provider: Any, meter_provider: Any) -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    metrics_globals._METER_PROVIDER_SET_ONCE = Once()
    metrics_globals._METER_PROVIDER = None
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)


@contextlib.contextmanager
def recording() -> Iterator[Telemetry]:
    """Make SDK providers recording in memory the global ones; then put back the old ones."""
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    saved = (trace._TRACER_PROVIDER, metrics_globals._METER_PROVIDER)  # type: ignore[attr-defined]
    _set_globals(tracer_provider, meter_provider)
    try:
        yield Telemetry(exporter, reader)
    finally:
        _set_globals(*saved)
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Global SDK tracer and meter providers recording in memory, for this test only."""
    with recording() as recorded:
        yield recorded
