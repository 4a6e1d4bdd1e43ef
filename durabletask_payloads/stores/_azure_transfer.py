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
import http.client
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import ServiceResponseError
from azure.storage.blob import ContentSettings, CustomerProvidedEncryptionKey

from .._codec import GZIP, IDENTITY
from .._driver import ObjectMeta, PutItem
from .._exceptions import PayloadStoreRefusedError
from ._azure_accounts import GET_CHUNK, creating_container
from ._azure_http import BlobHttp
from ._azure_options import BlobPayloadStoreOptions
from ._azure_rest import META_PREFIX, cpk_headers, put_headers

__all__ = [
    "META_INSTANCE",
    "META_SHA256",
    "META_SIZE",
    "AsyncContainerIO",
    "ContainerIO",
    "ContainerState",
    "DirectContainerIO",
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


class _Properties:
    """What the driver reads of a downloaded blob's properties, as the SDK's ``BlobProperties`` names it."""

    def __init__(self, headers: http.client.HTTPMessage, size: int) -> None:
        self.size = size
        self.etag = headers.get("ETag")
        self.metadata = {
            name[len(META_PREFIX) :]: value
            for name, value in headers.items()
            if name.lower().startswith(META_PREFIX)
        }
        self.content_settings = _ContentSettings(headers.get("Content-Encoding"))
        created = headers.get("x-ms-creation-time")
        self.creation_time = parsedate_to_datetime(created) if created else None


@dataclass(frozen=True)
class _ContentSettings:
    content_encoding: str | None


class _Download:
    """A blob's first bounded GET, then on :meth:`readall` the rest in chunks of that size, as the SDK."""

    def __init__(
        self, http: BlobHttp, container: str, name: str, headers: dict[str, str], chunk: int
    ) -> None:
        self._http = http
        self._container = container
        self._name = name
        self._headers = headers
        self._chunk = chunk
        reply = http.send("GET", container, name, {**headers, "x-ms-range": f"bytes=0-{chunk - 1}"})
        if reply.status == 416:  # an empty blob has no byte 0: read it whole, as the SDK does
            reply = http.send("GET", container, name, headers)
        size = len(reply.body)
        content_range = reply.headers.get("Content-Range")
        if reply.status == 206 and content_range and "/" in content_range:
            size = int(content_range.rsplit("/", 1)[1])
        self.properties = _Properties(reply.headers, size)
        self._first = reply.body

    def readall(self) -> bytes:
        parts = [self._first]
        got = len(self._first)
        size = self.properties.size
        while got < size:
            last = min(got + self._chunk, size) - 1
            # If-Match: the rest must come from the blob the first GET read.
            condition = {"If-Match": self.properties.etag} if self.properties.etag else {}
            reply = self._http.send(
                "GET",
                self._container,
                self._name,
                {**self._headers, **condition, "x-ms-range": f"bytes={got}-{last}"},
            )
            if not reply.body:
                raise ServiceResponseError("the blob's range came back empty")
            parts.append(reply.body)
            got += len(reply.body)
        return b"".join(parts)


class DirectContainerIO(ContainerIO):
    """:class:`ContainerIO` whose uploads and downloads skip the SDK's pipeline (``_azure_http.py``).

    Its other calls (container creation, properties, deletion) are the SDK's.

    Args:
        container: The sync ``ContainerClient`` (container creation, properties, deletion).
        http: The account's direct path.
        name: The container's name.

    """

    def __init__(self, container: Any, http: BlobHttp, name: str) -> None:
        super().__init__(container)
        self._http = http
        self._name = name

    def upload_blob(self, **kwargs: Any) -> None:
        name, data = kwargs.pop("name"), kwargs.pop("data")
        self._http.send("PUT", self._name, name, put_headers(kwargs), bytes(data))

    def download_blob(self, name: str, **kwargs: Any) -> Any:
        if kwargs.pop("decompress", True) is not False:
            raise TypeError("the direct path reads stored bytes only (decompress=False)")
        cpk = kwargs.pop("cpk", None)
        if kwargs:
            raise TypeError(f"download_blob arguments the direct path does not send: {sorted(kwargs)}")
        return _Download(self._http, self._name, name, cpk_headers(cpk), GET_CHUNK)


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
