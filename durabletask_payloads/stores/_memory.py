"""A payload store that keeps everything in this process's memory: a driver under the one pipeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from .._codec import check_size
from .._driver import DriverCapabilities, ObjectInfo, ObjectMeta, PutItem, StorageDriver, StoredObject
from .._options import LargePayloadStorageOptions
from .._pipeline import DriverPayloadStore
from .._token import parse_simple_token, sha256_hex

__all__ = ["InMemoryPayloadStore"]


@dataclass(frozen=True)
class _Stored:
    body: bytes
    content_encoding: str
    sha256: str | None
    size: int | None
    instance_id: str | None
    created: datetime

    def meta(self) -> ObjectMeta:
        return ObjectMeta(self.content_encoding, self.sha256, self.size, self.instance_id, self.created)


class _MemoryDriver(StorageDriver):
    """Objects in a dictionary; the entry object checked stands for an ETag."""

    scheme = "memory"
    # Its async twins run inline (there is no I/O to wait for), so the pipeline awaits them directly.
    capabilities = DriverCapabilities(native_async=True, confirm=True)

    def __init__(self) -> None:
        self.objects: dict[str, _Stored] = {}
        self.lock = threading.Lock()

    def describe(self) -> str:
        return "this in-memory store"

    def put_one(self, item: PutItem) -> bool:
        with self.lock:
            taken = item.name in self.objects
        return not taken and self.replace_one(item, None)

    def confirm_one(self, name: str) -> bool:
        with self.lock:
            return name in self.objects

    def replace_one(self, item: PutItem, tag: object) -> bool:
        meta = item.meta
        # Compressed only now (item.body): a payload found already stored never pays for it.
        stored = _Stored(
            item.body,
            meta.content_encoding,
            meta.sha256,
            meta.size,
            meta.instance_id,
            datetime.now(timezone.utc),
        )
        with self.lock:
            if self.objects.get(item.name) is not tag:
                return False
            self.objects[item.name] = stored
        return True

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        with self.lock:
            stored = self.objects.get(name)
        if stored is None:
            return None
        body = stored.body if len(stored.body) <= max_bytes else None
        return StoredObject(name, stored.meta(), len(stored.body), body, tag=stored)

    def head_one(self, name: str) -> ObjectInfo | None:
        with self.lock:
            stored = self.objects.get(name)
        return None if stored is None else ObjectInfo(name, stored.meta(), len(stored.body))

    def delete_one(self, name: str) -> bool:
        with self.lock:
            return self.objects.pop(name, None) is not None

    def list_objects(self) -> Iterator[ObjectInfo]:
        with self.lock:
            items = list(self.objects.items())
        for name, stored in items:
            yield ObjectInfo(name, stored.meta(), len(stored.body))

    # No I/O to wait for: the async twins run inline rather than in a thread.
    async def put_async(self, items: Sequence[PutItem]) -> list[bool]:
        return self.put(items)

    async def replace_async(self, items: Sequence[tuple[PutItem, object]]) -> list[bool]:
        return self.replace(items)

    async def get_async(self, names: Sequence[str], max_bytes: int) -> list[StoredObject | None]:
        return self.get(names, max_bytes)

    async def delete_async(self, names: Sequence[str]) -> list[bool]:
        return self.delete(names)

    async def confirm_async(self, names: Sequence[str]) -> list[bool]:
        return self.confirm(names)


class InMemoryPayloadStore(DriverPayloadStore):
    """Keeps payloads in a dictionary: for tests, demos and single-process tools.

    Tokens look like ``memory:v1:<32 hex>`` and mean nothing to another process.
    Payloads go through the same pipeline as the durable stores (content names,
    optional gzip, the read limit, SHA-256 checked on read), so tests exercise
    the same paths. The :attr:`uploads` and :attr:`downloads` counters let a
    test assert whether the store was used at all.

    Args:
        options: Size and compression settings; the defaults when omitted.

    """

    def __init__(self, options: LargePayloadStorageOptions | None = None) -> None:
        self._memory = _MemoryDriver()
        super().__init__(self._memory, options)
        self._counts = threading.Lock()
        self._uploads = 0
        self._downloads = 0

    @property
    def _objects(self) -> dict[str, _Stored]:
        # Tests share one dictionary between two stores (same data, cold cache).
        return self._memory.objects

    @_objects.setter
    def _objects(self, objects: dict[str, _Stored]) -> None:
        self._memory.objects = objects

    @property
    def uploads(self) -> int:
        """How many times :meth:`upload` (or its async twin) was called."""
        return self._uploads

    @property
    def downloads(self) -> int:
        """How many times :meth:`download` (or its async twin) was called."""
        return self._downloads

    def __len__(self) -> int:
        return len(self._memory.objects)

    def _count(self, *, upload: bool, data: bytes = b"") -> None:
        if upload and isinstance(data, (bytes, bytearray, memoryview)):
            # A payload refused for its size was never an upload to count (the pipeline checks it again).
            check_size(len(data), self._options)
        with self._counts:
            if upload:
                self._uploads += 1
            else:
                self._downloads += 1

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data*; identical payloads of one instance share one entry (verified before it counts)."""
        self._count(upload=True, data=data)
        return super().upload(data, instance_id=instance_id)

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload`."""
        self._count(upload=True, data=data)
        return await super().upload_async(data, instance_id=instance_id)

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, verified against its name."""
        self._count(upload=False)
        return super().download(token)

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        self._count(upload=False)
        return await super().download_async(token)

    def corrupt(self, token: str, body: bytes, *, forge_hash: bool = False) -> None:
        """Replace the stored bytes behind *token*, or plant them there (for tests of integrity checks).

        The entry keeps its metadata (a planted one has none, and says identity);
        with *forge_hash*, its recorded SHA-256 becomes that of *body*, as an
        attacker able to write metadata would make it.
        """
        name = parse_simple_token("memory", token)
        self._forget(token)
        with self._memory.lock:
            old = self._memory.objects.get(name)
            if old is None:
                old = _Stored(b"", "identity", None, None, None, datetime.now(timezone.utc))
            self._memory.objects[name] = _Stored(
                body,
                old.content_encoding,
                sha256_hex(body) if forge_hash else old.sha256,
                old.size,
                old.instance_id,
                old.created,
            )
