"""The span and measurements of one batch or one transfer in progress (see :mod:`._telemetry`).

Only imported with opentelemetry-api installed. A batch's scope is current
while its transfers run, on whatever thread, so that their spans are its
children and their sizes add up to its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as _otel_context
from opentelemetry import trace as _trace

from ._otel import (
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
from ._trace_parent import carried_context

__all__ = ["BATCH", "TRANSFER", "Batch", "BatchScope", "Transfer", "TransferScope"]

_log = logging.getLogger("durabletask_payloads.telemetry")


# -- batches -------------------------------------------------------------------------------------


@dataclass(eq=False)
class Batch:
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


BATCH: ContextVar[Batch | None] = ContextVar("durabletask_payloads_batch", default=None)


class BatchScope:
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
        self._batch = Batch()
        self._span: Any = None
        self._tokens: tuple[Any, ...] = ()

    def __enter__(self) -> None:
        current = _trace.get_current_span().get_span_context()
        try:
            parent = carried_context(self._message, current)
        except Exception:  # noqa: BLE001 - a message unlike durabletask's: the current context will do
            _log.debug("No trace context read from a %s", type(self._message).__name__, exc_info=True)
            parent = None
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
        self._tokens = (BATCH.set(self._batch), context_token)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        BATCH.reset(self._tokens[0])
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


# -- transfers -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Transfer:
    """One upload, download, head or delete in progress."""

    operation: str
    store: Any
    retries: int = 0


TRANSFER: ContextVar[Transfer | None] = ContextVar("durabletask_payloads_transfer", default=None)


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str) -> Any:
    return args[0] if args else kwargs.get(name)


class TransferScope:
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
        self.transfer = Transfer(operation, store)
        self._args = args
        self._kwargs = kwargs
        self._tracer = tracer
        self._instruments = instruments
        self._span: Any = None
        self._tokens: tuple[Any, ...] = ()
        self._started = 0.0

    def enter(self) -> None:
        tokens: tuple[Any, ...] = ()
        if self._tracer is not None:
            operation = self.transfer.operation
            self._span = self._tracer.start_span(
                f"{SCOPE}.{operation}", kind=_trace.SpanKind.CLIENT, attributes={OPERATION: operation}
            )
            tokens = (_otel_context.attach(_trace.set_span_in_context(self._span)),)
        self._tokens = (TRANSFER.set(self.transfer), *tokens)
        self._started = time.perf_counter()

    def finish(self, result: Any, exc: BaseException | None) -> None:
        """End the transfer with *result* or *exc*: close its span, count it."""
        elapsed = time.perf_counter() - self._started
        TRANSFER.reset(self._tokens[0])
        if len(self._tokens) > 1:
            _otel_context.detach(self._tokens[1])
        try:
            self._record(result, exc, elapsed)
        except Exception:  # noqa: BLE001 - a store that returned something unusual still succeeded
            _log.debug("Could not record a %s", self.transfer.operation, exc_info=True)
            if self._span is not None and self._span.is_recording():
                self._span.end()

    def _record(self, result: Any, exc: BaseException | None, elapsed: float) -> None:
        transfer = self.transfer
        operation = transfer.operation
        common = store_attributes(transfer.store)  # the innermost store that did the work
        common[OPERATION] = operation
        attributes: dict[str, Any] = {**common, OUTCOME: "ok", RETRIES: transfer.retries}
        size = self._describe(attributes, result if exc is None else None)
        if exc is not None:
            record_failure(self._span, attributes, exc)
        elif size is not None:
            current = BATCH.get()
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
            if operation == "head":
                if isinstance(getattr(result, "size", None), int):
                    attributes[PAYLOAD_SIZE] = result.size
                if isinstance(getattr(result, "stored_size", None), int):
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
