"""What the Azure Blob driver sends and reads for one blob, and the I/O edges its flows run on.

Kept apart from the driver (``_azure_driver.py``, which holds the flows) so that
the wire format reads in one place: the upload arguments with their metadata
and encryption settings, the conditional replace, the metadata read back; and
:class:`ContainerIO` / :class:`AsyncContainerIO`, the only twinned code: one
method per SDK call, plain or awaited.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.storage.blob import ContentSettings, CustomerProvidedEncryptionKey

from .._codec import GZIP, IDENTITY
from .._driver import ObjectMeta, PutItem
from .._exceptions import PayloadStoreRefusedError
from ._azure_accounts import creating_container
from ._azure_options import BlobPayloadStoreOptions

__all__ = [
    "META_INSTANCE",
    "META_SHA256",
    "META_SIZE",
    "AsyncContainerIO",
    "ContainerIO",
    "ContainerState",
    "blob_kwargs",
    "conditional",
    "object_meta",
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


def upload_kwargs(options: BlobPayloadStoreOptions, account_url: str, item: PutItem) -> dict[str, Any]:
    """Return the ``upload_blob`` arguments that create *item*'s blob only if its name is free."""
    meta = item.meta
    metadata = {META_SHA256: str(meta.sha256), META_SIZE: str(meta.size)}
    if meta.instance_id is not None:
        metadata[META_INSTANCE] = quote(meta.instance_id, safe="")
    kwargs: dict[str, Any] = {
        "name": item.name,
        "data": item.body,
        "overwrite": False,  # If-None-Match: *
        "metadata": metadata,
        "content_settings": ContentSettings(content_encoding=GZIP if meta.content_encoding == GZIP else None),
        **blob_kwargs(options, account_url),
    }
    if options.encryption_scope is not None:
        kwargs["encryption_scope"] = options.encryption_scope
    return kwargs


def conditional(kwargs: dict[str, Any], etag: object) -> dict[str, Any]:
    """Return *kwargs* made to write over the blob with *etag* (None: only if the name is free)."""
    if etag is None:
        return kwargs
    return kwargs | {"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def object_meta(properties: Any) -> ObjectMeta:
    """Return the pipeline's metadata of a blob, from its properties (a listing's or a GET's)."""
    metadata = properties.metadata or {}
    size = metadata.get(META_SIZE)
    instance = metadata.get(META_INSTANCE)
    return ObjectMeta(
        content_encoding=properties.content_settings.content_encoding or IDENTITY,
        sha256=metadata.get(META_SHA256),
        size=int(size) if size and size.isdigit() else None,
        instance_id=unquote(instance) if instance is not None else None,
        created=properties.creation_time,
    )


class ContainerState:
    """Whether a container is known to exist, and the lock that makes the sync edge create it once."""

    def __init__(self) -> None:
        self.ready = False
        self.lock = threading.Lock()


class ContainerIO:
    """The sync edge of the driver's flows: one sync ``ContainerClient``'s calls.

    Args:
        container: A sync ``ContainerClient``.

    """

    def __init__(self, container: Any) -> None:
        self._container = container

    def create_container(self, state: ContainerState) -> None:
        # Under the lock: a batch's threads that all find it missing make one request, not one each.
        with state.lock:
            if not state.ready:
                with creating_container():
                    self._container.create_container()
                state.ready = True

    def upload_blob(self, **kwargs: Any) -> None:
        self._container.upload_blob(**kwargs)

    def download_blob(self, name: str, **kwargs: Any) -> Any:
        return self._container.download_blob(name, **kwargs)

    def readall(self, stream: Any) -> bytes:
        return stream.readall()  # type: ignore[no-any-return]

    def blob_properties(self, name: str, **kwargs: Any) -> Any:
        return self._container.get_blob_client(name).get_blob_properties(**kwargs)

    def delete_blob(self, name: str) -> None:
        self._container.delete_blob(name)


class AsyncContainerIO:
    """The async edge: :class:`ContainerIO`'s calls on an aio ``ContainerClient``, awaited."""

    def __init__(self, container: Any) -> None:
        self._container = container

    async def create_container(self, state: ContainerState) -> None:
        # One event loop's coroutines interleave only at an await: the check needs no lock.
        if not state.ready:
            with creating_container():
                await self._container.create_container()
            state.ready = True

    async def upload_blob(self, **kwargs: Any) -> None:
        await self._container.upload_blob(**kwargs)

    async def download_blob(self, name: str, **kwargs: Any) -> Any:
        return await self._container.download_blob(name, **kwargs)

    async def readall(self, stream: Any) -> bytes:
        return await stream.readall()  # type: ignore[no-any-return]

    async def blob_properties(self, name: str, **kwargs: Any) -> Any:
        return await self._container.get_blob_client(name).get_blob_properties(**kwargs)

    async def delete_blob(self, name: str) -> None:
        await self._container.delete_blob(name)
