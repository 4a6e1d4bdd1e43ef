"""The sync ``GetWorkItems`` stream: read at once, resolved off the stream, handed on when ready.

durabletask's worker reads the work-item stream on one thread and submits each
item to its executor. If that thread waited for an item's downloads, every
other item would wait behind it, and after ``silent_disconnect_timeout_seconds``
without an item the worker would cancel the stream, dropping whatever it had
read (the in-memory backend never redelivers those). So this module reads the
gRPC stream on a thread of its own, hands on at once the items that need no
download, resolves the others on worker threads (see :mod:`._workitems` for the
rules), and keeps a health ping flowing while it holds items.

A :class:`WorkItemDispatcher` belongs to one interceptor, so it outlives a
stream: items still being resolved when their stream is cancelled are handed
to the worker's next stream instead of being lost (a completion token is not
tied to a stream).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Hashable
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb

from ._externalize import deexternalize_payloads
from ._held import Stopped, WorkerIO, held, resolving
from ._hooks import Hooks
from ._steps import run
from ._store import PayloadStore
from ._workitems import (
    HEALTH_PING_SECONDS,
    End,
    Sequencer,
    health_ping,
    needs_download,
    order_key,
)

__all__ = ["WorkItemDispatcher", "triage"]

_log = logging.getLogger("durabletask_payloads.interceptors")


def triage(item: pb.WorkItem, store: PayloadStore) -> bool | None:
    """Whether *item* is resolved off the stream (see ``needs_download``); None: it holds no token.

    The sync dispatcher and the aio interceptor both decide with this. A token the store cannot
    even look up goes the slow way, where its resolution fails with the reason.
    """
    try:
        return needs_download(item, store)
    except Exception:  # noqa: BLE001 - resolution will say why
        return True


class WorkItemDispatcher:
    """Resolves work items off their stream and hands them to the stream that is open.

    Args:
        store: Where the payloads are.
        hooks: The interceptor's rules (admit, poison).
        workers: Threads that resolve items needing downloads.

    """

    def __init__(self, store: PayloadStore, hooks: Hooks, *, workers: int) -> None:
        self._store = store
        self._hooks = hooks
        self._sequencer = Sequencer()
        self._workers = workers
        self._jobs: queue.SimpleQueue[tuple[pb.WorkItem, Hashable | None]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # One permit per thread waiting for a job: a job starts a thread only when none waits, so a
        # worker makes as many threads as it resolves items at once (each thread that handles
        # payloads costs memory: buffers and, in glibc, an arena of its own), not all up front.
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._outlet: queue.Queue[Any] | None = None
        self._backlog: list[pb.WorkItem] = []
        self._held = 0  # items taken and not yet handed on
        self._closed = threading.Event()
        self._io = WorkerIO(store, self._closed)

    @property
    def held(self) -> int:
        """Work items taken from a stream and not yet handed on."""
        return self._held

    def open(self, call: Any) -> WorkItemStream:
        """Start reading *call* (a ``GetWorkItems`` response stream); return what the worker iterates."""
        return WorkItemStream(self, call)

    @property
    def io(self) -> WorkerIO:
        """The store's calls on a worker thread, with a backoff that :meth:`close` cuts short."""
        return self._io

    def close(self) -> None:
        """Stop retrying; items still held are dropped (the backend's own timeouts redeliver them)."""
        self._closed.set()
        for _ in self._threads:
            self._jobs.put((pb.WorkItem(), None))  # wakes each worker thread, which then sees closed

    # -- the stream side ---------------------------------------------------------------

    def _attach(self, outlet: queue.Queue[Any]) -> None:
        with self._lock:
            self._outlet = outlet
            backlog, self._backlog = self._backlog, []
        for item in backlog:
            outlet.put(item)
        if backlog:
            _log.info("Handing %d resolved work item(s) to the new work-item stream", len(backlog))

    def _detach(self, outlet: queue.Queue[Any], *, salvage: bool) -> None:
        """Stop handing items to *outlet*; with *salvage*, keep what it still holds for the next stream."""
        with self._lock:
            if self._outlet is outlet:
                self._outlet = None
            if not salvage:
                return
            while True:
                try:
                    entry = outlet.get_nowait()
                except queue.Empty:
                    break
                if isinstance(entry, pb.WorkItem) and not entry.HasField("healthPing"):
                    self._backlog.append(entry)

    def take(self, item: pb.WorkItem) -> None:
        """Accept one item read from the stream (on the reader thread)."""
        if item.WhichOneof("request") in (None, "healthPing"):
            self._deliver(item, held=False)
            return
        self._hooks.admit(item)
        with self._lock:
            self._held += 1
        key = order_key(item)
        if self._sequencer.enter(key, item):
            self._start(item, key)

    # -- resolution --------------------------------------------------------------------

    def _start(self, item: pb.WorkItem, key: Hashable | None) -> None:
        slow = triage(item, self._store)
        if slow is None:  # nothing to resolve
            self._finish(item, key)
            return
        if not slow:
            try:
                deexternalize_payloads(item, self._store)  # from the cache: no I/O
            except Exception:  # noqa: BLE001 - a store that did I/O after all: retry off the stream
                _log.debug("Cached resolution failed; resolving off the stream", exc_info=True)
            else:
                self._finish(item, key)
                return
        self._jobs.put((item, key))
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        """Make sure a thread will take the job just queued: one that waits, or a new one."""
        if self._idle.acquire(blocking=False):
            return
        with self._lock:
            if len(self._threads) >= self._workers:
                return  # all busy: the job waits for the first to finish
            # Daemon threads: one stuck in a frozen store's read must not hold up interpreter exit.
            thread = threading.Thread(
                target=self._work, name=f"durabletask-payloads-resolve-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while not self._closed.is_set():
            item, key = self._jobs.get()
            if self._closed.is_set() or not self._resolve(item):
                return
            self._idle.release()  # before handing on: the next job (maybe this item's follower) finds it
            self._finish(item, key)

    def _resolve(self, item: pb.WorkItem) -> bool:
        """Resolve *item* in place, retrying transient failures within the outage budget, else poison it.

        Returns False when the dispatcher closed meanwhile: the item is dropped, not failed (the
        worker is stopping, and the backend's own timeouts hand the item out again).
        """
        outcome = run(held(self._store, "download", resolving(item)), self._io)
        if isinstance(outcome, Stopped):
            return False
        if outcome is not None:
            self._hooks.poison(item, outcome)
        return True

    def _finish(self, item: pb.WorkItem, key: Hashable | None) -> None:
        self._deliver(item, held=True)
        following = self._sequencer.leave(key)
        if following is not None:
            self._start(following, key)

    def _deliver(self, item: pb.WorkItem, *, held: bool) -> None:
        with self._lock:
            if held:
                self._held -= 1
            if self._outlet is not None:
                self._outlet.put(item)
            elif held:
                self._backlog.append(item)


#: Put in the outlet by a reader thread as it stops, to wake the worker's thread (see ``_read``).
_HANDED_BACK = object()


class WorkItemStream:
    """What the worker iterates instead of the ``GetWorkItems`` call; everything else is the call's.

    While no item is held for downloads, the worker's own thread reads the call
    (no hand-off between threads, so a payload-free item costs what it costs
    without this package). Once an item is held, a reader thread of its own
    takes the call over, so that the stream keeps being read and the held item
    can be handed on as soon as it is ready; it hands the call back when
    nothing is held any more.
    """

    def __init__(self, dispatcher: WorkItemDispatcher, call: Any) -> None:
        self._dispatcher = dispatcher
        self._call = call
        self._items = iter(call)
        self._outlet: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._reading = False  # the reader thread holds the call
        dispatcher._attach(self._outlet)

    def _read_one(self) -> bool:
        """Read one item from the call and take it; False once the call has ended."""
        try:
            item = next(self._items)
        except BaseException as exc:  # noqa: BLE001 - handed to the worker's reader, as gRPC raised it
            self._dispatcher._detach(self._outlet, salvage=False)
            self._outlet.put(End(None if isinstance(exc, StopIteration) else exc))
            return False
        self._dispatcher.take(item)
        return True

    def _read(self) -> None:
        try:
            while self._read_one():
                with self._lock:
                    if not self._dispatcher.held:
                        return  # nothing held: the worker's thread reads the call again
        finally:
            with self._lock:
                self._reading = False
            # The worker's thread may have seen this thread still reading, just before it stopped,
            # and be waiting on the outlet: without this wake-up nobody read the call until the
            # health-ping timeout (20 s), and every item the backend sent meanwhile waited.
            self._outlet.put(_HANDED_BACK)

    def __iter__(self) -> WorkItemStream:
        return self

    def __next__(self) -> pb.WorkItem:
        while True:
            try:
                entry = self._outlet.get_nowait()
            except queue.Empty:
                entry = None
            if entry is None:
                with self._lock:
                    direct = not self._reading and not self._dispatcher.held
                    if not direct and not self._reading:
                        self._reading = True
                        threading.Thread(
                            target=self._read, name="durabletask-payloads-stream", daemon=True
                        ).start()
                if direct:
                    self._read_one()  # on the worker's thread; the item (or the end) is in the outlet
                    continue
                try:
                    entry = self._outlet.get(timeout=HEALTH_PING_SECONDS)
                except queue.Empty:
                    if self._dispatcher.held:
                        return health_ping()  # items are held for downloads: the stream is alive
                    continue
            if entry is _HANDED_BACK:
                continue  # the reader thread stopped: read the call here, or start another
            if isinstance(entry, End):
                self._outlet.put(entry)  # stay ended for any later call
                if entry.error is None:
                    raise StopIteration
                raise entry.error
            return entry  # type: ignore[no-any-return]

    def cancel(self) -> Any:
        """Cancel the call; items not yet handed on go to the worker's next stream."""
        self._dispatcher._detach(self._outlet, salvage=True)
        return self._call.cancel()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)
