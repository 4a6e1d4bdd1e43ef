"""Which store failures are tried again, and how: the one place that decides.

Transient (tried again, with exponential backoff and jitter):
    connection failures and timeouts, and HTTP 408, 429, 500, 502, 503 and 504.
Permanent (raised at once):
    everything else: 404 (``PayloadNotFoundError``), 401, 403 and other 4xx
    (``PayloadStoreRefusedError``), failed integrity checks, malformed or refused
    tokens, oversized objects.

Stores turn their client's errors into :class:`PayloadError` subclasses
(:func:`~durabletask_payloads._exceptions.store_failure` picks
:class:`PayloadStoreUnavailableError` for transient failures and
:class:`PayloadStoreRefusedError` for permanent ones) and run each request
through :func:`retrying` (or :func:`retrying_async`). A request ends at its
deadline (``request_timeout_seconds``): no retry starts after it.
Their clients' own retry machinery is switched off, so that this rule, and
only it, applies whatever the store.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from . import _telemetry
from ._exceptions import PayloadStoreUnavailableError
from ._options import RemoteStoreOptions

__all__ = ["TRANSIENT_HTTP_STATUS", "RetryPolicy", "is_transient_status", "retrying", "retrying_async"]

_log = logging.getLogger("durabletask_payloads.retry")

T = TypeVar("T")

#: HTTP statuses that say "try again later": timeouts, throttling and server-side trouble.
TRANSIENT_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def is_transient_status(status: int | str | None) -> bool:
    """Return whether an HTTP status is worth a retry (see :data:`TRANSIENT_HTTP_STATUS`)."""
    try:
        return int(status) in TRANSIENT_HTTP_STATUS  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how patiently, a transient failure is retried.

    Attributes:
        retries: Retries after the first attempt.
        first_backoff_seconds: The wait before the first retry; each next wait
            doubles, up to ``max_backoff_seconds``. Each wait is drawn between
            half and all of that (jitter, so that workers do not retry in step).
        max_backoff_seconds: The longest single wait.
        deadline_seconds: No retry starts once this long has passed since the
            first attempt (inf: no deadline).

    """

    retries: int = 5
    first_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    deadline_seconds: float = math.inf

    @classmethod
    def from_options(cls, options: RemoteStoreOptions) -> RetryPolicy:
        """Build the policy from a store's ``retry_total``, ``retry_backoff_seconds`` and deadline."""
        return cls(
            retries=options.retry_total,
            first_backoff_seconds=options.retry_backoff_seconds,
            deadline_seconds=getattr(options, "request_timeout_seconds", math.inf),
        )

    def backoff(self, attempt: int) -> float:
        """Return the wait before retry number *attempt* (0 for the first retry)."""
        ceiling = min(self.max_backoff_seconds, self.first_backoff_seconds * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def _give_up(
    exc: PayloadStoreUnavailableError, attempts: int, elapsed: float
) -> PayloadStoreUnavailableError:
    return PayloadStoreUnavailableError(
        exc.operation, exc.target, f"{exc.detail}; gave up after {attempts} attempts in {elapsed:.1f} s"
    )


def _next_wait(exc: PayloadStoreUnavailableError, attempt: int, started: float, policy: RetryPolicy) -> float:
    """Return how long to wait before retrying after failed *attempt* (0-based), or raise."""
    elapsed = time.monotonic() - started
    wait = policy.backoff(attempt)
    if attempt >= policy.retries or elapsed + wait >= policy.deadline_seconds:
        if attempt == 0 and policy.retries == 0:
            raise exc
        raise _give_up(exc, attempt + 1, elapsed) from exc
    _log.info("Retry %d of %d in %.2f s: %s", attempt + 1, policy.retries, wait, exc.detail)
    _telemetry.retried(exc)
    return wait


def retrying(call: Callable[[], T], policy: RetryPolicy) -> T:
    """Call *call*, retrying it while it raises :class:`PayloadStoreUnavailableError` (transient)."""
    attempt = 0
    started = time.monotonic()
    while True:
        try:
            return call()
        except PayloadStoreUnavailableError as exc:
            time.sleep(_next_wait(exc, attempt, started, policy))  # backoff between attempts
        attempt += 1


async def retrying_async(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Async twin of :func:`retrying`."""
    attempt = 0
    started = time.monotonic()
    while True:
        try:
            return await call()
        except PayloadStoreUnavailableError as exc:
            await asyncio.sleep(_next_wait(exc, attempt, started, policy))
        attempt += 1
