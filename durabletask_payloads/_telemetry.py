"""OpenTelemetry spans and metrics for payload batches and transfers: the one place that emits them.

* :func:`batch`: a span for each message externalized or resolved
  (``durabletask_payloads.externalize`` / ``durabletask_payloads.resolve``).
* :func:`traced`: wraps a store's ``upload``, ``download``, ``inspect`` and
  ``delete`` (and their async twins) in a span per transfer, and counts it.
  :class:`~durabletask_payloads.PayloadStore` applies it to every subclass.
* :func:`retried` and :func:`cache_lookup`: called by ``_retry`` and the batch
  methods of the store, to count retries and cache hits.

With opentelemetry-api missing, every entry point is a no-op and :func:`traced`
returns the method unchanged. With the API but no tracer or meter provider
configured (the API's proxies or no-op providers), nothing is created either:
the cost is one provider check per batch or transfer. docs/observability.md
lists the names.

Span attributes name the store, container or bucket, token, sizes, retries,
outcome and error class; never a payload or a credential. An exception's
message is recorded only for this package's errors, whose messages are written
to be safe; of any other exception only its class is recorded.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._exceptions import PayloadError
from ._version import __version__

try:
    from opentelemetry import context as _otel_context
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
    from opentelemetry.metrics import _internal as _metrics_globals
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    from ._trace_parent import carried_context, work_item_context
except ImportError:  # pragma: no cover - exercised only without the otel extra
    AVAILABLE = False
else:
    AVAILABLE = True

__all__ = [
    "AVAILABLE",
    "SCOPE",
    "batch",
    "cache_lookup",
    "retried",
    "traced",
    "work_item_scope",
]

F = TypeVar("F", bound=Callable[..., Any])

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

_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()


class _Instruments:
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


@dataclass
class _Providers:
    """The tracer and instruments made for the providers seen last (they are replaced in tests)."""

    tracer_provider: Any = None
    tracer: Any = None
    meter_provider: Any = None
    instruments: _Instruments | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_providers = _Providers()


# The API's get_*_provider() look the environment up on each call while no provider is set (about
# 1.5 us: more than the rest of a traced transfer without one). The module globals they read answer
# the same question at the cost of an attribute lookup; the public functions remain the fallback,
# for providers named in the environment and for an API that moved its globals.
_FROM_ENV = {"OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER"} & set(os.environ)
_TRACE_GLOBAL = "_TRACER_PROVIDER"
_METER_GLOBAL = "_METER_PROVIDER"
_MISSING = object()


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


def _tracer() -> Any:
    """Return this package's tracer, or None when no tracer provider is configured."""
    provider = _tracer_provider()
    if provider is None:
        return None
    if provider is _providers.tracer_provider:
        return _providers.tracer
    tracer = None
    if not isinstance(provider, (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)):
        tracer = provider.get_tracer(SCOPE, __version__)
    with _providers.lock:
        _providers.tracer_provider, _providers.tracer = provider, tracer
    return tracer


def _instruments() -> _Instruments | None:
    """Return this package's instruments, or None when no meter provider is configured."""
    provider = _meter_provider()
    if provider is None:
        return None
    if provider is _providers.meter_provider:
        return _providers.instruments
    instruments = None
    if not isinstance(provider, (_ProxyMeterProvider, _metrics.NoOpMeterProvider)):
        instruments = _Instruments(provider.get_meter(SCOPE, __version__))
    with _providers.lock:
        _providers.meter_provider, _providers.instruments = provider, instruments
    return instruments


def store_attributes(store: Any) -> dict[str, str]:
    """Name a store by its class and, when its options have one, its container or bucket."""
    attributes = {STORE_KIND: type(store).__name__}
    options = getattr(store, "options", None)
    container = getattr(options, "container_name", None) or getattr(options, "bucket", None)
    if isinstance(container, str) and container:
        attributes[STORE_CONTAINER] = container
    return attributes


def _fail(span: Any, attributes: dict[str, Any], exc: BaseException) -> None:
    attributes[OUTCOME] = "error"
    attributes[ERROR_TYPE] = type(exc).__name__
    attributes[TRANSIENT] = bool(getattr(exc, "transient", False))
    if span is not None:
        # Only our own messages are known to hold no payload and no credential.
        safe = isinstance(exc, PayloadError)
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, str(exc) if safe else type(exc).__name__))
        if safe:
            span.record_exception(exc)


# -- batches -------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Batch:
    """What the transfers of one batch add up to (they may run on other threads)."""

    payload_bytes: int = 0
    hits: int = 0
    misses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, size: int = 0, hits: int = 0, misses: int = 0) -> None:
        with self.lock:
            self.payload_bytes += size
            self.hits += hits
            self.misses += misses


_BATCH: ContextVar[_Batch | None] = ContextVar("durabletask_payloads_batch", default=None)


class _BatchScope:
    """The span of one message's externalization or resolution, current while it runs."""

    def __init__(
        self, tracer: Any, operation: str, store: Any, message: Any, values: int, instance_id: str | None
    ) -> None:
        self._tracer = tracer
        self._operation = operation
        self._store = store
        self._message = message
        self._values = values
        self._instance_id = instance_id
        self._batch = _Batch()
        self._span: Any = None
        self._tokens: tuple[Any, ...] = ()

    def __enter__(self) -> None:
        batch_token = _BATCH.set(self._batch)
        current = _trace.get_current_span().get_span_context()
        parent = carried_context(self._message, current)
        attributes: dict[str, Any] = {
            OPERATION: self._operation,
            STORE_KIND: type(self._store).__name__,
            MESSAGE_TYPE: self._message.DESCRIPTOR.name,
            VALUES: self._values,
        }
        if self._instance_id is not None:
            attributes[INSTANCE_ID] = self._instance_id
        self._span = self._tracer.start_span(
            f"{SCOPE}.{self._operation}", context=parent, attributes=attributes
        )
        context_token = _otel_context.attach(_trace.set_span_in_context(self._span))
        self._tokens = (batch_token, context_token)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        _BATCH.reset(self._tokens[0])
        _otel_context.detach(self._tokens[1])
        span = self._span
        attributes: dict[str, Any] = {PAYLOAD_SIZE: self._batch.payload_bytes, OUTCOME: "ok"}
        if self._operation == "resolve":
            attributes[CACHE_HITS] = self._batch.hits
            attributes[CACHE_MISSES] = self._batch.misses
        if exc is not None:
            _fail(span, attributes, exc)
        span.set_attributes(attributes)
        span.end()


def batch(
    operation: str, store: Any, message: Any, values: int, *, instance_id: str | None = None
) -> contextlib.AbstractContextManager[None]:
    """Return a context manager that traces one message's ``"externalize"`` or ``"resolve"`` batch.

    Transfers made inside it are its children, on any thread the store uses.
    Without opentelemetry or a tracer provider it is a shared no-op (batches have no metrics
    of their own: their transfers and cache lookups are counted).
    """
    if not AVAILABLE:
        return _NULL
    tracer = _tracer()
    if tracer is None:
        return _NULL
    return _BatchScope(tracer, operation, store, message, values, instance_id)


def cache_lookup(store: Any, hits: int, misses: int, hit_bytes: int) -> None:
    """Count a batch's cache hits (*hit_bytes* payload bytes in all) and misses."""
    if not AVAILABLE:
        return
    current = _BATCH.get()
    if current is not None:
        current.add(hit_bytes, hits, misses)
    instruments = _instruments()
    if instruments is not None:
        attributes = store_attributes(store)
        if hits:
            instruments.cache_hits.add(hits, attributes)
        if misses:
            instruments.cache_misses.add(misses, attributes)


def work_item_scope(request: Any) -> contextlib.AbstractContextManager[None]:
    """Run a worker's handling of *request* in the trace context the backend sent with it.

    durabletask sends an activity's result after the activity's span has
    closed; inside this scope, the upload of that result still joins the trace.
    """
    if not AVAILABLE or _tracer() is None:
        return _NULL
    context = work_item_context(request)
    return _NULL if context is None else _attached(context)


@contextlib.contextmanager
def _attached(context: Any) -> Any:
    token = _otel_context.attach(context)
    try:
        yield
    finally:
        _otel_context.detach(token)


# -- transfers -----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Transfer:
    """One upload, download, head or delete in progress."""

    operation: str
    store: Any
    retries: int = 0


_TRANSFER: ContextVar[_Transfer | None] = ContextVar("durabletask_payloads_transfer", default=None)


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str) -> Any:
    return args[0] if args else kwargs.get(name)


class _TransferScope:
    """Times one transfer, traces it and counts it."""

    def __init__(
        self,
        operation: str,
        store: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        tracer: Any,
        instruments: _Instruments | None,
    ) -> None:
        self.transfer = _Transfer(operation, store)
        self._args = args
        self._kwargs = kwargs
        self._tracer = tracer
        self._instruments = instruments
        self._span: Any = None
        self._tokens: tuple[Any, ...] = ()
        self._started = 0.0

    def enter(self) -> None:
        transfer_token = _TRANSFER.set(self.transfer)
        if self._tracer is not None:
            operation = self.transfer.operation
            self._span = self._tracer.start_span(
                f"{SCOPE}.{operation}", kind=_trace.SpanKind.CLIENT, attributes={OPERATION: operation}
            )
            self._tokens = (transfer_token, _otel_context.attach(_trace.set_span_in_context(self._span)))
        else:
            self._tokens = (transfer_token,)
        self._started = time.perf_counter()

    def exit(self, result: Any, exc: BaseException | None) -> None:
        elapsed = time.perf_counter() - self._started
        _TRANSFER.reset(self._tokens[0])
        if len(self._tokens) > 1:
            _otel_context.detach(self._tokens[1])
        transfer = self.transfer
        operation = transfer.operation
        common = store_attributes(transfer.store)  # the innermost store that did the work
        common[OPERATION] = operation
        attributes: dict[str, Any] = {**common, OUTCOME: "ok", RETRIES: transfer.retries}
        size = self._describe(attributes, result if exc is None else None)
        if exc is not None:
            _fail(self._span, attributes, exc)
        elif size is not None:
            current = _BATCH.get()
            if current is not None:
                current.add(size)
        if self._span is not None:
            self._span.set_attributes(attributes)
            self._span.end()
        if self._instruments is not None:
            self._count(self._instruments, common, attributes, size, elapsed)

    def _describe(self, attributes: dict[str, Any], result: Any) -> int | None:
        """Add the token and sizes to *attributes*; return the payload size moved, if any."""
        operation = self.transfer.operation
        if operation == "upload":
            data = _argument(self._args, self._kwargs, "data")
            instance_id = self._kwargs.get("instance_id")
            if instance_id is not None:
                attributes[INSTANCE_ID] = instance_id
            if isinstance(result, str):
                attributes[TOKEN] = result
            size = len(data) if isinstance(data, (bytes, bytearray, memoryview)) else None
        else:
            token = _argument(self._args, self._kwargs, "token")
            if isinstance(token, str):
                attributes[TOKEN] = token
            size = len(result) if isinstance(result, (bytes, bytearray, memoryview)) else None
            if operation == "head" and result is not None:
                if isinstance(result.size, int):
                    attributes[PAYLOAD_SIZE] = result.size
                attributes[STORED_SIZE] = result.stored_size
            elif operation == "delete" and isinstance(result, bool):
                attributes[FOUND] = result
        if size is not None:
            attributes[PAYLOAD_SIZE] = size
        return size if operation in ("upload", "download") else None

    def _count(
        self,
        instruments: _Instruments,
        common: dict[str, Any],
        attributes: dict[str, Any],
        size: int | None,
        elapsed: float,
    ) -> None:
        instruments.duration.record(elapsed, {**common, OUTCOME: attributes[OUTCOME]})
        if attributes[OUTCOME] != "ok":
            instruments.failures.add(
                1, {**common, ERROR_TYPE: attributes[ERROR_TYPE], TRANSIENT: attributes[TRANSIENT]}
            )
            return
        operation = self.transfer.operation
        if operation == "upload":
            instruments.uploads.add(1, common)
            if size is not None:
                instruments.upload_bytes.add(size, common)
                instruments.size.record(size, common)
        elif operation == "download":
            instruments.downloads.add(1, common)
            if size is not None:
                instruments.download_bytes.add(size, common)
                instruments.size.record(size, common)


def traced(operation: str, method: F) -> F:
    """Wrap a store method so that each call is a ``durabletask_payloads.<operation>`` transfer.

    A call made while a transfer of the same operation is running (a routing
    or wrapping store passing it on, ``super()``, a sync twin run in a thread)
    is part of that transfer: the transfer is named after the innermost store.
    """
    if not AVAILABLE:
        return method

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def traced_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            outer = _TRANSFER.get()
            if outer is not None and outer.operation == operation:
                outer.store = self
                return await method(self, *args, **kwargs)
            tracer, instruments = _tracer(), _instruments()
            if tracer is None and instruments is None:
                return await method(self, *args, **kwargs)
            scope = _TransferScope(operation, self, args, kwargs, tracer, instruments)
            scope.enter()
            try:
                result = await method(self, *args, **kwargs)
            except BaseException as exc:
                scope.exit(None, exc)
                raise
            scope.exit(result, None)
            return result

        return traced_async  # type: ignore[return-value]

    @functools.wraps(method)
    def traced_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        outer = _TRANSFER.get()
        if outer is not None and outer.operation == operation:
            outer.store = self
            return method(self, *args, **kwargs)
        tracer, instruments = _tracer(), _instruments()
        if tracer is None and instruments is None:
            return method(self, *args, **kwargs)
        scope = _TransferScope(operation, self, args, kwargs, tracer, instruments)
        scope.enter()
        try:
            result = method(self, *args, **kwargs)
        except BaseException as exc:
            scope.exit(None, exc)
            raise
        scope.exit(result, None)
        return result

    return traced_sync  # type: ignore[return-value]


def retried(exc: BaseException) -> None:
    """Count one retry of the current transfer after the transient failure *exc*."""
    if not AVAILABLE:
        return
    transfer = _TRANSFER.get()
    if transfer is not None:
        transfer.retries += 1
    instruments = _instruments()
    if instruments is not None:
        if transfer is not None:
            attributes: dict[str, Any] = store_attributes(transfer.store)
            attributes[OPERATION] = transfer.operation
        else:  # a request outside a traced transfer (a listing, say): the error names the operation
            attributes = {OPERATION: str(getattr(exc, "operation", "unknown"))}
        attributes[ERROR_TYPE] = type(exc).__name__
        instruments.retries.add(1, attributes)
