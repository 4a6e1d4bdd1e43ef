"""The payload store contract.

A store turns bytes into a token and a token back into the same bytes. The
walkers hand it all the values of one message at once (``upload_many`` /
``download_many``); the base class runs those transfers concurrently (bounded
by ``options.max_concurrency``) and keeps recently moved payloads in a bounded
cache (``options.cache_max_bytes``), so a store implements only the single-value
methods. A store with a native batch API overrides the batch methods instead.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import functools
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from durabletask.payload import store as _upstream
from typing_extensions import Self

from . import _telemetry
from ._cache import PayloadCache
from ._concurrency import gather_bounded, run_bounded
from ._exceptions import UnsupportedOperationError
from ._info import PayloadInfo
from ._options import LargePayloadStorageOptions

__all__ = ["PayloadInfo", "PayloadStore"]

# Guards the lazy creation of each store's cache and thread pool (stores need not call
# our __init__, so these cannot be made there).
_lazy_lock = threading.Lock()
_DEFAULTS = LargePayloadStorageOptions()
# The single-value methods every subclass's definitions are traced as (see __init_subclass__).
_TRANSFERS = {
    "upload": "upload",
    "upload_async": "upload",
    "download": "download",
    "download_async": "download",
    "inspect": "head",
    "delete": "delete",
    "delete_async": "delete",
}


class PayloadStore(_upstream.PayloadStore):
    """Abstract base of every payload store.

    The method shapes match ``durabletask.payload.PayloadStore`` (which this
    class extends), so a store of this package also works with durabletask's
    built-in ``payload_store=`` support. Stores are thread-safe and can be used
    from sync and async code at once. Use them as context managers, or call
    :meth:`close` / :meth:`aclose`, to release connections.

    With OpenTelemetry configured, each call of a subclass's ``upload``,
    ``download``, ``inspect`` or ``delete`` (and of their async twins) is a span
    and is counted (docs/observability.md); a subclass does nothing for that.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # Tracing here, once, rather than in each store: custom stores get it too.
        for name, operation in _TRANSFERS.items():
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__isabstractmethod__", False):
                setattr(cls, name, _telemetry.traced(operation, method))

    @property
    @abc.abstractmethod
    def options(self) -> LargePayloadStorageOptions:
        """The size and compression settings of this store."""

    @property
    @abc.abstractmethod
    def token_prefixes(self) -> tuple[str, ...]:
        """Every prefix a token of this store can start with.

        The walkers use it to skip, without parsing, messages that cannot hold a
        token; :meth:`is_known_token` still decides for each candidate value.
        """

    @abc.abstractmethod
    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* and return a token for it.

        Args:
            data: The payload bytes (UTF-8 text for values from gRPC messages).
            instance_id: The orchestration or entity instance the payload
                belongs to; it scopes naming and lifecycle.

        Raises:
            PayloadTooLargeError: *data* exceeds ``options.max_stored_payload_bytes``.
            PayloadStoreUnavailableError: The store failed and retries did not help.

        """

    @abc.abstractmethod
    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* and return a token for it, without blocking the event loop."""

    @abc.abstractmethod
    def download(self, token: str) -> bytes:
        """Return the payload that *token* refers to.

        Raises:
            InvalidPayloadTokenError: The token is malformed or not one this store may read.
            PayloadNotFoundError: Nothing is stored under the token.
            PayloadIntegrityError: The stored bytes fail their checksum or encoding.
            PayloadStoreUnavailableError: The store failed and retries did not help.

        """

    @abc.abstractmethod
    async def download_async(self, token: str) -> bytes:
        """Return the payload that *token* refers to, without blocking the event loop."""

    @abc.abstractmethod
    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is, as a whole, a well-formed token of this store."""

    # -- batches, concurrency and cache --------------------------------------------------

    @property
    def cache(self) -> PayloadCache:
        """Payloads recently uploaded or downloaded through the batch methods, by token."""
        cache: PayloadCache | None = self.__dict__.get("_dtp_cache")
        if cache is None:
            with _lazy_lock:
                cache = self.__dict__.setdefault("_dtp_cache", PayloadCache(self._setting("cache_max_bytes")))
        return cache

    def _executor(self) -> ThreadPoolExecutor:
        executor: ThreadPoolExecutor | None = self.__dict__.get("_dtp_executor")
        if executor is None:
            with _lazy_lock:
                executor = self.__dict__.get("_dtp_executor")
                if executor is None:
                    executor = ThreadPoolExecutor(
                        max_workers=self._setting("max_concurrency"),
                        thread_name_prefix="durabletask-payloads",
                    )
                    self.__dict__["_dtp_executor"] = executor
        return executor

    def _setting(self, name: str) -> int:
        # A store written for durabletask's own options class lacks the newer settings: use defaults.
        value = getattr(self.options, name, None)
        return value if isinstance(value, int) else int(getattr(_DEFAULTS, name))

    def _forget(self, token: str) -> None:
        """Drop *token* from the cache; stores call this when they delete a payload."""
        cache: PayloadCache | None = self.__dict__.get("_dtp_cache")
        if cache is not None:
            cache.discard(token)

    def accepts(self, data: bytes, *, instance_id: str | None = None) -> bool:
        """Return whether this store takes *data*, a value at or above the threshold.

        The walkers ask before uploading: False keeps the value inline in the
        message (the routing store does this when its selector says so). The
        default accepts everything.
        """
        return True

    def upload_many(self, payloads: Sequence[bytes], *, instance_id: str | None = None) -> list[str]:
        """Store several payloads of one message concurrently; the tokens come back in order.

        At most ``options.max_concurrency`` uploads run at once. If one fails,
        those not started are cancelled and the error is raised; payloads
        already stored stay (content-addressed names make that harmless, and
        clean-up finds them). Stored payloads are remembered in :attr:`cache`.
        """
        # Each call runs in a copy of this context, so that its span is a child of the batch's.
        tokens = run_bounded(
            [
                functools.partial(contextvars.copy_context().run, self.upload, data, instance_id=instance_id)
                for data in payloads
            ],
            self._executor(),
        )
        for token, data in zip(tokens, payloads, strict=True):
            self.cache.put(token, data)
        return tokens

    async def upload_many_async(
        self, payloads: Sequence[bytes], *, instance_id: str | None = None
    ) -> list[str]:
        """Async twin of :meth:`upload_many` (concurrent tasks instead of threads)."""
        tokens = await gather_bounded(
            [functools.partial(self.upload_async, data, instance_id=instance_id) for data in payloads],
            self._setting("max_concurrency"),
        )
        for token, data in zip(tokens, payloads, strict=True):
            self.cache.put(token, data)
        return tokens

    def download_many(self, tokens: Sequence[str]) -> list[bytes]:
        """Resolve several tokens of one message; the payloads come back in order.

        Payloads in :attr:`cache` are not fetched again; the others are
        downloaded concurrently, as :meth:`upload_many` uploads.
        """
        results, missing = self._from_cache(tokens)
        fetched = run_bounded(
            [functools.partial(contextvars.copy_context().run, self.download, tokens[i]) for i in missing],
            self._executor(),
        )
        return self._fill(tokens, results, missing, fetched)

    async def download_many_async(self, tokens: Sequence[str]) -> list[bytes]:
        """Async twin of :meth:`download_many`."""
        results, missing = self._from_cache(tokens)
        fetched = await gather_bounded(
            [functools.partial(self.download_async, tokens[i]) for i in missing],
            self._setting("max_concurrency"),
        )
        return self._fill(tokens, results, missing, fetched)

    def _from_cache(self, tokens: Sequence[str]) -> tuple[list[bytes | None], list[int]]:
        results = [self.cache.get(token) for token in tokens]
        missing = [i for i, data in enumerate(results) if data is None]
        hit_bytes = sum(len(data) for data in results if data is not None)
        _telemetry.cache_lookup(self, len(tokens) - len(missing), len(missing), hit_bytes)
        return results, missing

    def _fill(
        self, tokens: Sequence[str], results: list[bytes | None], missing: list[int], fetched: list[bytes]
    ) -> list[bytes]:
        for index, data in zip(missing, fetched, strict=True):
            results[index] = data
            self.cache.put(tokens[index], data)
        return [data for data in results if data is not None]

    def delete(self, token: str) -> bool:
        """Delete the payload behind *token*; return False if it was already gone.

        Raises:
            UnsupportedOperationError: The store does not support deletion.

        """
        raise UnsupportedOperationError(type(self).__name__, "deleting payloads")

    async def delete_async(self, token: str) -> bool:
        """Async twin of :meth:`delete`."""
        return await asyncio.to_thread(self.delete, token)

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload behind *token* without downloading its content.

        Raises:
            PayloadNotFoundError: Nothing is stored under the token.
            UnsupportedOperationError: The store cannot describe payloads.

        """
        raise UnsupportedOperationError(type(self).__name__, "inspecting payloads")

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload this store holds (for clean-up and tooling).

        Raises:
            UnsupportedOperationError: The store cannot enumerate its payloads.

        """
        raise UnsupportedOperationError(type(self).__name__, "listing payloads")

    def close(self) -> None:
        """Release connections and other resources held by the sync API, and the transfer threads.

        Subclasses release their connections and call this. The threads end as
        soon as they are idle; a batch after ``close()`` starts new ones.
        """
        with _lazy_lock:
            executor: ThreadPoolExecutor | None = self.__dict__.pop("_dtp_executor", None)
        if executor is not None:
            executor.shutdown(wait=False)

    async def aclose(self) -> None:
        """Release connections and other resources, including those of the async API."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
