"""A store made of stores: writes go where a selector says, reads go wherever the token belongs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
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

__all__ = ["RoutingPayloadStore", "Selector", "by_size"]

_T = TypeVar("_T")
# What one store may answer about a token that another store may still have.
_MISSES = (
    InvalidPayloadTokenError,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
    PayloadStoreRefusedError,
)

#: Picks the store for a payload from its bytes and instance; None keeps the value inline.
Selector = Callable[[bytes, "str | None"], "PayloadStore | None"]


def by_size(small: PayloadStore | None, large: PayloadStore | None, *, boundary: int) -> Selector:
    """Return a selector that sends payloads below *boundary* bytes to *small*, others to *large*.

    Either may be None, to keep those values inline in the message (mind the
    backend's gRPC message limit when you keep large ones).
    """

    def select(data: bytes, instance_id: str | None) -> PayloadStore | None:
        return small if len(data) < boundary else large

    return select


class RoutingPayloadStore(PayloadStore):
    """Several stores behind one: e.g. hot Redis for small payloads, S3 for large ones.

    Writes go to the store *selector* picks for each payload, or stay inline in
    the message when it returns None. Reads go to whichever store knows the
    token, trying them in order, so payloads written before a change of
    configuration stay readable as long as their store is still listed.

    The routing store's own *options* decide when a value is large enough to
    consider (``threshold_bytes``) and the largest accepted; each inner store
    keeps its own compression and limits. Payloads are cached once, here.
    Closing the routing store closes the stores it holds.

    Args:
        stores: The stores, in the order reads try them.
        selector: Picks the store for each payload; see :func:`by_size`. Without
            one, everything goes to the first store.
        options: Threshold and maximum size; the first store's when omitted.

    Raises:
        ValueError: No store was given, or the selector returned a store that is not one of them.

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
        # inline choice still has to be stored somewhere: the first store.
        return self._select(data, instance_id) or self._stores[0]

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
