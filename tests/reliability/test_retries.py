"""Transient failures are retried with backoff; permanent ones are not (the rule lives in _retry.py).

Azure (Azurite) and S3 (moto) are reached through a real HTTP proxy that fails
the requests a test asks it to; the proxy counts what reaches it.
"""

from __future__ import annotations

import dataclasses
import gzip
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadStore,
    PayloadStoreRefusedError,
    PayloadStoreUnavailableError,
)
from durabletask_payloads._retry import TRANSIENT_HTTP_STATUS, RetryPolicy, is_transient_status

from ..conftest import new_s3_bucket, s3_options
from ..faults import FaultProxy
from ..helpers import free_port
from ..services import Azurite, MotoS3, dev_connection_string

RETRIES = 3
FAST = {"retry_total": RETRIES, "retry_backoff_seconds": 0.02}


@dataclass
class Proxied:
    store: PayloadStore
    proxy: FaultProxy
    blob_put: str  # the method that writes a payload
    corrupt: object  # callable(token) -> None: change the stored bytes behind the store's back


def _azure(azurite: Azurite) -> Iterator[Proxied]:
    proxy = FaultProxy(azurite.port)
    proxy.start()
    container = f"r-{uuid.uuid4().hex[:12]}"
    options = BlobPayloadStoreOptions(
        connection_string=dev_connection_string(f"http://127.0.0.1:{proxy.port}"),
        container_name=container,
        read_timeout_seconds=1,
        **FAST,  # type: ignore[arg-type]
    )

    def corrupt(token: str) -> None:
        from azure.storage.blob import BlobServiceClient, ContentSettings

        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            blob = service.get_blob_client(container, token.rsplit(":", 1)[1])
            metadata = blob.get_blob_properties().metadata
            blob.upload_blob(
                gzip.compress(b'"forged"'),
                overwrite=True,
                metadata=metadata,
                content_settings=ContentSettings(content_encoding="gzip"),
            )

    with BlobPayloadStore(options) as store:
        store.upload(b"warm-up: the container now exists")
        yield Proxied(store, proxy, "PUT", corrupt)
    proxy.stop()


def _s3(server: MotoS3) -> Iterator[Proxied]:
    from durabletask_payloads import S3PayloadStore

    proxy = FaultProxy(server.port)
    proxy.start()
    bucket = new_s3_bucket(server)
    options = dataclasses.replace(
        s3_options(server, bucket, attempt_timeout_seconds=1, **FAST),
        endpoint_url=f"http://127.0.0.1:{proxy.port}",
    )

    def corrupt(token: str) -> None:
        client = server.client()
        key = token.split(":", 3)[3]
        head = client.head_object(Bucket=bucket, Key=key)
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=gzip.compress(b'"forged"'),
            ContentEncoding="gzip",
            Metadata=head["Metadata"],
        )
        client.close()

    with S3PayloadStore(options) as store:
        yield Proxied(store, proxy, "PUT", corrupt)
    proxy.stop()


@pytest.fixture(
    params=[pytest.param("azure", marks=pytest.mark.azurite), pytest.param("s3", marks=pytest.mark.s3)]
)
def proxied(request: pytest.FixtureRequest) -> Iterator[Proxied]:
    if request.param == "azure":
        yield from _azure(request.getfixturevalue("azurite"))
    else:
        yield from _s3(request.getfixturevalue("s3_server"))


class TestTheRule:
    @pytest.mark.parametrize("status", sorted(TRANSIENT_HTTP_STATUS))
    def test_transient_statuses(self, status: int) -> None:
        assert is_transient_status(status)
        assert is_transient_status(str(status))

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 501, 505, None, "x"])
    def test_permanent_statuses(self, status: object) -> None:
        assert not is_transient_status(status)  # type: ignore[arg-type]

    def test_backoff_doubles_with_jitter_up_to_the_cap(self) -> None:
        policy = RetryPolicy(retries=6, first_backoff_seconds=0.5, max_backoff_seconds=8)
        for attempt, ceiling in enumerate([0.5, 1, 2, 4, 8, 8]):
            waits = [policy.backoff(attempt) for _ in range(50)]
            assert all(ceiling / 2 <= w <= ceiling for w in waits)


class TestTransientFailuresAreRetried:
    @pytest.mark.parametrize("status", [500, 503])
    def test_a_write_that_fails_twice_succeeds_on_the_third_try(self, proxied: Proxied, status: int) -> None:
        proxied.proxy.inject(proxied.blob_put, 2, status=status)
        before = proxied.proxy.count(proxied.blob_put)
        token = proxied.store.upload(b"payload written through faults", instance_id="i")
        assert proxied.proxy.count(proxied.blob_put) - before == 3
        assert proxied.store.download(token) == b"payload written through faults"

    def test_a_read_that_fails_twice_succeeds_on_the_third_try(self, proxied: Proxied) -> None:
        token = proxied.store.upload(b"read through faults", instance_id="i")
        proxied.proxy.inject("GET", 2, status=503)
        before = proxied.proxy.count("GET")
        assert proxied.store.download(token) == b"read through faults"
        assert proxied.proxy.count("GET") - before == 3

    def test_a_timed_out_read_is_retried(self, proxied: Proxied) -> None:
        token = proxied.store.upload(b"slow the first time", instance_id="i")
        proxied.proxy.inject("GET", 1, delay=3)  # past the 1 s read timeout
        before = proxied.proxy.count("GET")
        assert proxied.store.download(token) == b"slow the first time"
        assert proxied.proxy.count("GET") - before >= 2

    def test_retries_end_and_say_how_many_attempts_were_made(self, proxied: Proxied) -> None:
        token = proxied.store.upload(b"never readable", instance_id="i")
        proxied.proxy.inject("GET", RETRIES + 1, status=503)
        before = proxied.proxy.count("GET")
        with pytest.raises(
            PayloadStoreUnavailableError, match=rf"gave up after {RETRIES + 1} attempts"
        ) as info:
            proxied.store.download(token)
        assert info.value.transient
        assert proxied.proxy.count("GET") - before == RETRIES + 1


class TestPermanentFailuresAreNot:
    def test_forbidden(self, proxied: Proxied) -> None:
        token = proxied.store.upload(b"forbidden later", instance_id="i")
        proxied.proxy.inject("GET", 1, status=403)
        before = proxied.proxy.count("GET")
        with pytest.raises(PayloadStoreRefusedError, match="403") as info:
            proxied.store.download(token)
        assert not info.value.transient
        assert "gave up" not in str(info.value)
        assert proxied.proxy.count("GET") - before == 1

    def test_not_found(self, proxied: Proxied) -> None:
        token = proxied.store.upload(b"deleted soon", instance_id="i")
        proxied.store.delete(token)
        before = proxied.proxy.count("GET")
        with pytest.raises(PayloadNotFoundError):
            proxied.store.download(token)
        assert proxied.proxy.count("GET") - before == 1

    def test_integrity(self, proxied: Proxied) -> None:
        token = proxied.store.upload(b'"the original"', instance_id="i")
        proxied.corrupt(token)  # type: ignore[operator]
        before = proxied.proxy.count("GET")
        with pytest.raises(PayloadIntegrityError):
            proxied.store.download(token)
        assert proxied.proxy.count("GET") - before == 1


class TestRedis:
    def test_a_server_that_is_not_there_is_retried_then_reported(self) -> None:
        from durabletask_payloads import RedisPayloadStore, RedisPayloadStoreOptions

        options = RedisPayloadStoreOptions(url=f"redis://127.0.0.1:{free_port()}/0", **FAST)  # type: ignore[arg-type]
        with RedisPayloadStore(options) as store, pytest.raises(PayloadStoreUnavailableError) as info:
            store.download("redis:v1:durabletask-payloads:" + "0" * 32)
        assert info.value.transient
        assert f"gave up after {RETRIES + 1} attempts" in str(info.value)

    def test_refused_credentials_are_not_retried(self, redis_server: object) -> None:
        from durabletask_payloads import RedisPayloadStore, RedisPayloadStoreOptions

        url = redis_server.url.replace("redis://", "redis://nobody:wrong@")  # type: ignore[attr-defined]
        options = RedisPayloadStoreOptions(url=url, **FAST)  # type: ignore[arg-type]
        with RedisPayloadStore(options) as store, pytest.raises(PayloadStoreRefusedError) as info:
            store.download("redis:v1:durabletask-payloads:" + "0" * 32)
        assert not info.value.transient
        assert "gave up" not in str(info.value)
