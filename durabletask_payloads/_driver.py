"""The storage driver contract: what a backend implements, and nothing else.

A driver moves stored objects (a body and a little metadata) to and from one
backend, under content *names* (32 lowercase hex characters) that the pipeline
(:class:`~durabletask_payloads.DriverPayloadStore`) computes. It knows its
token scheme, so a name becomes a token and back, and nothing of sizes, gzip,
hashing, verification, caching, concurrency or retries: the pipeline does all
of that once, for every driver.

A driver implements the single-object methods (``put_one``, ``get_one`` ...);
the batch methods (``put``, ``get`` ...) loop over them, and a backend with a
native batch API overrides those instead. The async twins run the sync methods
in a worker thread unless overridden. Errors are mapped by the driver, with
:func:`~durabletask_payloads.store_failure`, to ``PayloadStoreUnavailableError``
(transient, retried by the pipeline) or ``PayloadStoreRefusedError``
(permanent); "nothing there" is a None, not an error.
"""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ._exceptions import PayloadError, UnsupportedOperationError

if TYPE_CHECKING:
    from ._codec import EncodedPayload

__all__ = [
    "DriverCapabilities",
    "ObjectInfo",
    "ObjectMeta",
    "PutItem",
    "StorageDriver",
    "StoredObject",
]

_NAME = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class ObjectMeta:
    """The metadata the pipeline stores with each object, and gets back.

    Attributes:
        content_encoding: ``"gzip"`` or ``"identity"``: how the body is encoded.
        sha256: SHA-256 of the payload (not of the body) as hex, if recorded.
        size: Size of the payload in bytes, before compression, if recorded.
        instance_id: The instance that wrote it, if recorded.
        created: When it was stored (UTC), if known. The driver sets it on write.

    """

    content_encoding: str = "identity"
    sha256: str | None = None
    size: int | None = None
    instance_id: str | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """What :meth:`StorageDriver.head_one` and :meth:`StorageDriver.list_objects` report of an object.

    Attributes:
        name: The object's content name.
        meta: Its metadata.
        stored_size: Size of the stored body in bytes.

    """

    name: str
    meta: ObjectMeta
    stored_size: int


@dataclass(frozen=True)
class StoredObject:
    """An object read by :meth:`StorageDriver.get_one`.

    Attributes:
        name: The object's content name.
        meta: Its metadata.
        stored_size: Size of the stored body in bytes.
        body: The stored body, or None when it was larger than the caller's
            ``max_bytes`` and so was not read (the pipeline refuses it).
        tag: What stands for an ETag: handed back to :meth:`StorageDriver.replace_one`
            to replace exactly this object.
        damage: Why the object is not a readable copy (its metadata could not be
            read, say), when the driver found that out itself: the pipeline raises
            it on a read, and a write replaces the object (under *tag*).

    """

    name: str
    meta: ObjectMeta
    stored_size: int
    body: bytes | None = field(repr=False)
    tag: object = None
    damage: PayloadError | None = None


@dataclass(frozen=True)
class PutItem:
    """One object to write: its name, metadata and body.

    Attributes:
        payload: The encoded payload (private to the pipeline; use the properties).
        instance_id: The instance that writes it, recorded in its metadata.

    """

    payload: EncodedPayload = field(repr=False)
    instance_id: str | None = None

    @property
    def name(self) -> str:
        """The object's content name."""
        return self.payload.name

    @property
    def body(self) -> bytes:
        """The bytes to store (compressed on first use, so a skipped write never pays for it)."""
        return self.payload.body

    @property
    def meta(self) -> ObjectMeta:
        """The metadata to store with it (``created`` is left to the driver)."""
        encoded = self.payload
        return ObjectMeta(encoded.content_encoding, encoded.sha256, encoded.size, self.instance_id)


@dataclass(frozen=True)
class DriverCapabilities:
    """What a driver supports beyond put and get.

    Attributes:
        delete: ``delete_one`` works.
        list: ``list_objects`` works.
        head: ``head_one`` works (else inspecting payloads is unsupported).
        native_async: The async twins are the driver's own, not sync calls in a thread.
        confirm: ``confirm_one`` works: the pipeline asks it whether a payload it
            moved recently is still there before sending it again, and does the
            verified write when the answer is no (a wrong "no" costs a write, a
            wrong "yes" is never made). Without it, every write is a verified
            write: ``put_one``, and on a taken name a read back.
        foreign_names: Other writers (the .NET and Java SDKs) store objects here
            under version-4 GUID names, which certify nothing about the content:
            such an object is only checked against the hash in its metadata, if any.

    """

    delete: bool = True
    list: bool = True
    head: bool = True
    native_async: bool = False
    confirm: bool = False
    foreign_names: bool = False


class StorageDriver(abc.ABC):
    """Base class of a backend under :class:`~durabletask_payloads.DriverPayloadStore`.

    Implement :attr:`token_prefixes`, :meth:`token_for`, :meth:`put_one`,
    :meth:`replace_one` and :meth:`get_one`; add :meth:`head_one`,
    :meth:`delete_one` and :meth:`list_objects` (and say so in :attr:`capabilities`)
    for tooling and clean-up. Drivers are used from many threads at once.

    A driver of a simple scheme sets :attr:`scheme` and inherits
    ``<scheme>:v1:<name>`` tokens.
    """

    #: For a simple driver: tokens are ``<scheme>:v1:<name>``.
    scheme: str = ""
    #: What this driver supports; unsupported operations raise UnsupportedOperationError.
    capabilities: DriverCapabilities = DriverCapabilities()

    # -- tokens ---------------------------------------------------------------------------

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """Every prefix a token of this driver starts with."""
        return (f"{self.scheme}:v1:",)

    def token_for(self, name: str) -> str:
        """Return the token of the object named *name* (32 lowercase hex)."""
        return f"{self.scheme}:v1:{name}"

    def name_of(self, token: str) -> str | None:
        """Return the content name in *token*, or None if it is not a well-formed token of this driver."""
        for prefix in self.token_prefixes:
            if token.startswith(prefix) and _NAME.fullmatch(token, len(prefix)):
                return token[len(prefix) :]
        return None

    def refusal(self, token: str) -> str | None:
        """Say why *token*, which :meth:`name_of` does not claim, is refused, if this driver knows better.

        The pipeline raises it as an :class:`~durabletask_payloads.InvalidPayloadTokenError`
        when no driver claims a token (default None: the generic message).
        """
        return None

    def describe(self) -> str:
        """Name this driver's storage in error messages (a directory, a table): never a secret."""
        return type(self).__name__

    def missing(self, name: str) -> str:
        """Say where the object *name* was looked for, for a not-found error (default: :meth:`describe`)."""
        return f"not in {self.describe()}"

    # -- single objects: what a driver implements -----------------------------------------

    @abc.abstractmethod
    def put_one(self, item: PutItem) -> bool:
        """Write *item* only if its name is free; return True if written, False if something is there."""

    @abc.abstractmethod
    def replace_one(self, item: PutItem, tag: object) -> bool:
        """Write *item* over the object with *tag* (None: only if free); return False if that failed."""

    @abc.abstractmethod
    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        """Read the object *name*, or return None if there is none.

        A body larger than *max_bytes* is not read: the object comes back with
        ``body=None`` and its ``stored_size``.
        """

    def head_one(self, name: str) -> ObjectInfo | None:
        """Describe the object *name* without its body, or return None if there is none."""
        raise UnsupportedOperationError(type(self).__name__, "inspecting payloads")

    def delete_one(self, name: str) -> bool:
        """Delete the object *name*; return False if it was not there."""
        raise UnsupportedOperationError(type(self).__name__, "deleting payloads")

    def list_objects(self) -> Iterator[ObjectInfo]:
        """Yield every object this driver holds."""
        raise UnsupportedOperationError(type(self).__name__, "listing payloads")

    def confirm_one(self, name: str) -> bool:
        """Say whether the object *name* is there, with one cheap request (see ``capabilities.confirm``).

        False when it is not, and also when the check itself fails: the
        pipeline then writes the payload, verified, so a wrong False costs a
        request and a wrong True is never made.
        """
        raise UnsupportedOperationError(type(self).__name__, "confirming payloads")

    def close(self) -> None:  # noqa: B027 - optional: most drivers hold nothing to release
        """Release connections and files (the default holds none)."""

    # -- batches: loops over the single methods, unless the backend has its own -----------

    def put(self, items: Sequence[PutItem]) -> list[bool]:
        """Batch of :meth:`put_one`, in order."""
        return [self.put_one(item) for item in items]

    def replace(self, items: Sequence[tuple[PutItem, object]]) -> list[bool]:
        """Batch of :meth:`replace_one`, in order."""
        return [self.replace_one(item, tag) for item, tag in items]

    def get(self, names: Sequence[str], max_bytes: int) -> list[StoredObject | None]:
        """Batch of :meth:`get_one`, in order."""
        return [self.get_one(name, max_bytes) for name in names]

    def head(self, names: Sequence[str]) -> list[ObjectInfo | None]:
        """Batch of :meth:`head_one`, in order."""
        return [self.head_one(name) for name in names]

    def delete(self, names: Sequence[str]) -> list[bool]:
        """Batch of :meth:`delete_one`, in order."""
        return [self.delete_one(name) for name in names]

    def confirm(self, names: Sequence[str]) -> list[bool]:
        """Batch of :meth:`confirm_one`, in order."""
        return [self.confirm_one(name) for name in names]

    # -- async twins: the sync batch in a thread, unless the backend has its own ---------

    async def put_async(self, items: Sequence[PutItem]) -> list[bool]:
        """Async twin of :meth:`put`."""
        return await asyncio.to_thread(self.put, items)

    async def replace_async(self, items: Sequence[tuple[PutItem, object]]) -> list[bool]:
        """Async twin of :meth:`replace`."""
        return await asyncio.to_thread(self.replace, items)

    async def get_async(self, names: Sequence[str], max_bytes: int) -> list[StoredObject | None]:
        """Async twin of :meth:`get`."""
        return await asyncio.to_thread(self.get, names, max_bytes)

    async def head_async(self, names: Sequence[str]) -> list[ObjectInfo | None]:
        """Async twin of :meth:`head`."""
        return await asyncio.to_thread(self.head, names)

    async def delete_async(self, names: Sequence[str]) -> list[bool]:
        """Async twin of :meth:`delete`."""
        return await asyncio.to_thread(self.delete, names)

    async def confirm_async(self, names: Sequence[str]) -> list[bool]:
        """Async twin of :meth:`confirm`."""
        return await asyncio.to_thread(self.confirm, names)

    async def aclose(self) -> None:  # noqa: B027 - optional: most drivers hold nothing per event loop
        """Release what the calling event loop holds (its async connections); the default holds none.

        Not the end of the driver: the store's ``aclose()`` runs once per event
        loop that used it, and the store stays usable afterwards. :meth:`close`
        ends the driver.
        """
