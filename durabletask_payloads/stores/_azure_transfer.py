"""What the Azure Blob store sends and checks for one blob: arguments, encryption, bounded reads, writes.

Kept apart from the store (which holds clients, containers and tokens) so that the
data path reads in one place: the upload arguments with their encryption
settings, the size check made after the first bounded GET, the decoding with
its integrity rules, and the create / read back / replace steps that
:func:`~durabletask_payloads._codec.store_verified` drives for one payload.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContentSettings, CustomerProvidedEncryptionKey

from .._codec import EncodedPayload, Existing, check_stored_size, decode_payload
from .._exceptions import PayloadReadLimitError, PayloadStoreRefusedError
from .._steps import Flow, op
from ._azure_options import BlobPayloadStoreOptions

__all__ = [
    "META_INSTANCE",
    "META_SHA256",
    "META_SIZE",
    "AsyncContainerIO",
    "BlobWrite",
    "ContainerIO",
    "blob_kwargs",
    "check_blob_size",
    "decode_blob",
    "upload_kwargs",
]

# Blob metadata (ignored by other SDKs): the payload's hash, size and instance, for checks and clean-up.
META_SHA256 = "payloadsha256"
META_SIZE = "payloadsize"
META_INSTANCE = "instanceid"


def blob_kwargs(options: BlobPayloadStoreOptions, account_url: str) -> dict[str, Any]:
    """Return what every request on a payload blob carries: the customer-provided key, if any.

    Raises:
        PayloadStoreRefusedError: A customer-provided key is set but the endpoint is not
            https (the SDK would refuse to send a key in clear text).

    """
    key = options.customer_provided_key
    if key is None:
        return {}
    if not account_url.lower().startswith("https://"):
        raise PayloadStoreRefusedError(
            "transfer", options.container_name, "customer_provided_key needs an https:// endpoint"
        )
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(key)).digest()).decode()
    return {"cpk": CustomerProvidedEncryptionKey(key_value=key, key_hash=digest)}


def upload_kwargs(
    options: BlobPayloadStoreOptions, account_url: str, encoded: EncodedPayload, instance_id: str | None
) -> dict[str, Any]:
    """Return the ``upload_blob`` arguments that create *encoded*'s blob only if its name is free."""
    metadata = {META_SHA256: encoded.sha256, META_SIZE: str(encoded.size)}
    if instance_id is not None:
        metadata[META_INSTANCE] = quote(instance_id, safe="")
    encoding = "gzip" if encoded.content_encoding == "gzip" else None
    kwargs: dict[str, Any] = {
        "name": encoded.name,
        "data": encoded.body,
        "overwrite": False,  # If-None-Match: *
        "metadata": metadata,
        "content_settings": ContentSettings(content_encoding=encoding),
        **blob_kwargs(options, account_url),
    }
    if options.encryption_scope is not None:
        kwargs["encryption_scope"] = options.encryption_scope
    return kwargs


def _conditional(kwargs: dict[str, Any], etag: object) -> dict[str, Any]:
    # Over the blob with this ETag only; with None, only if the name is free (as the first write).
    if etag is None:
        return kwargs
    return kwargs | {"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def check_blob_size(properties: Any, token: str, options: BlobPayloadStoreOptions) -> None:
    """Refuse a blob above the read limit from its properties (known after the first bounded GET)."""
    check_stored_size(
        int(properties.size),
        content_encoding=properties.content_settings.content_encoding,
        token=token,
        options=options,
    )


def decode_blob(
    properties: Any, body: bytes, token: str, name: str, options: BlobPayloadStoreOptions
) -> bytes:
    """Turn a blob's body back into the payload, verified as far as its name and metadata allow."""
    metadata = properties.metadata or {}
    instance = metadata.get(META_INSTANCE)
    return decode_payload(
        body,
        content_encoding=properties.content_settings.content_encoding,
        sha256=metadata.get(META_SHA256),
        token=token,
        options=options,
        name=name,
        instance_id=unquote(instance) if instance is not None else None,
        # .NET and Java write to the same containers, under version-4 GUID names.
        foreign_names=True,
    )


def _existing(
    properties: Any,
    body: bytes | PayloadReadLimitError,
    token: str,
    name: str,
    options: BlobPayloadStoreOptions,
) -> Existing:
    def decode() -> bytes:
        if isinstance(body, PayloadReadLimitError):
            raise body
        return decode_blob(properties, body, token, name, options)

    return Existing(properties.etag, decode)


class BlobWrite:
    """The steps of one verified write (see ``store_verified``), as flows for either kind of client.

    Each method is a flow (``_steps.py``): run it with :func:`~durabletask_payloads._steps.run`
    on a :class:`ContainerIO` or with ``run_async`` on an :class:`AsyncContainerIO`.

    Args:
        kwargs: :func:`upload_kwargs` of the payload.
        token: The payload's token, for errors.
        options: The store's options (read limit, encryption).
        account_url: The store's endpoint (a customer-provided key needs https).

    """

    def __init__(
        self, kwargs: dict[str, Any], *, token: str, options: BlobPayloadStoreOptions, account_url: str
    ) -> None:
        self._kwargs = kwargs
        self._token = token
        self._options = options
        self._account_url = account_url

    def create(self) -> Flow[bool]:
        """Create the blob if its name is free; False when it is taken (HTTP 409)."""
        yield op("ensure_container")
        try:
            try:
                yield op("upload_blob", **self._kwargs)
            except ResourceNotFoundError:
                # The container was deleted behind our back: create it again, once.
                yield op("container_gone")
                yield op("ensure_container")
                yield op("upload_blob", **self._kwargs)
        except ResourceExistsError:
            return False
        return True

    def read(self) -> Flow[Existing | None]:
        """Read back what is at the name (within the read limit), or None if nothing is."""
        name = self._kwargs["name"]
        try:
            stream = yield op(
                "download_blob", name, decompress=False, **blob_kwargs(self._options, self._account_url)
            )
            try:
                check_blob_size(stream.properties, self._token, self._options)
            except PayloadReadLimitError as exc:
                return _existing(stream.properties, exc, self._token, name, self._options)
            body = yield op("readall", stream)
        except ResourceNotFoundError:
            return None
        return _existing(stream.properties, body, self._token, name, self._options)

    def replace(self, etag: object) -> Flow[bool]:
        """Write over the blob with *etag* (None: only if the name is free); False if that changed."""
        try:
            yield op("upload_blob", **_conditional(self._kwargs, etag))
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True


class ContainerIO:
    """The sync edge of the flows: one container client, and the store's container bookkeeping.

    Args:
        container: A sync ``ContainerClient``.
        ensure_container: Creates the container if it is not known to exist.
        container_gone: Forgets that the container exists (it was deleted behind the store's back).

    """

    def __init__(
        self,
        container: Any,
        ensure_container: Callable[[], None] = lambda: None,
        container_gone: Callable[[], None] = lambda: None,
    ) -> None:
        self._container = container
        self._ensure = ensure_container
        self._gone = container_gone

    def ensure_container(self) -> None:
        self._ensure()

    def container_gone(self) -> None:
        self._gone()

    def upload_blob(self, **kwargs: Any) -> None:
        self._container.upload_blob(**kwargs)

    def download_blob(self, name: str, **kwargs: Any) -> Any:
        return self._container.download_blob(name, **kwargs)

    def readall(self, stream: Any) -> bytes:
        return stream.readall()  # type: ignore[no-any-return]

    def blob_properties(self, name: str, **kwargs: Any) -> Any:
        return self._container.get_blob_client(name).get_blob_properties(**kwargs)


class AsyncContainerIO:
    """The async edge: :class:`ContainerIO`'s operations on an aio ``ContainerClient``, awaited."""

    def __init__(
        self,
        container: Any,
        ensure_container: Callable[[], Awaitable[None]] | None = None,
        container_gone: Callable[[], None] = lambda: None,
    ) -> None:
        self._container = container
        self._ensure = ensure_container
        self._gone = container_gone

    async def ensure_container(self) -> None:
        if self._ensure is not None:
            await self._ensure()

    async def container_gone(self) -> None:
        self._gone()

    async def upload_blob(self, **kwargs: Any) -> None:
        await self._container.upload_blob(**kwargs)

    async def download_blob(self, name: str, **kwargs: Any) -> Any:
        return await self._container.download_blob(name, **kwargs)

    async def readall(self, stream: Any) -> bytes:
        return await stream.readall()  # type: ignore[no-any-return]

    async def blob_properties(self, name: str, **kwargs: Any) -> Any:
        return await self._container.get_blob_client(name).get_blob_properties(**kwargs)
