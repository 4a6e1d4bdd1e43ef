"""The Azure Blob store's driver: the blobs of one container of one storage account.

The pipeline (:class:`~durabletask_payloads.DriverPayloadStore`) does sizes,
naming, gzip, verification and retries; a :class:`BlobDriver` moves one blob at
a time and maps the SDK's errors (:func:`failure`). Each operation is written
once, as a flow (:mod:`.._steps`) of SDK calls: the sync methods run it on the
sync client's :class:`~._azure_transfer.ContainerIO`, the async twins on this
event loop's aio client's :class:`~._azure_transfer.AsyncContainerIO` when the
account's credential can serve an aio client (else in a thread, as the
pipeline does for any driver without native async).

The store (``_azure_blob.py``) makes one driver per (account, container) it may
read and owns their clients: it closes them, and the pipeline refuses every call
after that with :class:`~durabletask_payloads.PayloadStoreClosedError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from .._codec import max_stored_body
from .._driver import DriverCapabilities, ObjectInfo, PutItem, StorageDriver, StoredObject
from .._exceptions import (
    InvalidPayloadTokenError,
    PayloadError,
    PayloadNotFoundError,
    store_failure,
)
from .._redact import scrub_exception
from .._retry import is_transient_status
from .._steps import Flow, op, run, run_async
from .._token import (
    BLOB_V1_PREFIX,
    BLOB_V2_PREFIX,
    format_blob_token_v1,
    format_blob_token_v2,
    is_content_name,
    parse_blob_token,
)
from ._azure_accounts import Account
from ._azure_options import BlobPayloadStoreOptions
from ._azure_transfer import (
    AsyncContainerIO,
    ContainerIO,
    ContainerState,
    DirectContainerIO,
    blob_kwargs,
    conditional,
    object_meta,
    upload_kwargs,
)

__all__ = ["BlobDriver", "failure"]

_log = logging.getLogger("durabletask_payloads.stores.azure_blob")

T = TypeVar("T")


def _describe(exc: BaseException) -> str:
    """Status and error code of an Azure error: never its message, which may quote a URL."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if status:
        return f"HTTP {status}" + (f" {code}" if code else "")
    return type(exc).__name__


def failure(exc: AzureError, operation: str, target: str) -> PayloadError:
    """Map an SDK error to ours: not found, transient (no answer, 408/429/5xx) or permanent."""
    # The SDK's error (or the requests/urllib3 one under it) may quote the request URL and its SAS;
    # it is chained under ours, and durabletask copies chained messages into failure details.
    scrub_exception(exc)
    if isinstance(exc, ResourceNotFoundError):
        return PayloadNotFoundError(target, _describe(exc))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        transient = True  # no answer: could not connect, or the connection broke or timed out
    else:
        transient = is_transient_status(getattr(exc, "status_code", None))
    return store_failure(operation, target, _describe(exc), transient=transient)


class BlobDriver(StorageDriver):
    """The blobs of *container* in *account*; tokens ``blob:v1:<container>:<name>`` or ``blob:v2:<URL>``.

    Args:
        account: The account's endpoint and clients (the store's own, or an allowed one).
        container: The container this driver reads (and, for the store's own, writes).
        options: The store's settings (read limit, encryption, token version).
        own_endpoint: The store's own endpoint: a customer-provided key goes with every request
            to it (needs https), and v1 tokens name only its blobs.

    """

    def __init__(
        self,
        account: Account,
        container: str,
        options: BlobPayloadStoreOptions,
        own_endpoint: str,
    ) -> None:
        self.account = account
        self.container = container
        self._options = options
        self._own = account.endpoint.lower() == own_endpoint.lower()
        self._own_endpoint = own_endpoint
        self._ready = ContainerState()
        # The SDK refuses the key over http: with it set on such an endpoint, every request is refused.
        self._cpk: Callable[[], dict[str, Any]] = (
            (lambda: blob_kwargs(options, own_endpoint)) if self._own else dict
        )
        self.capabilities = DriverCapabilities(
            native_async=account.aio_native, confirm=True, foreign_names=True
        )

    # -- tokens -------------------------------------------------------------------------

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        return (BLOB_V1_PREFIX, BLOB_V2_PREFIX)

    def token_for(self, name: str) -> str:
        if self._own and self._options.token_version == "v1":  # noqa: S105 - a format version
            return format_blob_token_v1(self.container, name)
        return format_blob_token_v2(self.account.endpoint, self.container, name)

    def name_of(self, token: str) -> str | None:
        """Return the blob name in *token* if it names this container (v1 tokens: of the store's own account).

        Any blob name the token format allows, not only 32 hex: other SDKs' tokens name their blobs.
        """
        try:
            parsed = parse_blob_token(token)
        except InvalidPayloadTokenError:
            return None
        account = self._own_endpoint if parsed.account_url is None else parsed.account_url
        if account.lower() != self.account.endpoint.lower() or parsed.container != self.container:
            return None
        return parsed.blob_name

    def describe(self) -> str:
        return f"the blob container {self.container!r}"

    def missing(self, name: str) -> str:
        return f"HTTP 404: no blob {name} in container {self.container!r}"

    # -- the edges --------------------------------------------------------------------------

    def _io(self) -> ContainerIO:
        container = self.account.containers.get(self.container)
        if self.account.direct is not None:
            return DirectContainerIO(container, self.account.direct, self.container)
        return ContainerIO(container)

    def _aio(self) -> AsyncContainerIO:
        return AsyncContainerIO(self.account.aio_containers.get().get(self.container))

    # -- the flows: written once --------------------------------------------------------

    def _put(self, item: PutItem) -> Flow[bool]:
        """Create the blob if its name is free; False when it is taken (HTTP 409)."""
        kwargs = upload_kwargs(self._options, self._own_endpoint, item)
        try:
            try:
                if not self._ready.ready:
                    yield op("create_container", self._ready)
                yield op("upload_blob", **kwargs)
            except ResourceNotFoundError:
                # The container was deleted behind our back: create it again, once.
                self._ready.ready = False
                yield op("create_container", self._ready)
                yield op("upload_blob", **kwargs)
        except ResourceExistsError:
            return False
        except AzureError as exc:
            raise failure(exc, "upload", self.token_for(item.name)) from exc
        meta = item.meta
        _log.info("Stored %d bytes as blob %s (%d stored)", meta.size, item.name, len(item.body))
        return True

    def _replace(self, item: PutItem, tag: object) -> Flow[bool]:
        """Write over the blob with ETag *tag* (None: only if the name is free); False if that changed."""
        kwargs = conditional(upload_kwargs(self._options, self._own_endpoint, item), tag)
        try:
            yield op("upload_blob", **kwargs)
        except (ResourceExistsError, ResourceModifiedError):
            return False
        except AzureError as exc:
            raise failure(exc, "upload", self.token_for(item.name)) from exc
        return True  # the pipeline logs the replacement

    def _get(self, name: str, max_bytes: int) -> Flow[StoredObject | None]:
        """One bounded GET (the client's ``max_single_get_size``); the rest only when within the limit."""
        try:
            # decompress=False: the SDK would otherwise inflate gzip blobs by itself.
            stream = yield op("download_blob", name, decompress=False, **self._cpk())
            properties = stream.properties
            meta = object_meta(properties)
            size = int(properties.size)  # the whole blob's, from the first response's Content-Range
            if size > min(max_bytes, max_stored_body(self._options, meta.content_encoding)):
                return StoredObject(name, meta, size, None, tag=properties.etag)
            body = yield op("readall", stream)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise failure(exc, "download", self.token_for(name)) from exc
        _log.info("Read blob %s/%s (%d bytes stored)", self.container, name, len(body))
        return StoredObject(name, meta, size, body, tag=properties.etag)

    def _head(self, name: str) -> Flow[ObjectInfo | None]:
        try:
            properties = yield op("blob_properties", name, **self._cpk())
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise failure(exc, "inspect", self.token_for(name)) from exc
        return ObjectInfo(name, object_meta(properties), int(properties.size))

    def _confirm(self, name: str) -> Flow[bool]:
        """Whether the blob exists; False when the check itself fails (the verified write then decides)."""
        try:
            yield op("blob_properties", name, **self._cpk())
        except AzureError:
            return False
        return True

    def _delete(self, name: str) -> Flow[bool]:
        try:
            yield op("delete_blob", name)
        except ResourceNotFoundError:
            return False
        except AzureError as exc:
            raise failure(exc, "delete", self.token_for(name)) from exc
        return True

    # -- sync: the flows on the sync client ---------------------------------------------

    def put_one(self, item: PutItem) -> bool:
        return run(self._put(item), self._io())

    def replace_one(self, item: PutItem, tag: object) -> bool:
        return run(self._replace(item, tag), self._io())

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        return run(self._get(name, max_bytes), self._io())

    def head_one(self, name: str) -> ObjectInfo | None:
        return run(self._head(name), self._io())

    def confirm_one(self, name: str) -> bool:
        return run(self._confirm(name), self._io())

    def delete_one(self, name: str) -> bool:
        return run(self._delete(name), self._io())

    def list_objects(self) -> Iterator[ObjectInfo]:
        """Yield every payload blob (32-hex name) of the container, with its metadata."""
        container = self.account.containers.get(self.container)
        try:
            for blob in container.list_blobs(include=["metadata"]):
                if is_content_name(blob.name):
                    yield ObjectInfo(blob.name, object_meta(blob), int(blob.size))
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise failure(exc, "list", self.container) from exc

    # -- async: the same flows on this loop's aio client --------------------------------

    async def _each(self, sync_batch: Callable[[], list[T]], flows: Iterable[Flow[T]]) -> list[T]:
        if not self.capabilities.native_async:
            # A sync token credential cannot serve the aio client: the sync calls, in a thread.
            return await asyncio.to_thread(sync_batch)
        return [await run_async(flow, self._aio()) for flow in flows]

    async def put_async(self, items: Sequence[PutItem]) -> list[bool]:
        return await self._each(lambda: self.put(items), (self._put(i) for i in items))

    async def replace_async(self, items: Sequence[tuple[PutItem, object]]) -> list[bool]:
        return await self._each(lambda: self.replace(items), (self._replace(i, t) for i, t in items))

    async def get_async(self, names: Sequence[str], max_bytes: int) -> list[StoredObject | None]:
        return await self._each(lambda: self.get(names, max_bytes), (self._get(n, max_bytes) for n in names))

    async def head_async(self, names: Sequence[str]) -> list[ObjectInfo | None]:
        return await self._each(lambda: self.head(names), (self._head(n) for n in names))

    async def confirm_async(self, names: Sequence[str]) -> list[bool]:
        return await self._each(lambda: self.confirm(names), (self._confirm(n) for n in names))

    async def delete_async(self, names: Sequence[str]) -> list[bool]:
        return await self._each(lambda: self.delete(names), (self._delete(n) for n in names))
