"""Lifecycle flows written once, driven by a sync or an async driver.

Purge and gc are generators that yield *steps* (lists of operations: a backend
call, a history read, a store inspection or deletion, the purge itself) and
receive, for each step, the outcomes in the same order: the result, or the
exception the operation raised. They hold all the logic and no I/O; the two
drivers here are the only twinned code, in the manner of httpx's auth flows.

Backend calls carry :data:`~durabletask_payloads._hooks.RAW_CALL`, so a channel
with the payload interceptor passes them through untouched: flows see tokens as
the backend holds them, and nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf.message import Message

from ._hooks import RAW_CALL
from ._store import PayloadStore

__all__ = [
    "Call",
    "Delete",
    "Flow",
    "History",
    "Inspect",
    "Metadata",
    "Purge",
    "drive",
    "drive_async",
    "unwrap",
]

T = TypeVar("T")
Metadata = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Call:
    """A unary ``TaskHubSidecarService`` call, e.g. ``Call("GetInstance", request)``."""

    method: str
    request: Message


@dataclass(frozen=True)
class History:
    """Read an instance's whole history (``StreamInstanceHistory``); the outcome is a list of events."""

    instance_id: str


@dataclass(frozen=True)
class Inspect:
    """``store.inspect(token)``: the outcome is a :class:`~durabletask_payloads.PayloadInfo`."""

    token: str


@dataclass(frozen=True)
class Delete:
    """``store.delete(token)``: the outcome is whether it was there."""

    token: str


@dataclass(frozen=True)
class Purge:
    """Run the purge the caller asked for; the outcome is durabletask's ``PurgeInstancesResult``."""


Op = Call | History | Inspect | Delete | Purge
#: A flow yields steps and receives their outcomes (results or exceptions), and returns a T.
Flow = Generator[Sequence[Op], list[Any], T]


def unwrap(outcome: Any) -> Any:
    """Return an outcome that is a result; raise one that is an exception."""
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _capture(run: Callable[[Op], Any], op: Op) -> Any:
    try:
        return run(op)
    except Exception as exc:  # noqa: BLE001 - handed to the flow, which decides
        return exc


def drive(
    flow: Flow[T],
    stub: Any,
    store: PayloadStore,
    *,
    metadata: Metadata = (),
    purge: Callable[[], Any] | None = None,
    concurrency: int = 8,
    executor: ThreadPoolExecutor | None = None,
) -> T:
    """Run *flow* with a sync ``TaskHubSidecarService`` stub; a step's operations run concurrently.

    Args:
        flow: The flow.
        stub: A sync stub (its channel may have the payload interceptor).
        store: The payload store that inspections and deletions go to.
        metadata: gRPC metadata for every call (e.g. a task hub); RAW_CALL is added.
        purge: What a :class:`Purge` operation runs.
        concurrency: How many operations of a step run at once.
        executor: A pool to use instead of one made (and shut down) here.

    """
    calls = (*metadata, RAW_CALL)

    def run(op: Op) -> Any:
        if isinstance(op, Call):
            return getattr(stub, op.method)(op.request, metadata=calls)
        if isinstance(op, History):
            request = pb.StreamInstanceHistoryRequest(instanceId=op.instance_id)
            return [
                event
                for chunk in stub.StreamInstanceHistory(request, metadata=calls)
                for event in chunk.events
            ]
        if isinstance(op, Inspect):
            return store.inspect(op.token)
        if isinstance(op, Delete):
            return store.delete(op.token)
        if purge is None:
            raise TypeError("this flow purges, but no purge was given to the driver")
        return purge()

    pool = executor
    try:
        step = next(flow)
        while True:
            if len(step) <= 1:
                outcomes = [_capture(run, op) for op in step]
            else:
                if pool is None:
                    pool = ThreadPoolExecutor(
                        max_workers=concurrency, thread_name_prefix="durabletask-payloads-lifecycle"
                    )
                outcomes = list(pool.map(functools.partial(_capture, run), step))
            step = flow.send(outcomes)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        if pool is not None and executor is None:
            pool.shutdown(wait=False)


async def drive_async(
    flow: Flow[T],
    stub: Any,
    store: PayloadStore,
    *,
    metadata: Metadata = (),
    purge: Callable[[], Awaitable[Any]] | None = None,
    concurrency: int = 8,
) -> T:
    """Async twin of :func:`drive`, for a ``grpc.aio`` stub (at most *concurrency* operations at once)."""
    calls = (*metadata, RAW_CALL)
    gate = asyncio.Semaphore(concurrency)

    async def run(op: Op) -> Any:
        if isinstance(op, Call):
            return await getattr(stub, op.method)(op.request, metadata=calls)
        if isinstance(op, History):
            request = pb.StreamInstanceHistoryRequest(instanceId=op.instance_id)
            return [
                event
                async for chunk in stub.StreamInstanceHistory(request, metadata=calls)
                for event in chunk.events
            ]
        if isinstance(op, Inspect):
            return await asyncio.to_thread(store.inspect, op.token)
        if isinstance(op, Delete):
            return await store.delete_async(op.token)
        if purge is None:
            raise TypeError("this flow purges, but no purge was given to the driver")
        return await purge()

    async def capture(op: Op) -> Any:
        async with gate:
            try:
                return await run(op)
            except Exception as exc:  # noqa: BLE001 - handed to the flow, which decides
                return exc

    try:
        step = next(flow)
        while True:
            outcomes = list(await asyncio.gather(*(capture(op) for op in step)))
            step = flow.send(outcomes)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def not_found(outcome: Any) -> bool:
    """Whether an outcome is the backend's NOT_FOUND (e.g. the history of an instance that is gone)."""
    return isinstance(outcome, grpc.RpcError) and outcome.code() == grpc.StatusCode.NOT_FOUND


def unimplemented(outcome: Any) -> bool:
    """Whether an outcome is the backend's UNIMPLEMENTED (e.g. a backend without entities)."""
    return isinstance(outcome, grpc.RpcError) and outcome.code() == grpc.StatusCode.UNIMPLEMENTED
