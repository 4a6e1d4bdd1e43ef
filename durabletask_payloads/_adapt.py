"""Use a store written for durabletask's own ``PayloadStore`` contract with this package's hooks.

durabletask's built-in stores (``durabletask.extensions.azure_blob_payloads.BlobPayloadStore``)
and custom stores written against ``durabletask.payload.PayloadStore`` have
``upload``, ``download``, their async twins, ``is_known_token`` and ``options``,
but none of the batch methods, prefixes or cache this package's walkers use.
:func:`as_store` wraps such a store so that it gets them; a store of this
package is returned as it is.
"""

from __future__ import annotations

from durabletask.payload import store as _upstream

from ._options import LargePayloadStorageOptions
from ._store import PayloadStore

__all__ = ["as_store"]


class _ForeignStore(PayloadStore):
    """A durabletask ``PayloadStore`` seen through this package's contract."""

    def __init__(self, inner: _upstream.PayloadStore) -> None:
        self.inner = inner

    @property
    def options(self) -> LargePayloadStorageOptions:
        # Its own options class lacks the newer settings; the base class falls back to defaults.
        return self.inner.options  # type: ignore[return-value]

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        # Its token format is unknown: every value is a candidate, is_known_token decides.
        return ("",)

    def is_known_token(self, value: str) -> bool:
        return bool(self.inner.is_known_token(value))

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        return str(self.inner.upload(data, instance_id=instance_id))

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        return str(await self.inner.upload_async(data, instance_id=instance_id))

    def download(self, token: str) -> bytes:
        return bytes(self.inner.download(token))

    async def download_async(self, token: str) -> bytes:
        return bytes(await self.inner.download_async(token))


def as_store(store: _upstream.PayloadStore) -> PayloadStore:
    """Return *store* as this package's :class:`PayloadStore` (wrapped if it is durabletask's own kind)."""
    if isinstance(store, PayloadStore):
        return store
    return _ForeignStore(store)
