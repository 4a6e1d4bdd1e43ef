"""Run the transfers of one message side by side, bounded, failing fast."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, wait
from typing import Generic, TypeVar

__all__ = ["PerLoop", "gather_bounded", "run_bounded"]

T = TypeVar("T")


def run_bounded(calls: Sequence[Callable[[], T]], executor: Executor) -> list[T]:
    """Run *calls* on *executor* and return their results in order.

    The executor's size bounds the concurrency. On the first failure, calls not
    yet started are cancelled and the error is raised at once; calls already
    running cannot be interrupted and finish in the background.
    """
    if len(calls) <= 1:
        return [call() for call in calls]  # no thread hop for the common single value
    futures = [executor.submit(call) for call in calls]
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        if future in done and future.exception() is not None:
            for other in pending:
                other.cancel()
            raise future.exception()  # type: ignore[misc]
    return [future.result() for future in futures]


async def gather_bounded(factories: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Await the coroutines made by *factories*, at most *limit* at a time, results in order.

    On the first failure the others are cancelled (and awaited) and the error is raised.
    """
    if len(factories) <= 1:
        return [await factory() for factory in factories]
    semaphore = asyncio.Semaphore(limit)

    async def bounded(factory: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await factory()

    tasks = [asyncio.ensure_future(bounded(factory)) for factory in factories]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)


class PerLoop(Generic[T]):
    """One object per running event loop, made on first use.

    For async clients whose connections belong to the loop that opened them
    (aiohttp sessions, redis-py's asyncio connections): each loop gets its own,
    and an entry goes away with its loop.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """Return the running loop's object, made now if it has none."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            item = self._factory()
            self._items[loop] = item
        return item

    def pop(self) -> T | None:
        """Remove and return the running loop's object, if it has one."""
        return self._items.pop(asyncio.get_running_loop(), None)
