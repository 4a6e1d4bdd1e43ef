"""A payload store that keeps everything in this process's memory."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from .._codec import Existing, decode_payload, encode_payload, store_verified
from .._exceptions import PayloadNotFoundError
from .._options import LargePayloadStorageOptions
from .._store import PayloadInfo, PayloadStore
from .._token import format_simple_token, parse_simple_token, sha256_hex

__all__ = ["InMemoryPayloadStore"]

_SCHEME = "memory"


@dataclass(frozen=True)
class _Stored:
    body: bytes
    content_encoding: str
    sha256: str | None
    size: int | None
    instance_id: str | None
    created: datetime


class InMemoryPayloadStore(PayloadStore):
    """Keeps payloads in a dictionary: for tests, demos and single-process tools.

    Tokens look like ``memory:v1:<32 hex>`` and mean nothing to another process.
    Payloads are encoded exactly as the durable stores encode them (content
    names, optional gzip, SHA-256 checked on read), so tests exercise the same
    paths. The :attr:`uploads` and :attr:`downloads` counters let a test assert
    whether the store was used at all.

    Args:
        options: Size and compression settings; the defaults when omitted.

    """

    def __init__(self, options: LargePayloadStorageOptions | None = None) -> None:
        self._options = options if options is not None else LargePayloadStorageOptions()
        self._objects: dict[str, _Stored] = {}
        self._lock = threading.Lock()
        self._uploads = 0
        self._downloads = 0

    @property
    def options(self) -> LargePayloadStorageOptions:
        """The size and compression settings of this store."""
        return self._options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("memory:v1:",)``."""
        return (f"{_SCHEME}:v1:",)

    @property
    def uploads(self) -> int:
        """How many times :meth:`upload` (or its async twin) was called."""
        return self._uploads

    @property
    def downloads(self) -> int:
        """How many times :meth:`download` (or its async twin) was called."""
        return self._downloads

    def __len__(self) -> int:
        return len(self._objects)

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data*; identical payloads of one instance share one entry.

        An entry already under the payload's name counts only once it is
        verified to be this payload; anything else there is replaced.
        """
        encoded = encode_payload(data, self._options, instance_id)
        name = encoded.name
        token = format_simple_token(_SCHEME, name)
        with self._lock:
            self._uploads += 1

        def read() -> Existing | None:
            with self._lock:
                existing = self._objects.get(name)
            if existing is None:
                return None
            return Existing(existing, functools.partial(self._decode, token, existing))

        def replace(tag: object) -> bool:
            # Compressed only now: a payload found already stored never pays for it.
            stored = _Stored(
                encoded.body,
                encoded.content_encoding,
                encoded.sha256,
                encoded.size,
                instance_id,
                datetime.now(timezone.utc),
            )
            # The entry object checked plays the part of an ETag.
            with self._lock:
                if self._objects.get(name) is not tag:
                    return False
                self._objects[name] = stored
            return True

        def create() -> bool:
            with self._lock:
                taken = name in self._objects
            return not taken and replace(None)

        store_verified(encoded, token, create=create, read=read, replace=replace)
        return token

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload` (runs inline: there is no I/O)."""
        return self.upload(data, instance_id=instance_id)

    def _get(self, token: str) -> _Stored:
        name = parse_simple_token(_SCHEME, token)
        stored = self._objects.get(name)
        if stored is None:
            raise PayloadNotFoundError(token, "not in this in-memory store")
        return stored

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, verified against its name."""
        with self._lock:
            self._downloads += 1
        return self._decode(token, self._get(token))

    def _decode(self, token: str, stored: _Stored) -> bytes:
        return decode_payload(
            stored.body,
            content_encoding=stored.content_encoding,
            sha256=stored.sha256,
            token=token,
            options=self._options,
            name=parse_simple_token(_SCHEME, token),
            instance_id=stored.instance_id,
        )

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        return self.download(token)

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a ``memory:v1:`` token."""
        try:
            parse_simple_token(_SCHEME, value)
        except ValueError:
            return False
        return True

    def delete(self, token: str) -> bool:
        """Forget the payload behind *token*; False if it was not there."""
        name = parse_simple_token(_SCHEME, token)
        self._forget(token)
        with self._lock:
            return self._objects.pop(name, None) is not None

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload behind *token*."""
        return self._info(token, self._get(token))

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every stored payload."""
        with self._lock:
            items = list(self._objects.items())
        for name, stored in items:
            yield self._info(format_simple_token(_SCHEME, name), stored)

    @staticmethod
    def _info(token: str, stored: _Stored) -> PayloadInfo:
        return PayloadInfo(
            token=token,
            size=stored.size,
            stored_size=len(stored.body),
            content_encoding=stored.content_encoding,
            sha256=stored.sha256,
            instance_id=stored.instance_id,
            created=stored.created,
        )

    def corrupt(self, token: str, body: bytes, *, forge_hash: bool = False) -> None:
        """Replace the stored bytes behind *token*, or plant them there (for tests of integrity checks).

        The entry keeps its metadata (a planted one has none, and says identity);
        with *forge_hash*, its recorded SHA-256 becomes that of *body*, as an
        attacker able to write metadata would make it.
        """
        name = parse_simple_token(_SCHEME, token)
        self._forget(token)
        with self._lock:
            old = self._objects.get(name)
            if old is None:
                old = _Stored(b"", "identity", None, None, None, datetime.now(timezone.utc))
            self._objects[name] = _Stored(
                body,
                old.content_encoding,
                sha256_hex(body) if forge_hash else old.sha256,
                old.size,
                old.instance_id,
                old.created,
            )
