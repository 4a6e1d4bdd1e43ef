"""The OpenTelemetry API, when it is installed: this package's names, instruments and providers.

:mod:`._telemetry` emits the spans and metrics; this module holds what it
needs from OpenTelemetry: the attribute names (docs/observability.md), the
metric instruments, and a cheap answer to "is a provider configured?".
"""

from __future__ import annotations

import os
from typing import Any

from ._exceptions import PayloadError
from ._version import __version__

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
    from opentelemetry.metrics import _internal as _metrics_globals
    from opentelemetry.metrics._internal import _ProxyMeterProvider
except ImportError:  # pragma: no cover - exercised only without the otel extra
    AVAILABLE = False
else:
    AVAILABLE = True

__all__ = ["AVAILABLE", "SCOPE", "Instruments", "instruments", "record_failure", "store_attributes", "tracer"]

#: The instrumentation scope of every tracer and meter of this package.
SCOPE = "durabletask_payloads"

# Attribute names (docs/observability.md).
OPERATION = "durabletask_payloads.operation"
STORE_KIND = "durabletask_payloads.store.kind"
STORE_CONTAINER = "durabletask_payloads.store.container"
TOKEN = "durabletask_payloads.token"  # noqa: S105 - an attribute name, not a secret
INSTANCE_ID = "durabletask_payloads.instance_id"
MESSAGE_TYPE = "durabletask_payloads.message.type"
VALUES = "durabletask_payloads.values"
PAYLOAD_SIZE = "durabletask_payloads.payload.size"
STORED_SIZE = "durabletask_payloads.stored.size"
CACHE_HITS = "durabletask_payloads.cache.hits"
CACHE_MISSES = "durabletask_payloads.cache.misses"
RETRIES = "durabletask_payloads.retries"
FOUND = "durabletask_payloads.found"
OUTCOME = "durabletask_payloads.outcome"
ERROR_TYPE = "error.type"  # OpenTelemetry's general attribute for the class of a failure
TRANSIENT = "durabletask_payloads.error.transient"

# Histogram buckets: transfer latency in seconds (OpenTelemetry's HTTP duration buckets), payload size
# in bytes (powers of 4 from 1 KiB to 64 MiB: the default threshold, 256 KiB, is a boundary).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_SIZE_BUCKETS = tuple(float(1024 * 4**n) for n in range(9))


class Instruments:
    """Every metric instrument of this package, made from one meter."""

    def __init__(self, meter: Any) -> None:
        self.uploads = meter.create_counter(
            "durabletask_payloads.uploads", "{payload}", "Payloads stored (each upload that succeeded)."
        )
        self.downloads = meter.create_counter(
            "durabletask_payloads.downloads",
            "{payload}",
            "Payloads fetched from a store (cache hits excluded).",
        )
        self.upload_bytes = meter.create_counter(
            "durabletask_payloads.upload.bytes", "By", "Payload bytes uploaded, before compression."
        )
        self.download_bytes = meter.create_counter(
            "durabletask_payloads.download.bytes", "By", "Payload bytes downloaded, after decompression."
        )
        self.cache_hits = meter.create_counter(
            "durabletask_payloads.cache.hits",
            "{payload}",
            "Tokens resolved from the cache, without a download.",
        )
        self.cache_misses = meter.create_counter(
            "durabletask_payloads.cache.misses", "{payload}", "Tokens not in the cache, so downloaded."
        )
        self.retries = meter.create_counter(
            "durabletask_payloads.retries", "{retry}", "Store requests tried again after a transient failure."
        )
        self.failures = meter.create_counter(
            "durabletask_payloads.failures", "{failure}", "Transfers that failed, by error class."
        )
        self.duration = meter.create_histogram(
            "durabletask_payloads.transfer.duration",
            "s",
            "Time a transfer took, retries and backoff included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.size = meter.create_histogram(
            "durabletask_payloads.payload.size",
            "By",
            "Size of each payload uploaded or downloaded, before compression.",
            explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
        )


class _Providers:
    """The tracer and instruments made for the providers seen last (tests replace the providers).

    Each is kept with its provider in one tuple, replaced whole, so that a reader
    on another thread never pairs a provider with what another one made.
    """

    def __init__(self) -> None:
        self.tracing: tuple[Any, Any] = (_MISSING, None)
        self.metering: tuple[Any, Instruments | None] = (_MISSING, None)


# The API's get_*_provider() look the environment up on each call while no provider is set (about
# 1.5 us: more than the rest of a traced transfer without one). The module globals they read answer
# the same question at the cost of an attribute lookup; the public functions remain the fallback,
# for providers named in the environment and for an API that moved its globals.
_FROM_ENV = {"OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER"} & set(os.environ)
_TRACE_GLOBAL = "_TRACER_PROVIDER"
_METER_GLOBAL = "_METER_PROVIDER"
_MISSING = object()
_providers = _Providers()


def _tracer_provider() -> Any:
    provider = getattr(_trace, _TRACE_GLOBAL, _MISSING)
    if provider is None and not _FROM_ENV:
        return None
    return _trace.get_tracer_provider() if provider is None or provider is _MISSING else provider


def _meter_provider() -> Any:
    provider = getattr(_metrics_globals, _METER_GLOBAL, _MISSING)
    if provider is None and not _FROM_ENV:
        return None
    return _metrics.get_meter_provider() if provider is None or provider is _MISSING else provider


def tracer() -> Any:
    """Return this package's tracer, or None when no tracer provider is configured."""
    provider = _tracer_provider()
    if provider is None:
        return None
    seen, tracer = _providers.tracing
    if provider is seen:
        return tracer
    tracer = None
    if not isinstance(provider, (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)):
        tracer = provider.get_tracer(SCOPE, __version__)
    _providers.tracing = (provider, tracer)
    return tracer


def instruments() -> Instruments | None:
    """Return this package's instruments, or None when no meter provider is configured."""
    provider = _meter_provider()
    if provider is None:
        return None
    seen, instruments = _providers.metering
    if provider is seen:
        return instruments
    instruments = None
    if not isinstance(provider, (_ProxyMeterProvider, _metrics.NoOpMeterProvider)):
        instruments = Instruments(provider.get_meter(SCOPE, __version__))
    _providers.metering = (provider, instruments)
    return instruments


def store_attributes(store: Any) -> dict[str, str]:
    """Name a store by its class and, when its options have one, its container or bucket."""
    attributes = {STORE_KIND: type(store).__name__}
    options = getattr(store, "options", None)
    container = getattr(options, "container_name", None) or getattr(options, "bucket", None)
    if isinstance(container, str) and container:
        attributes[STORE_CONTAINER] = container
    return attributes


def record_failure(span: Any, attributes: dict[str, Any], exc: BaseException) -> None:
    """Mark *attributes* (and *span*, if any) with the outcome and class of *exc*."""
    attributes[OUTCOME] = "error"
    attributes[ERROR_TYPE] = type(exc).__name__
    attributes[TRANSIENT] = bool(getattr(exc, "transient", False))
    if span is not None:
        # Only our own messages are known to hold no payload and no credential.
        safe = isinstance(exc, PayloadError)
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, str(exc) if safe else type(exc).__name__))
        if safe:
            span.record_exception(exc)
