"""Azure Blob Storage payload store, wire-compatible with the .NET and Java SDKs."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

try:
    import azure.storage.blob  # noqa: F401 - the extra's check, before the helpers below import it
    from azure.core.exceptions import (
        AzureError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "BlobPayloadStore needs the Azure extra: pip install 'durabletask-payloads[azure]'"
    ) from exc

from .._codec import CREATED, REPLACED, EncodedPayload, encode_payload, store_verified, store_verified_async
from .._concurrency import PerLoop
from .._exceptions import (
    InvalidPayloadTokenError,
    PayloadError,
    PayloadNotFoundError,
    store_failure,
)
from .._redact import install_log_redaction, register_secrets, scrub_exception
from .._retry import RetryPolicy, is_transient_status, retrying, retrying_async
from .._steps import Flow, op, run, run_async
from .._store import PayloadInfo, PayloadStore
from .._token import (
    BLOB_V1_PREFIX,
    BLOB_V2_PREFIX,
    format_blob_token_v1,
    format_blob_token_v2,
    is_content_name,
    parse_blob_token,
)
from ._azure_accounts import (
    Location,
    aio_native,
    creating_container,
    new_account,
    new_service_client,
    other_account,
    own_endpoint,
    secrets_of,
)
from ._azure_options import BlobAccount, BlobPayloadStoreOptions
from ._azure_transfer import (
    META_INSTANCE,
    META_SHA256,
    META_SIZE,
    AsyncContainerIO,
    BlobWrite,
    ContainerIO,
    blob_kwargs,
    check_blob_size,
    decode_blob,
    upload_kwargs,
)

__all__ = ["BlobAccount", "BlobPayloadStore", "BlobPayloadStoreOptions"]

_log = logging.getLogger("durabletask_payloads.stores.azure_blob")


def _describe(exc: BaseException) -> str:
    """Status and error code of an Azure error: never its message, which may quote a URL."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if status:
        return f"HTTP {status}" + (f" {code}" if code else "")
    return type(exc).__name__


def _failure(exc: AzureError, operation: str, target: str) -> PayloadError:
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


class BlobPayloadStore(PayloadStore):
    """Stores payloads as blobs in Azure Blob Storage, as the .NET and Java SDKs do.

    Writes go to ``options.container_name``, one blob per distinct payload of an
    instance, named by 32 lowercase hex characters at the container root. A blob
    is created only if absent (``If-None-Match: *``), so writing a payload twice,
    or two workers racing, leaves one blob. Compressed blobs carry
    ``Content-Encoding: gzip``; every blob carries the payload's SHA-256 and
    instance as metadata, which other SDKs ignore.

    Reads accept ``blob:v1:`` and ``blob:v2:`` tokens, inflate only when the blob
    says ``gzip`` (whatever this store's compression setting) and verify the
    SHA-256 when the blob has one. A token for another storage account (unless
    listed in ``allowed_accounts``), or for a container not configured
    (``container_name`` or ``allowed_containers``), is refused before any request
    is made: a token is data, not a permission.

    No SAS, key or connection string ever reaches a token, :attr:`account_url`,
    an error message or a log line: the store masks them in the SDK's loggers
    and in the SDK errors it chains (see docs/azure-blob.md).

    Args:
        options: Connection, container and size settings.

    """

    def __init__(self, options: BlobPayloadStoreOptions) -> None:
        self._options = options
        install_log_redaction()
        register_secrets(secrets_of(options.connection_string, options.credential))
        self._sync = self._new_client(asynchronous=False)
        register_secrets(secrets_of(None, getattr(self._sync, "credential", None)))
        self._account_url = own_endpoint(self._sync, options)
        self._readable = frozenset((options.container_name, *options.allowed_containers))
        self._retry = RetryPolicy.from_options(options)
        self._container_ready = False
        self._container_lock = threading.Lock()
        # aiohttp sessions belong to one event loop: keep one client per loop.
        self._aio_clients: PerLoop[Any] = PerLoop(lambda: self._new_client(asynchronous=True))
        # A sync token credential cannot serve the aio client: fall back to threads.
        self._aio_native = aio_native(options.credential, options.async_credential)
        self._own = new_account(
            self._account_url, self._readable, self._sync, self._aio_clients, self._aio_native
        )
        self._accounts = {self._account_url.lower(): self._own}
        for account in options.allowed_accounts:
            assert isinstance(account, BlobAccount)  # normalised by the options
            key = account.account_url.lower()
            if key in self._accounts:
                raise ValueError(f"allowed_accounts lists this store's own account ({account.account_url})")
            register_secrets(secrets_of(None, account.credential))
            self._accounts[key] = other_account(account, options, self._sync, self._readable)

    @classmethod
    def from_connection_string(cls, connection_string: str, **options: Any) -> BlobPayloadStore:
        """Build a store from a connection string; *options* are other ``BlobPayloadStoreOptions`` fields."""
        return cls(BlobPayloadStoreOptions(connection_string=connection_string, **options))

    @classmethod
    def from_url(cls, account_url: str, credential: Any = None, **options: Any) -> BlobPayloadStore:
        """Build a store from an account URL and a credential.

        Args:
            account_url: The blob endpoint, e.g. ``https://<account>.blob.core.windows.net``.
                A SAS URL (``...?sv=...&sig=...``) works too: its query becomes the credential.
            credential: An azure-identity credential, an ``AzureNamedKeyCredential`` or a SAS string.
            **options: Further :class:`BlobPayloadStoreOptions` fields.

        """
        return cls(BlobPayloadStoreOptions(account_url=account_url, credential=credential, **options))

    def _new_client(self, *, asynchronous: bool) -> Any:
        """Make a service client for this store's own account."""
        return new_service_client(self._options, asynchronous=asynchronous)

    @property
    def options(self) -> BlobPayloadStoreOptions:
        """The settings of this store."""
        return self._options

    @property
    def account_url(self) -> str:
        """The blob endpoint of the account (for path-style URLs, including the account name).

        Never carries a query: a SAS stays in the client's credentials.
        """
        return self._account_url

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("blob:v1:", "blob:v2:")``."""
        return (BLOB_V1_PREFIX, BLOB_V2_PREFIX)

    # -- tokens -------------------------------------------------------------------------

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a well-formed ``blob:v1:`` or ``blob:v2:`` token.

        A malformed value with a blob prefix is not a token: it stays data, and
        nothing is fetched for it. A well-formed token naming an account or
        container this store may not read is a token, refused when resolved.
        """
        try:
            parse_blob_token(value)
        except InvalidPayloadTokenError:
            return False
        return True

    def _token(self, name: str) -> str:
        container = self._options.container_name
        if self._options.token_version == "v2":  # noqa: S105 - a format version, not a secret
            return format_blob_token_v2(self._account_url, container, name)
        return format_blob_token_v1(container, name)

    def _locate(self, token: str) -> Location:
        """Where the payload of a token this store may read is; refuse other tokens before any I/O."""
        parsed = parse_blob_token(token)
        account = self._own
        if parsed.account_url is not None:
            found = self._accounts.get(parsed.account_url.lower())
            if found is None:
                raise InvalidPayloadTokenError(
                    token,
                    f"it names another storage account ({parsed.account_url}) than this store's "
                    f"({self._account_url}); list it in allowed_accounts to read its payloads",
                )
            account = found
        if parsed.container not in account.readable:
            where = (
                "this store's container_name or in allowed_containers"
                if account is self._own
                else f"in the BlobAccount.containers of {account.endpoint} (empty: this store's "
                "container_name and allowed_containers)"
            )
            raise InvalidPayloadTokenError(token, f"container {parsed.container!r} is not {where}")
        return Location(parsed.container, parsed.blob_name, account)

    # -- writing ------------------------------------------------------------------------

    def _upload_kwargs(self, encoded: EncodedPayload, instance_id: str | None) -> dict[str, Any]:
        return upload_kwargs(self._options, self.account_url, encoded, instance_id)

    def _blob_kwargs(self) -> dict[str, Any]:
        # The customer-provided key, when there is one: every request on a payload blob needs it.
        return blob_kwargs(self._options, self.account_url)

    def _ensure_container(self) -> None:
        if self._container_ready:
            return
        with self._container_lock:
            if not self._container_ready:
                with creating_container():
                    self._own.containers.get(self._options.container_name).create_container()
                self._container_ready = True

    async def _ensure_container_async(self) -> None:
        if self._container_ready:
            return
        with creating_container():
            await self._own.aio_containers.get().get(self._options.container_name).create_container()
        self._container_ready = True

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* as a blob (once per instance and content) and return its token.

        A payload this store has recently moved (it is in :attr:`cache`) is only
        checked with a HEAD request: if the blob is still there, nothing is
        sent. A blob already at the name (HTTP 409) counts as stored only once
        it is verified to be this payload; anything else there is replaced, on
        the condition that it is still the blob that was checked (its ETag).
        """
        encoded = encode_payload(data, self._options, instance_id)
        token = self._token(encoded.name)
        io = ContainerIO(
            self._own.containers.get(self._options.container_name),
            self._ensure_container,
            self._container_gone,
        )
        if token in self.cache and run(self._still_there(encoded.name), io):
            return token
        write = self._write(encoded, token, instance_id)

        def put() -> None:
            try:
                outcome = store_verified(
                    encoded,
                    token,
                    create=lambda: run(write.create(), io),
                    read=lambda: run(write.read(), io),
                    replace=lambda tag: run(write.replace(tag), io),
                )
            except AzureError as exc:
                raise _failure(exc, "upload", token) from exc
            self._log_write(encoded, outcome)

        retrying(put, self._retry)
        return token

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload`."""
        if not self._aio_native:
            return await asyncio.to_thread(self.upload, data, instance_id=instance_id)
        encoded = encode_payload(data, self._options, instance_id)
        token = self._token(encoded.name)
        io = AsyncContainerIO(
            self._own.aio_containers.get().get(self._options.container_name),
            self._ensure_container_async,
            self._container_gone,
        )
        if token in self.cache and await run_async(self._still_there(encoded.name), io):
            return token
        write = self._write(encoded, token, instance_id)

        async def put() -> None:
            try:
                outcome = await store_verified_async(
                    encoded,
                    token,
                    create=lambda: run_async(write.create(), io),
                    read=lambda: run_async(write.read(), io),
                    replace=lambda tag: run_async(write.replace(tag), io),
                )
            except AzureError as exc:
                raise _failure(exc, "upload", token) from exc
            self._log_write(encoded, outcome)

        await retrying_async(put, self._retry)
        return token

    def _write(self, encoded: EncodedPayload, token: str, instance_id: str | None) -> BlobWrite:
        return BlobWrite(
            self._upload_kwargs(encoded, instance_id),
            token=token,
            options=self._options,
            account_url=self.account_url,
        )

    def _still_there(self, name: str) -> Flow[bool]:
        """Whether a blob exists; False when the check itself fails (the write then decides)."""
        try:
            yield op("blob_properties", name, **self._blob_kwargs())
        except AzureError:
            return False
        return True

    def _container_gone(self) -> None:
        self._container_ready = False

    @staticmethod
    def _log_write(encoded: EncodedPayload, outcome: str) -> None:
        if outcome == CREATED:
            _log.info("Stored %d bytes as blob %s (%d stored)", encoded.size, encoded.name, len(encoded.body))
        elif outcome == REPLACED:
            _log.warning("Blob %s did not hold the payload its name certifies; replaced it", encoded.name)
        else:
            _log.debug("Blob %s already holds this payload", encoded.name)

    # -- reading ------------------------------------------------------------------------

    def download(self, token: str) -> bytes:
        """Return the payload behind *token* (v1 or v2), verified as far as its name allows.

        A blob above the read limit (``max_read_payload_bytes``) is refused
        after the first bounded GET, before it is read whole.
        """
        location = self._locate(token)
        io = ContainerIO(location.account.containers.get(location.container))
        properties, body = retrying(lambda: run(self._get(token, location), io), self._retry)
        return self._decode(properties, body, token, location)

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        location = self._locate(token)
        if not location.account.aio_native:
            return await asyncio.to_thread(self.download, token)
        io = AsyncContainerIO(location.account.aio_containers.get().get(location.container))
        properties, body = await retrying_async(
            lambda: run_async(self._get(token, location), io), self._retry
        )
        return self._decode(properties, body, token, location)

    def _get(self, token: str, location: Location) -> Flow[tuple[Any, bytes]]:
        """One attempt at reading a blob: the first GET is bounded, so an oversized one stops there."""
        extra = self._blob_kwargs() if location.account is self._own else {}
        try:
            # decompress=False: the SDK would otherwise inflate gzip blobs by itself.
            stream = yield op("download_blob", location.name, decompress=False, **extra)
            check_blob_size(stream.properties, token, self._options)
            body = yield op("readall", stream)
        except AzureError as exc:
            raise _failure(exc, "download", token) from exc
        return stream.properties, body

    def _decode(self, properties: Any, body: bytes, token: str, location: Location) -> bytes:
        _log.info("Read blob %s/%s (%d bytes stored)", location.container, location.name, len(body))
        return decode_blob(properties, body, token, location.name, self._options)

    # -- lifecycle ----------------------------------------------------------------------

    def delete(self, token: str) -> bool:
        """Delete the blob behind *token*; False if it was already gone."""
        container, name, account = self._locate(token)
        self._forget(token)

        def delete() -> bool:
            try:
                account.containers.get(container).delete_blob(name)
            except ResourceNotFoundError:
                return False
            except AzureError as exc:
                raise _failure(exc, "delete", token) from exc
            return True

        return retrying(delete, self._retry)

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the blob behind *token* from its properties (no download)."""
        container, name, account = self._locate(token)
        blob = account.containers.get(container).get_blob_client(name)
        extra = self._blob_kwargs() if account is self._own else {}

        def head() -> Any:
            try:
                return blob.get_blob_properties(**extra)
            except AzureError as exc:
                raise _failure(exc, "inspect", token) from exc

        return _info(token, retrying(head, self._retry))

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload blob (32-hex name) in ``container_name``."""
        container = self._own.containers.get(self._options.container_name)
        try:
            for blob in container.list_blobs(include=["metadata"]):
                if is_content_name(blob.name):
                    yield _info(self._token(blob.name), blob)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise _failure(exc, "list", self._options.container_name) from exc

    def close(self) -> None:
        """Close the sync clients and the transfer threads."""
        for account in self._accounts.values():
            account.sync.close()
        super().close()

    async def aclose(self) -> None:
        """Close the sync clients and this event loop's async clients."""
        for account in self._accounts.values():
            account.aio_containers.pop()  # they belong to the client closed here
            client = account.aio_clients.pop()
            if client is not None:
                await client.close()
        self.close()


def _info(token: str, properties: Any) -> PayloadInfo:
    metadata = properties.metadata or {}
    size = metadata.get(META_SIZE)
    instance = metadata.get(META_INSTANCE)
    return PayloadInfo(
        token=token,
        size=int(size) if size and size.isdigit() else None,
        stored_size=int(properties.size),
        content_encoding=properties.content_settings.content_encoding or "identity",
        sha256=metadata.get(META_SHA256),
        instance_id=unquote(instance) if instance is not None else None,
        created=properties.creation_time,
    )
