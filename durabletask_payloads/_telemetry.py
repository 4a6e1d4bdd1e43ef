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
lists the names (they are in :mod:`._otel`); the scopes that build each span
are in :mod:`._spans`.

Span attributes name the store, container or bucket, token, sizes, retries,
outcome and error class; never a payload or a credential. An exception's
message is recorded only for this package's errors, whose messages are written
to be safe; of any other exception only its class is recorded.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import _otel
from ._otel import AVAILABLE, ERROR_TYPE, OPERATION, store_attributes

if AVAILABLE:
    from opentelemetry import context as _otel_context

    from . import _spans
    from ._trace_parent import work_item_context

__all__ = [
    "batch",
    "cache_lookup",
    "retried",
    "traced",
    "work_item_scope",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_log = logging.getLogger("durabletask_payloads.telemetry")

_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()


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
    return _spans.BatchScope(tracer, operation, store, message, values, instance_id)


def cache_lookup(store: Any, hits: int, misses: int, hit_bytes: int) -> None:
    """Count a batch's cache hits (*hit_bytes* payload bytes in all) and misses."""
    if not AVAILABLE:
        return
    current = _spans.BATCH.get()
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
            with _Transfer(operation, self, args, kwargs) as transfer:
                return transfer.done(await method(self, *args, **kwargs))

        return traced_async  # type: ignore[return-value]

    @functools.wraps(method)
    def traced_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _Transfer(operation, self, args, kwargs) as transfer:
            return transfer.done(method(self, *args, **kwargs))

    return traced_sync  # type: ignore[return-value]


class _Transfer:
    """One traced call, sync or async alike: begun on entry, finished with its result or exception."""

    def __init__(self, operation: str, store: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        self._begin = (operation, store, args, kwargs)
        self._scope: _spans.TransferScope | None = None

    def __enter__(self) -> _Transfer:
        self._scope = _begin(*self._begin)
        return self

    def done(self, result: T) -> T:
        """Finish the transfer with *result* (what the call returned), and return it."""
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.finish(result, None)
        return result

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        scope, self._scope = self._scope, None
        if scope is not None and exc is not None:
            scope.finish(None, exc)


def _begin(
    operation: str, store: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> _spans.TransferScope | None:
    """Start a transfer, or return None when this call is part of one already or nothing records."""
    outer = _spans.TRANSFER.get()
    if outer is not None and outer.operation == operation:
        outer.store = store
        return None
    tracer, instruments = _otel.tracer(), _otel.instruments()
    if tracer is None and instruments is None:
        return None
    scope = _spans.TransferScope(operation, store, args, kwargs, tracer, instruments)
    try:
        scope.enter()
    except Exception:  # noqa: BLE001 - telemetry never stands in the way of a transfer
        _log.debug("Could not start the span of a %s", operation, exc_info=True)
        return None
    return scope


def retried(exc: BaseException) -> None:
    """Count one retry of the current transfer after the transient failure *exc*."""
    if not AVAILABLE:
        return
    transfer = _spans.TRANSFER.get()
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
