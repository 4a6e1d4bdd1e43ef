"""One payload pipeline over storage drivers: everything a store does but moving bytes.

:class:`DriverPayloadStore` does, once for every :class:`~._driver.StorageDriver`:
the size check on write (``max_stored_payload_bytes``) and the read limit
(``max_read_payload_bytes``, passed to the driver so that it need not read an
oversized object), hashing and content naming, gzip (all in :mod:`._codec`),
verification of what is read (names other SDKs write, when the driver's
``capabilities.foreign_names`` says they do, only against their recorded hash)
and of what is already there when a name is taken, or when a driver's
``confirm_one`` cannot confirm a payload moved recently (:mod:`._verified_write`),
retries of transient failures (:mod:`._retry`), and, through
:class:`~._store.PayloadStore`, the cache, bounded concurrency of batches and
the telemetry of every transfer.

Each operation is written once, as a flow (:mod:`._steps`) that yields the driver
calls it needs and is sent their results (or has their errors thrown in).
``_steps.run`` drives it on :class:`_DriverCalls` (the sync driver methods),
``run_async`` on :class:`_AsyncDriverCalls` (their async twins), each call retried
while transient: only that edge is twinned. For a driver without native async I/O
(``capabilities.native_async`` False) the async entry points run the sync flow in
one worker thread instead, so that hashing, gzip and verification stay off the
event loop as well.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TypeVar

from ._codec import decode_payload, encode_payload, max_stored_body
from ._concurrency import PerLoop
from ._driver import PutItem, StorageDriver, StoredObject
from ._exceptions import (
    InvalidPayloadTokenError,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadReadLimitError,
    PayloadStoreClosedError,
)
from ._options import LargePayloadStorageOptions, RemoteStoreOptions, read_limit
from ._retry import RetryPolicy, retrying, retrying_async
from ._steps import Flow, Op, op, run, run_async
from ._store import PayloadInfo, PayloadStore
from ._verified_write import REPLACED, Create, Existing, Read, verified_write

__all__ = ["DriverPayloadStore"]

_log = logging.getLogger("durabletask_payloads.pipeline")

T = TypeVar("T")


def _call(driver: StorageDriver, operation: str, *args: Any) -> Op:
    """One batch call of a driver: ``driver.<operation>(*args)`` or its ``_async`` twin."""
    return op("call", driver, operation, args)


class _DriverCalls:
    """The sync edge of the flows: a driver's method, retried while its failure is transient."""

    def __init__(self, retry: RetryPolicy) -> None:
        self._retry = retry

    def call(self, driver: StorageDriver, operation: str, args: tuple[Any, ...]) -> Any:
        return retrying(functools.partial(getattr(driver, operation), *args), self._retry)


class _AsyncDriverCalls:
    """The async edge: the driver's ``_async`` method, retried the same way."""

    def __init__(self, retry: RetryPolicy) -> None:
        self._retry = retry

    async def call(self, driver: StorageDriver, operation: str, args: tuple[Any, ...]) -> Any:
        method = getattr(driver, f"{operation}_async")
        return await retrying_async(functools.partial(method, *args), self._retry)


def _reraise(exc: BaseException) -> NoReturn:
    raise exc


class DriverPayloadStore(PayloadStore):
    """A payload store made of the one pipeline and a :class:`~durabletask_payloads.StorageDriver`.

    Writes go to *driver*; reads go to whichever of *driver* and *readers*
    claims the token (the first, in that order, whose ``name_of`` accepts it),
    so a store can keep reading tokens of a backend it no longer writes to.

    Args:
        driver: The backend that payloads are written to (and read from).
        options: Size, compression and, for remote options, retry settings;
            the defaults when omitted.
        readers: Further drivers, only read from.
        retry: How transient driver failures are retried; by default from
            the options' ``retry_total`` and ``retry_backoff_seconds`` when
            they have them (remote stores), else not at all (local stores).

    """

    def __init__(
        self,
        driver: StorageDriver,
        options: LargePayloadStorageOptions | None = None,
        *,
        readers: Sequence[StorageDriver] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self._options = options if options is not None else LargePayloadStorageOptions()
        self._driver = driver
        self._drivers = (driver, *readers)
        if retry is None:
            retry = (
                RetryPolicy.from_options(self._options)
                if isinstance(self._options, RemoteStoreOptions)
                else RetryPolicy(retries=0)
            )
        self._retry = retry
        self._closed = False
        # Async transfers at once, per event loop: a hundred gathered client calls, each with one
        # payload, are as many separate uploads, which no batch bound (upload_many) would see.
        self._slots = PerLoop(lambda: asyncio.Semaphore(self._setting("max_concurrency")))

    @property
    def options(self) -> LargePayloadStorageOptions:
        """The size and compression settings of this store."""
        return self._options

    @property
    def driver(self) -> StorageDriver:
        """The driver payloads are written to."""
        return self._driver

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """The prefixes of every driver's tokens, the writing driver's first."""
        return tuple(dict.fromkeys(p for d in self._drivers for p in d.token_prefixes))

    def is_known_token(self, value: str) -> bool:
        """Return whether one of the drivers claims *value* as its token."""
        return isinstance(value, str) and any(d.name_of(value) is not None for d in self._drivers)

    def _route(self, token: str) -> tuple[StorageDriver, str]:
        for driver in self._drivers:
            name = driver.name_of(token)
            if name is not None:
                return driver, name
        for driver in self._drivers:
            reason = driver.refusal(token)
            if reason is not None:
                raise InvalidPayloadTokenError(token, reason)
        expected = " or ".join(repr(p) for p in self.token_prefixes)
        raise InvalidPayloadTokenError(
            token, f"expected a token starting with {expected} and ending in 32 lowercase hex characters"
        )

    # -- the flows: written once ---------------------------------------------------------

    def _check_open(self, operation: str, target: str) -> None:
        # A closed driver's own error (the Azure SDK's is a bare ValueError) names neither cause nor fix.
        if self._closed:
            raise PayloadStoreClosedError(type(self).__name__, operation, target)

    def _upload_flow(self, data: bytes, instance_id: str | None) -> Flow[str]:
        encoded = encode_payload(data, self._options, instance_id)
        driver = self._driver
        token = driver.token_for(encoded.name)
        self._check_open("upload", token)
        item = PutItem(encoded, instance_id)
        # Seen stored recently: one cheap check; when it finds nothing, the verified write decides.
        confirmed = driver.capabilities.confirm and self.cache.knows(token)
        if confirmed and (yield _call(driver, "confirm", [encoded.name]))[0]:
            self.cache.remember(token)
            return token
        write = verified_write(encoded, token)
        answer: object = None
        while True:
            try:
                step = write.send(answer)
            except StopIteration as done:
                outcome = done.value
                break
            if isinstance(step, Create):
                answer = (yield _call(driver, "put", [item]))[0]
            elif isinstance(step, Read):
                answer = yield from self._existing(driver, encoded.name, token)
            else:
                answer = (yield _call(driver, "replace", [(item, step.tag)]))[0]
        if outcome == REPLACED:
            _log.warning(
                "%s held another object under %s, which its name certifies; replaced it",
                driver.describe(),
                token,
            )
        self.cache.remember(token)
        return token

    def _existing(self, driver: StorageDriver, name: str, token: str) -> Flow[Existing | None]:
        try:
            found = (yield _call(driver, "get", [name], max_stored_body(self._options)))[0]
        except (PayloadIntegrityError, PayloadReadLimitError) as exc:
            return Existing(None, functools.partial(_reraise, exc))  # not a good copy: replace it
        if found is None:
            return None
        return Existing(found.tag, functools.partial(self._decode, token, found, driver))

    def _download_flow(self, token: str) -> Flow[bytes]:
        self._check_open("download", token)
        driver, name = self._route(token)
        found = (yield _call(driver, "get", [name], max_stored_body(self._options)))[0]
        if found is None:
            raise PayloadNotFoundError(token, driver.missing(name))
        data = self._decode(token, found, driver)
        self.cache.remember(token)
        return data

    def _decode(self, token: str, found: StoredObject, driver: StorageDriver) -> bytes:
        if found.damage is not None:
            raise found.damage
        if found.body is None:
            raise PayloadReadLimitError(token, found.stored_size, read_limit(self._options))
        return decode_payload(
            found.body,
            content_encoding=found.meta.content_encoding,
            sha256=found.meta.sha256,
            token=token,
            options=self._options,
            name=found.name,
            instance_id=found.meta.instance_id,
            foreign_names=driver.capabilities.foreign_names,
        )

    def _delete_flow(self, token: str) -> Flow[bool]:
        self._check_open("delete", token)
        driver, name = self._route(token)
        self._forget(token)
        deleted: list[bool] = yield _call(driver, "delete", [name])
        return deleted[0]

    # -- the entry points: sync and async drive the same flows ---------------------------

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* and return its token; a payload already stored under its name is verified first."""
        return run(self._upload_flow(data, instance_id), _DriverCalls(self._retry))

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload`."""
        return await self._drive_async(self._driver, self._upload_flow(data, instance_id))

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, within the read limit, verified against its name and hash."""
        return run(self._download_flow(token), _DriverCalls(self._retry))

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        return await self._drive_async(self._route(token)[0], self._download_flow(token))

    def delete(self, token: str) -> bool:
        """Delete the payload behind *token*; return False if it was already gone."""
        return run(self._delete_flow(token), _DriverCalls(self._retry))

    async def delete_async(self, token: str) -> bool:
        """Async twin of :meth:`delete`."""
        return await self._drive_async(self._route(token)[0], self._delete_flow(token))

    async def _drive_async(self, driver: StorageDriver, flow: Flow[T]) -> T:
        # The flow (a generator) starts inside the slot: its copies of the payload (gzip, the body
        # sent or read) exist for at most max_concurrency transfers of this loop at once.
        async with self._slots.get():
            if not driver.capabilities.native_async:
                # Its async twins would each be a thread anyway: one thread for the whole flow keeps
                # hashing and gzip off the event loop too.
                return await asyncio.to_thread(run, flow, _DriverCalls(self._retry))
            return await run_async(flow, _AsyncDriverCalls(self._retry))

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload behind *token* from its metadata, without reading its body."""
        self._check_open("inspect", token)
        driver, name = self._route(token)
        found = retrying(lambda: driver.head([name])[0], self._retry)
        if found is None:
            raise PayloadNotFoundError(token, driver.missing(name))
        return self._info(driver.token_for(name), found.meta, found.stored_size)

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload the writing driver holds.

        Not the *readers*' (other buckets, containers or old backends this store
        only reads): clean-up lists what it may delete, and those are not this
        store's to collect.
        """
        driver = self._driver
        self._check_open("list", driver.describe())
        for found in driver.list_objects():
            yield self._info(driver.token_for(found.name), found.meta, found.stored_size)

    @staticmethod
    def _info(token: str, meta: Any, stored_size: int) -> PayloadInfo:
        return PayloadInfo(
            token=token,
            size=meta.size,
            stored_size=stored_size,
            content_encoding=meta.content_encoding,
            sha256=meta.sha256,
            instance_id=meta.instance_id,
            created=meta.created,
        )

    def close(self) -> None:
        """End the store: close the drivers and the transfer threads.

        Every later call raises :class:`~durabletask_payloads.PayloadStoreClosedError`
        before reaching a driver. Closing twice is harmless.
        """
        self._closed = True
        for driver in self._drivers:
            driver.close()
        super().close()

    async def aclose(self) -> None:
        """Release what this event loop holds (its async connections), and the idle sync ones.

        The store stays usable, unlike after :meth:`close`: async clients belong to
        the loop that made them, so each loop that used the store closes its own
        (``async with`` does), and another loop or a sync call connects again.
        """
        for driver in self._drivers:
            await driver.aclose()
        super().close()
