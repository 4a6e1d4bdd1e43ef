"""Which work items may go on at once, in which order, and how long a store outage is waited out.

Sans-IO rules shared by the sync dispatcher (:mod:`._dispatch`, threads) and the
``grpc.aio`` one (:mod:`.aio`, tasks):

* An item that needs no download (no token, or every token in the cache's hot tier) is handed on
  at once, on the thread or task that read it.
* An item that needs downloads is resolved off the stream and handed on when
  ready, so a slow, stalled or hostile download delays only its own item, and
  the stream keeps being read.
* Order is kept per instance: an orchestration or entity work item never
  overtakes an earlier one of the same instance (backends lock an instance
  while one of its items is out, so this rarely waits). Activity items carry no
  order among themselves; durabletask runs them concurrently anyway.
* A transient store failure is retried with capped exponential backoff and
  jitter until ``outage_budget_seconds`` have passed since the first failure;
  then, and on any permanent failure, the item fails non-retriably.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb

from ._exceptions import PayloadError, PayloadStoreUnavailableError
from ._externalize import payload_tokens
from ._hooks import as_payload_error
from ._options import outage_budget
from ._store import PayloadStore

__all__ = [
    "HEALTH_PING_SECONDS",
    "End",
    "OutageClock",
    "Sequencer",
    "health_ping",
    "needs_download",
    "order_key",
]

_log = logging.getLogger("durabletask_payloads.interceptors")

#: While items are held for downloads, the stream's reader is given a health ping this often, so
#: that durabletask's worker never sees the silence (120 s by default) after which it reconnects.
HEALTH_PING_SECONDS = 20.0

# Backoff between attempts of one work item while its store is out: 1, 2, 4 ... up to 30 s.
_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class End:
    """The underlying stream ended: normally (error None) or with *error*."""

    error: BaseException | None


def order_key(item: pb.WorkItem) -> Hashable | None:
    """Return the key whose items must keep their order (the instance), or None for unordered items."""
    kind = item.WhichOneof("request")
    if kind == "orchestratorRequest":
        return ("orchestration", item.orchestratorRequest.instanceId)
    if kind in ("entityRequest", "entityRequestV2"):
        return ("entity", getattr(item, kind).instanceId)
    return None


def needs_download(item: pb.WorkItem, store: PayloadStore) -> bool | None:
    """Return whether resolving *item* may take time; None: it holds no token.

    Only tokens in the cache's hot tier resolve at the cost of a lookup: a cold one is inflated
    (about 0.7 ms per 300 KiB) and any other one downloaded, neither on the stream's thread.
    """
    tokens = payload_tokens(item, store)
    if not tokens:
        return None
    cache = store.cache  # the interceptors hand every store through as_store(): it has one
    return not all(cache.is_hot(token) for token in tokens)


def health_ping() -> pb.WorkItem:
    """Return a work item that durabletask's worker takes as a sign of a live stream, and skips."""
    return pb.WorkItem(healthPing=pb.HealthPing())


@dataclass
class OutageClock:
    """Times the retries of one work item's transfers through a store outage.

    Args:
        budget_seconds: How long after the first transient failure retries go on.

    """

    budget_seconds: float
    started: float | None = None
    attempts: int = 0

    @classmethod
    def for_store(cls, store: PayloadStore) -> OutageClock:
        """Return a clock with the store's ``outage_budget_seconds``."""
        return cls(outage_budget(store.options))

    def next_wait(self, error: PayloadError) -> float | None:
        """Return how long to wait before the next attempt after *error*, or None to give up.

        Permanent errors give up at once; transient ones are retried until the
        budget is spent.
        """
        if not error.transient:
            return None
        now = time.monotonic()
        if self.started is None:
            self.started = now
        ceiling = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2**self.attempts)
        wait = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
        self.attempts += 1
        if now + wait - self.started > self.budget_seconds:
            return None
        return wait

    def decide(self, exc: BaseException, operation: str) -> tuple[float | None, BaseException]:
        """After a failed attempt: ``(wait, exc)`` to try again after *wait* s, or ``(None, error)`` to fail.

        The error to fail with is *exc* itself for unexpected exceptions (the
        hooks log their traceback), else the payload error, extended with the
        outage's length when the budget ran out.
        """
        error = as_payload_error(exc, operation)
        wait = self.next_wait(error)
        if wait is not None:
            _log.warning(
                "Payload %s unavailable (attempt %d), retrying in %.1f s: %s",
                operation,
                self.attempts,
                wait,
                getattr(error, "detail", None) or type(error).__name__,
            )
            return wait, exc
        return None, (self.final_error(error) if error is exc else exc)

    def final_error(self, error: PayloadError) -> PayloadError:
        """Return the error a work item fails with once retrying ends on *error*."""
        if not isinstance(error, PayloadStoreUnavailableError) or self.started is None:
            return error
        elapsed = time.monotonic() - self.started
        return PayloadStoreUnavailableError(
            error.operation,
            error.target,
            f"{error.detail}; the store kept failing for {elapsed:.0f} s over {self.attempts} attempts, "
            f"longer than outage_budget_seconds ({self.budget_seconds:g} s): raise it on the store's "
            "options to wait out longer outages",
        )


@dataclass
class Sequencer:
    """Per-key FIFO of work items: an item waits while an earlier one of its key is in progress.

    Thread-safe; the async dispatcher uses it from one loop.
    """

    _waiting: dict[Hashable, deque[Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, key: Hashable | None, item: Any) -> bool:
        """Mark *key* busy and return True, or queue *item* behind the busy key and return False."""
        if key is None:
            return True
        with self._lock:
            queue = self._waiting.get(key)
            if queue is None:
                self._waiting[key] = deque()
                return True
            queue.append(item)
            return False

    def leave(self, key: Hashable | None) -> Any | None:
        """End the item in progress for *key*; return the next item of that key to start, if any."""
        if key is None:
            return None
        with self._lock:
            queue = self._waiting.get(key)
            if queue:
                return queue.popleft()  # the key stays busy with this one
            self._waiting.pop(key, None)
            return None
