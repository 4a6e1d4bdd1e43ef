"""A store made of stores: writes go where a selector says, reads go wherever the token belongs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .._exceptions import (
    InvalidPayloadTokenError,
    PayloadError,
    PayloadNotFoundError,
    PayloadStoreRefusedError,
    PayloadStoreUnavailableError,
)
from .._options import LargePayloadStorageOptions
from .._store import PayloadInfo, PayloadStore

__all__ = ["RoutingPayloadStore", "Selector", "SizeSelector", "by_size"]

_T = TypeVar("_T")
# What one store may answer about a token that another store may still have.
_MISSES = (
    InvalidPayloadTokenError,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
    PayloadStoreRefusedError,
)

#: A route: its name, its store, and the smallest and largest payload (bytes) it receives.
_Route = tuple[str, "PayloadStore", int, int]
#: Picks the store for a payload from its bytes and instance; None keeps the value inline.
Selector = Callable[[bytes, "str | None"], "PayloadStore | None"]


@dataclass(frozen=True, eq=False)
class SizeSelector:
    """The selector :func:`by_size` returns: below *boundary* bytes to *small*, others to *large*.

    A plain function would do the same; this one also tells the routing store
    which sizes each store receives, so that a store whose own
    ``max_stored_payload_bytes`` is below its route's sizes is refused when
    the routing store is built rather than at the first large payload.

    Attributes:
        small: The store for payloads below ``boundary`` bytes; None keeps them inline.
        large: The store for the others; None keeps them inline.
        boundary: The size, in UTF-8 bytes, from which a payload is large.

    """

    small: PayloadStore | None
    large: PayloadStore | None
    boundary: int

    def __call__(self, data: bytes, instance_id: str | None) -> PayloadStore | None:
        """Pick the store for *data* by its size."""
        return self.small if len(data) < self.boundary else self.large

    def routes(self, threshold: int, maximum: int) -> list[_Route]:
        """Return each route (name, store, smallest and largest size) for payloads up to *maximum* bytes."""
        ranges = [
            ("small", self.small, threshold, min(self.boundary - 1, maximum)),
            ("large", self.large, max(self.boundary, threshold), maximum),
        ]
        return [
            (name, store, low, high) for name, store, low, high in ranges if store is not None and low <= high
        ]


def by_size(small: PayloadStore | None, large: PayloadStore | None, *, boundary: int) -> SizeSelector:
    """Return a selector that sends payloads below *boundary* bytes to *small*, others to *large*.

    Either may be None, to keep those values inline in the message (mind the
    backend's gRPC message limit when you keep large ones).

    Raises:
        TypeError: *boundary* is not an int.
        ValueError: *boundary* is below 1.

    """
    if isinstance(boundary, bool) or not isinstance(boundary, int):
        raise TypeError(f"boundary must be an int (a number of bytes), got {type(boundary).__name__}")
    if boundary < 1:
        raise ValueError(f"boundary must be at least 1 byte, got {boundary:,}")
    return SizeSelector(small, large, boundary)


class RoutingPayloadStore(PayloadStore):
    """Several stores behind one: e.g. hot Redis for small payloads, S3 for large ones.

    Writes go to the store *selector* picks for each payload, or stay inline in
    the message when it returns None. Reads go to whichever store knows the
    token, trying them in order, so payloads written before a change of
    configuration stay readable as long as their store is still listed.

    Which settings win: the routing store's own *options* are the one source
    of the threshold and the write limit. A value below its ``threshold_bytes``
    stays inline, and one above its ``max_stored_payload_bytes`` is refused
    (:class:`~durabletask_payloads.PayloadTooLargeError`) before anything is
    uploaded; the inner stores' ``threshold_bytes`` are not consulted. Its cache
    and concurrency settings apply too: payloads are cached once, here. Each
    inner store keeps what is its own: compression, backend settings, and its
    ``max_stored_payload_bytes`` and read limit as a guard of its own. That
    guard must never be what refuses a value the routing store accepts: when
    the sizes a store receives are known (no selector: the first store gets
    everything; :func:`by_size`: each store gets its side of the boundary), a
    store whose limit is below them is refused here, when the routing store is
    built. A selector of your own can route anything anywhere; its stores'
    limits are then checked at each upload.

    Closing the routing store closes the stores it holds.

    Args:
        stores: The stores, in the order reads try them.
        selector: Picks the store for each payload; see :func:`by_size`. Without
            one, everything goes to the first store.
        options: Threshold and maximum size; the first store's when omitted.

    Raises:
        ValueError: No store was given, the selector returned a store that is
            not one of them, or a store's own ``max_stored_payload_bytes`` is
            below the sizes its route sends it (the message names the store,
            the sizes and both settings).

    """

    def __init__(
        self,
        stores: Sequence[PayloadStore],
        selector: Selector | None = None,
        *,
        options: LargePayloadStorageOptions | None = None,
    ) -> None:
        if not stores:
            raise ValueError("RoutingPayloadStore needs at least one store")
        self._stores = tuple(stores)
        first = self._stores[0]
        self._selector: Selector = selector if selector is not None else (lambda data, instance: first)
        self._options = options if options is not None else self._stores[0].options
        self._check_routes(selector)

    def _check_routes(self, selector: Selector | None) -> None:
        """Refuse a route whose store's own limit is below the sizes the route sends it."""
        threshold = self._options.threshold_bytes
        maximum = self._options.max_stored_payload_bytes
        routes: list[_Route]
        if selector is None:
            routes = [("only", self._stores[0], threshold, maximum)]
        elif isinstance(selector, SizeSelector):
            routes = selector.routes(threshold, maximum)
        else:
            return  # what a selector of your own picks is known only per payload
        for route, store, low, high in routes:
            if not any(store is known for known in self._stores):
                raise ValueError(
                    "by_size() names a store that is not one of the RoutingPayloadStore's stores"
                )
            limit = store.options.max_stored_payload_bytes
            if limit < high:
                index = next(i for i, known in enumerate(self._stores) if known is store)
                raise ValueError(
                    f"RoutingPayloadStore: stores[{index}] ({type(store).__name__}, the {route} route) "
                    f"receives payloads of {low:,} to {high:,} bytes, but its own max_stored_payload_bytes "
                    f"is {limit:,}. "
                    f"Raise that store's max_stored_payload_bytes to at least {high:,}, or lower the routing "
                    "store's max_stored_payload_bytes (or move the by_size boundary)."
                )

    @property
    def stores(self) -> tuple[PayloadStore, ...]:
        """The stores, in the order reads try them."""
        return self._stores

    @property
    def options(self) -> LargePayloadStorageOptions:
        """Threshold and maximum size for the values this store is given."""
        return self._options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """Every prefix of every store."""
        return tuple(dict.fromkeys(p for store in self._stores for p in store.token_prefixes))

    def is_known_token(self, value: str) -> bool:
        """Return whether any of the stores knows *value* as a token."""
        return any(store.is_known_token(value) for store in self._stores)

    def accepts(self, data: bytes, *, instance_id: str | None = None) -> bool:
        """Return whether the selector stores *data* (False keeps the value inline)."""
        return self._select(data, instance_id) is not None

    def _select(self, data: bytes, instance_id: str | None) -> PayloadStore | None:
        chosen = self._selector(data, instance_id)
        if chosen is not None and not any(chosen is store for store in self._stores):
            raise ValueError(
                "the selector returned a store that is not one of the RoutingPayloadStore's stores"
            )
        return chosen

    def _target(self, data: bytes, instance_id: str | None) -> PayloadStore:
        # Called directly (durabletask's built-in support does not ask accepts()), an
        # inline choice still has to be stored somewhere: the first store. (Not `or`: a store
        # with __len__, such as an empty InMemoryPayloadStore, is falsy.)
        chosen = self._select(data, instance_id)
        return chosen if chosen is not None else self._stores[0]

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* in the store the selector picks."""
        return self._target(data, instance_id).upload(data, instance_id=instance_id)

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload`."""
        return await self._target(data, instance_id).upload_async(data, instance_id=instance_id)

    def _candidates(self, token: str) -> list[PayloadStore]:
        candidates = [store for store in self._stores if store.is_known_token(token)]
        if not candidates:
            raise InvalidPayloadTokenError(token, "none of this RoutingPayloadStore's stores knows it")
        return candidates

    @staticmethod
    def _worst(errors: list[PayloadError]) -> PayloadError:
        # A store that failed may hold the payload: say so rather than "not found".
        for kind in (PayloadStoreUnavailableError, PayloadStoreRefusedError, PayloadNotFoundError):
            for error in errors:
                if isinstance(error, kind):
                    return error
        return errors[0]

    def _from_first(self, token: str, call: Callable[[PayloadStore], _T]) -> _T:
        """Return *call* of the first store that knows *token* and answers; else the telling error."""
        errors: list[PayloadError] = []
        for store in self._candidates(token):
            try:
                return call(store)
            except _MISSES as exc:
                errors.append(exc)
        raise self._worst(errors)

    def download(self, token: str) -> bytes:
        """Return the payload from the first store that has it."""
        return self._from_first(token, lambda store: store.download(token))

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        errors: list[PayloadError] = []
        for store in self._candidates(token):
            try:
                return await store.download_async(token)
            except _MISSES as exc:
                errors.append(exc)
        raise self._worst(errors)

    def delete(self, token: str) -> bool:
        """Delete the payload from every store that has it; False if none had it."""
        self._forget(token)
        deleted = False
        for store in self._candidates(token):
            try:
                deleted = store.delete(token) or deleted
            except InvalidPayloadTokenError:
                continue
        return deleted

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload, from the first store that has it."""
        return self._from_first(token, lambda store: store.inspect(token))

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield the payloads of every store, store by store."""
        for store in self._stores:
            yield from store.list_payloads()

    def close(self) -> None:
        """Close every store, and the routing store's transfer threads."""
        for store in self._stores:
            store.close()
        super().close()

    async def aclose(self) -> None:
        """Close every store, async clients included."""
        await asyncio.gather(*(store.aclose() for store in self._stores))
        super().close()
