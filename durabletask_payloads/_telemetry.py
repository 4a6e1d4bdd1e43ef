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
lists the names (they are in :mod:`._otel`).

Span attributes name the store, container or bucket, token, sizes, retries,
outcome and error class; never a payload or a credential. An exception's
message is recorded only for this package's errors, whose messages are written
to be safe; of any other exception only its class is recorded.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import _otel
from ._otel import (
    AVAILABLE,
    CACHE_HITS,
    CACHE_MISSES,
    ERROR_TYPE,
    FOUND,
    INSTANCE_ID,
    MESSAGE_TYPE,
    OPERATION,
    OUTCOME,
    PAYLOAD_SIZE,
    RETRIES,
    SCOPE,
    STORE_KIND,
    STORED_SIZE,
    TOKEN,
    TRANSIENT,
    VALUES,
    Instruments,
    record_failure,
    store_attributes,
)

if AVAILABLE:
    from opentelemetry import context as _otel_context
    from opentelemetry import trace as _trace

    from ._trace_parent import carried_context, work_item_context

__all__ = [
    "batch",
    "cache_lookup",
    "retried",
    "traced",
    "work_item_scope",
]

F = TypeVar("F", bound=Callable[..., Any])

_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()


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
            record_failure(span, attributes, exc)
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
    tracer = _otel.tracer()
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
    instruments = _otel.instruments()
    if instruments is not None:
        attributes = store_attributes(store)
        attributes[OPERATION] = "download"
        if hits:
            instruments.cache_hits.add(hits, attributes)
        if misses:
            instruments.cache_misses.add(misses, attributes)


def work_item_scope(request: Any) -> contextlib.AbstractContextManager[None]:
    """Run a worker's handling of *request* in the trace context the backend sent with it.

    durabletask sends an activity's result after the activity's span has
    closed; inside this scope, the upload of that result still joins the trace.
    """
    if not AVAILABLE or _otel.tracer() is None:
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
        instruments: Instruments | None,
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
            record_failure(self._span, attributes, exc)
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
        instruments: Instruments,
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
            tracer, instruments = _otel.tracer(), _otel.instruments()
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
        tracer, instruments = _otel.tracer(), _otel.instruments()
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
    instruments = _otel.instruments()
    if instruments is not None:
        if transfer is not None:
            attributes: dict[str, Any] = store_attributes(transfer.store)
            attributes[OPERATION] = transfer.operation
        else:  # a request outside a traced transfer (a listing, say): the error names the operation
            attributes = {OPERATION: str(getattr(exc, "operation", "unknown"))}
        attributes[ERROR_TYPE] = type(exc).__name__
        instruments.retries.add(1, attributes)
