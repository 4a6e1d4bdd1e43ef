"""One harness over the three remote stores: Azure Blob on Azurite, S3 on moto, Redis on redis-server.

A :class:`Remote` gives a contract test what it needs without knowing the store: stores on the
real server (as many as it likes, on the same storage), the storage's own keys, a way to change a
stored payload's bytes behind the store's back (its metadata kept), a fingerprint that changes
when an object is written again, and the options of a store on an endpoint of the test's choosing,
where a :class:`~tests.faults.ConnectionCounter` counts what the store tried.
``test_remote_contract.py`` drives it; what only one store does stays in tests/azure, tests/s3
and tests/redis.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from durabletask_payloads import PayloadStore

from ..conftest import new_s3_bucket, s3_options
from ..services import (
    DEV_KEY,
    MOTO_ACCESS_KEY,
    MOTO_SECRET_KEY,
    Azurite,
    MotoS3,
    Redis,
    dev_connection_string,
)

#: Quick retries: the tests count attempts, they never wait them out.
FAST = {"retry_total": 1, "retry_backoff_seconds": 0.01}
S3_SESSION_TOKEN = "session-token-that-must-not-leak-7f3a"
REDIS_PASSWORD = "hunter2-secret"


@dataclass(frozen=True)
class Remote:
    """One remote store kind on its real server, seen from outside the store."""

    kind: str
    #: A new store on the test's storage (one container, bucket or key prefix); the caller closes it.
    store: Callable[[], PayloadStore]
    #: The storage's own keys under the test's container, bucket or prefix, sorted.
    keys: Callable[[], list[str]]
    #: The storage key a token names.
    key: Callable[[str], str]
    #: Put ``gzip(body)`` where the token points, keeping the metadata the store recorded.
    rewrite: Callable[[str, bytes], None]
    #: Something about the stored object that changes whenever it is written again.
    fingerprint: Callable[[str], object]


@dataclass(frozen=True)
class Offline:
    """One remote store kind with no server behind it: what a test can check without one."""

    kind: str
    #: A store whose endpoint is 127.0.0.1:<port>, carrying credentials (which errors must not show).
    unreachable: Callable[[int], PayloadStore]
    #: A well-formed token of this store kind, for reads from an unreachable store.
    token: str
    #: Strings no error of the unreachable store may contain.
    secrets: tuple[str, ...]
    #: The module whose absence the store reports, the store's name, an options expression that
    #: must import without the extra (or ""), and the install command the error names.
    extra: tuple[str, str, str, str]


def _azure(azurite: Azurite) -> Remote:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions

    container = f"h-{uuid.uuid4().hex[:16]}"
    options = BlobPayloadStoreOptions(connection_string=azurite.connection_string, container_name=container)

    def blob(token: str) -> Any:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        return service.get_blob_client(container, token.rsplit(":", 1)[1])

    def keys() -> list[str]:
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            client = service.get_container_client(container)
            return sorted(b.name for b in client.list_blobs()) if client.exists() else []

    def rewrite(token: str, body: bytes) -> None:
        with blob(token) as client:
            metadata = client.get_blob_properties().metadata
            client.upload_blob(
                gzip.compress(body),
                overwrite=True,
                metadata=metadata,
                content_settings=ContentSettings(content_encoding="gzip"),
            )

    def fingerprint(token: str) -> object:
        with blob(token) as client:
            return client.get_blob_properties().etag

    return Remote(
        kind="azure_blob",
        store=lambda: BlobPayloadStore(options),
        keys=keys,
        key=lambda token: token.rsplit(":", 1)[1],
        rewrite=rewrite,
        fingerprint=fingerprint,
    )


def _s3(server: MotoS3) -> Remote:
    from durabletask_payloads import S3PayloadStore

    bucket = new_s3_bucket(server)
    options = s3_options(server, bucket)

    def key(token: str) -> str:
        return token.split(":", 3)[3]

    def keys() -> list[str]:
        client = server.client()
        try:
            return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
        finally:
            client.close()

    def rewrite(token: str, body: bytes) -> None:
        client = server.client()
        try:
            head = client.head_object(Bucket=bucket, Key=key(token))
            client.put_object(
                Bucket=bucket,
                Key=key(token),
                Body=gzip.compress(body),
                Metadata=head["Metadata"],
                ContentEncoding="gzip",
            )
        finally:
            client.close()

    def fingerprint(token: str) -> object:
        client = server.client()
        try:
            head = client.head_object(Bucket=bucket, Key=key(token))
            return head["ETag"], head["LastModified"]
        finally:
            client.close()

    return Remote(
        kind="s3",
        store=lambda: S3PayloadStore(options),
        keys=keys,
        key=key,
        rewrite=rewrite,
        fingerprint=fingerprint,
    )


def _redis(server: Redis) -> Remote:
    import redis

    from durabletask_payloads import RedisPayloadStore, RedisPayloadStoreOptions

    prefix = f"h-{uuid.uuid4().hex[:12]}:"
    options = RedisPayloadStoreOptions(url=server.url, key_prefix=prefix)

    def key(token: str) -> str:
        return token.removeprefix("redis:v1:")

    def raw() -> Any:
        return redis.Redis.from_url(server.url)

    def keys() -> list[str]:
        with raw() as client:
            return sorted(k.decode() for k in client.scan_iter(match=prefix + "*"))

    def rewrite(token: str, body: bytes) -> None:
        with raw() as client:
            header, _, _ = client.get(key(token)).partition(b"\n")
            client.set(key(token), header + b"\n" + gzip.compress(body))

    def fingerprint(token: str) -> object:
        # The value's header records when it was written: a rewrite changes it.
        with raw() as client:
            return client.get(key(token))

    return Remote(
        kind="redis",
        store=lambda: RedisPayloadStore(options),
        keys=keys,
        key=key,
        rewrite=rewrite,
        fingerprint=fingerprint,
    )


#: Each remote kind, the server fixture it needs, and that server's marker (the ``remote`` fixture
#: in tests/stores/conftest.py fetches the server by name, which the collection hook cannot see).
REMOTES = [
    pytest.param(("azure_blob", "azurite", _azure), id="azure_blob", marks=pytest.mark.azurite),
    pytest.param(("s3", "s3_server", _s3), id="s3", marks=pytest.mark.s3),
    pytest.param(("redis", "redis_server", _redis), id="redis", marks=pytest.mark.redis),
]


def _azure_offline() -> Offline:
    from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions

    def unreachable(port: int) -> PayloadStore:
        return BlobPayloadStore(
            BlobPayloadStoreOptions(
                connection_string=dev_connection_string(f"http://127.0.0.1:{port}"),
                **FAST,  # type: ignore[arg-type]
            )
        )

    return Offline(
        kind="azure_blob",
        unreachable=unreachable,
        token="blob:v1:durabletask-payloads:" + "0" * 32,
        secrets=(DEV_KEY,),
        extra=("azure.storage.blob", "BlobPayloadStore", "", "pip install 'durabletask-payloads[azure]'"),
    )


def _s3_offline() -> Offline:
    from durabletask_payloads import S3PayloadStore, S3PayloadStoreOptions

    def unreachable(port: int) -> PayloadStore:
        return S3PayloadStore(
            S3PayloadStoreOptions(
                bucket="payloads",
                endpoint_url=f"http://127.0.0.1:{port}",
                access_key_id=MOTO_ACCESS_KEY,
                secret_access_key=MOTO_SECRET_KEY,
                session_token=S3_SESSION_TOKEN,
                **FAST,  # type: ignore[arg-type]
            )
        )

    return Offline(
        kind="s3",
        unreachable=unreachable,
        token="s3:v1:payloads:durabletask-payloads/" + "0" * 32,
        # The server's text and URLs stay out of S3 errors too.
        secrets=(MOTO_SECRET_KEY, S3_SESSION_TOKEN, "127.0.0.1"),
        extra=("obstore", "S3PayloadStore", "", "pip install 'durabletask-payloads[s3]'"),
    )


def _redis_offline() -> Offline:
    from durabletask_payloads import RedisPayloadStore, RedisPayloadStoreOptions

    def unreachable(port: int) -> PayloadStore:
        url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
        return RedisPayloadStore(RedisPayloadStoreOptions(url=url, **FAST))  # type: ignore[arg-type]

    return Offline(
        kind="redis",
        unreachable=unreachable,
        token="redis:v1:durabletask-payloads:" + "0" * 32,
        secrets=(REDIS_PASSWORD,),
        extra=(
            "redis",
            "RedisPayloadStore",
            "RedisPayloadStoreOptions(host='still-importable')",
            "pip install 'durabletask-payloads[redis]'",
        ),
    )


#: Each remote kind with no server: no marker, so `-m "not azurite and not s3 and not redis"` keeps it.
OFFLINE = [
    pytest.param(_azure_offline, id="azure_blob"),
    pytest.param(_s3_offline, id="s3"),
    pytest.param(_redis_offline, id="redis"),
]
