"""A worker's transfer held through a store outage: the retry loop written once, for threads and tasks.

A work item's downloads and a completion's uploads are tried until they succeed,
waiting out transient failures within ``outage_budget_seconds`` (the timing is
:class:`~durabletask_payloads._workitems.OutageClock`'s). The loop is a flow
(``_steps.py``); the sync dispatcher and interceptor run it on :class:`WorkerIO`
(threads, with a backoff the worker's stop cuts short), the ``grpc.aio``
interceptor on :class:`AsyncWorkerIO` (tasks).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from google.protobuf.message import Message

from ._externalize import (
    deexternalize_payloads,
    deexternalize_payloads_async,
    externalize_payloads,
    externalize_payloads_async,
)
from ._steps import Flow, Op, op
from ._store import PayloadStore
from ._workitems import OutageClock

__all__ = ["AsyncWorkerIO", "Stopped", "WorkerIO", "externalizing", "held", "resolving"]


@dataclass(frozen=True)
class Stopped:
    """The worker stopped during a backoff; *error* is the failure the wait was for."""

    error: BaseException


def held(store: PayloadStore, operation: str, attempt: Op) -> Flow[BaseException | Stopped | None]:
    """Try *attempt* until it succeeds, waiting out transient failures within the outage budget.

    Returns None once it succeeded; the error to fail the item with once
    retrying ends (a permanent failure, or an outage past the budget); or
    :class:`Stopped` when the worker stopped during a backoff.
    """
    clock = OutageClock.for_store(store)
    while True:
        try:
            yield attempt
        except Exception as exc:  # noqa: BLE001 - any failure must fail the item, not the stream
            wait, error = clock.decide(exc, operation)
            if wait is None:
                return error
            if (yield op("backoff", wait)):
                return Stopped(exc)
        else:
            return None


def externalizing(request: Message, scope: str | None) -> Op:
    """Make the attempt of storing a completion's large values."""
    return op("externalize", request, scope)


def resolving(message: Message) -> Op:
    """Make the attempt of resolving a work item's tokens."""
    return op("resolve", message)


class WorkerIO:
    """The sync edge of :func:`held`: the store's calls on this thread, and a backoff *stop* cuts short."""

    def __init__(self, store: PayloadStore, stop: threading.Event) -> None:
        self._store = store
        self._stop = stop

    def externalize(self, request: Message, scope: str | None) -> None:
        externalize_payloads(request, self._store, instance_id=scope)

    def resolve(self, message: Message) -> None:
        deexternalize_payloads(message, self._store)

    def backoff(self, seconds: float) -> bool:
        """Wait *seconds*; True at once if the worker stops meanwhile."""
        return self._stop.wait(seconds)


class AsyncWorkerIO:
    """The async edge of :func:`held`: the store's async calls, and ``asyncio.sleep`` as the backoff."""

    def __init__(self, store: PayloadStore) -> None:
        self._store = store

    async def externalize(self, request: Message, scope: str | None) -> None:
        await externalize_payloads_async(request, self._store, instance_id=scope)

    async def resolve(self, message: Message) -> None:
        await deexternalize_payloads_async(message, self._store)

    async def backoff(self, seconds: float) -> bool:
        """Wait *seconds* (a task is stopped by cancelling it)."""
        await asyncio.sleep(seconds)
        return False
