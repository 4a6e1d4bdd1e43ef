"""Writing a store's storage directly, as anyone with write access to it could (not through the store).

Each store kind gets a :class:`Raw` that puts an object of the attacker's choosing at a
token's place: any bytes, with or without the metadata our stores record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pytest

from durabletask_payloads import PayloadStore

#: The stores whose storage a test can write directly (routing only composes them).
BASE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("filesystem", id="filesystem"),
    pytest.param("azure_blob", id="azure_blob", marks=pytest.mark.azurite),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@dataclass(frozen=True)
class Meta:
    """Metadata to put with a planted object, as our stores record it (None: leave it out)."""

    content_encoding: str | None = None
    sha256: str | None = None
    instance_id: str | None = None
    size: int | None = None


class Raw:
    """Puts objects at a token's place in one store's storage."""

    def __init__(self, kind: str, store: PayloadStore, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.store = store
        self.request = request

    def put(self, token: str, body: bytes, meta: Meta = Meta()) -> None:
        """Store *body* (and *meta*) where *token* points, replacing whatever is there."""
        getattr(self, f"_put_{self.kind}")(token, body, meta)

    def put_sparse(self, token: str, size: int) -> None:
        """Put an object of *size* bytes there as cheaply as the storage allows (zeros)."""
        if self.kind == "filesystem":
            path = self.store.path_for(token)  # type: ignore[attr-defined]
            path.parent.mkdir(exist_ok=True)
            with path.open("wb") as handle:
                handle.write(_record_header(Meta(content_encoding="identity")))
                handle.truncate(size)  # a hole: no disk, no page cache
            return
        self.put(token, bytes(size), Meta(content_encoding="identity"))

    # -- one per kind ----------------------------------------------------------------

    def _put_memory(self, token: str, body: bytes, meta: Meta) -> None:
        from durabletask_payloads.stores._memory import _Stored

        name = token.rsplit(":", 1)[1]
        self.store._forget(token)
        self.store._objects[name] = _Stored(  # type: ignore[attr-defined]
            body,
            meta.content_encoding or "identity",
            meta.sha256,
            meta.size,
            meta.instance_id,
            datetime.now(timezone.utc),
        )

    def _put_filesystem(self, token: str, body: bytes, meta: Meta) -> None:
        path = self.store.path_for(token)  # type: ignore[attr-defined]
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(_record_header(meta) + body if meta != Meta() else body)

    def _put_redis(self, token: str, body: bytes, meta: Meta) -> None:
        import redis

        client = redis.Redis.from_url(self.store.options.url)  # type: ignore[attr-defined]
        try:
            client.set(
                token.removeprefix("redis:v1:"), _record_header(meta) + body if meta != Meta() else body
            )
        finally:
            client.close()

    def _put_s3(self, token: str, body: bytes, meta: Meta) -> None:
        server = self.request.getfixturevalue("s3_server")
        bucket, key = token.removeprefix("s3:v1:").split(":", 1)
        client = server.client()
        extra: dict[str, Any] = {"Metadata": _metadata(meta)}
        if meta.content_encoding:
            extra["ContentEncoding"] = meta.content_encoding
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        finally:
            client.close()

    def _put_azure_blob(self, token: str, body: bytes, meta: Meta) -> None:
        from azure.storage.blob import BlobServiceClient, ContentSettings

        azurite = self.request.getfixturevalue("azurite")
        container, name = token.removeprefix("blob:v1:").split(":", 1)
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            if not service.get_container_client(container).exists():
                service.create_container(container)
            service.get_blob_client(container, name).upload_blob(
                body,
                overwrite=True,
                metadata=_metadata(meta),
                content_settings=ContentSettings(content_encoding=meta.content_encoding),
            )


def _metadata(meta: Meta) -> dict[str, str]:
    metadata = {}
    if meta.sha256 is not None:
        metadata["payloadsha256"] = meta.sha256
    if meta.size is not None:
        metadata["payloadsize"] = str(meta.size)
    if meta.instance_id is not None:
        metadata["instanceid"] = quote(meta.instance_id, safe="")
    return metadata


def _record_header(meta: Meta) -> bytes:
    header = {
        "content_encoding": meta.content_encoding or "identity",
        "sha256": meta.sha256,
        "size": meta.size,
        "instance_id": meta.instance_id,
        "created": datetime.now(timezone.utc).isoformat(),
    }
    return b"DTPAYLOAD1 " + json.dumps(header).encode() + b"\n"


def rchar() -> int:
    """Bytes this process has read with read(2) and the like so far (Linux's /proc/self/io)."""
    with open(f"/proc/{os.getpid()}/io") as handle:
        for line in handle:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")
