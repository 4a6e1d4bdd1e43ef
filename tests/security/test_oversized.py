"""An object above the read limit is refused before it is read whole, by every store, gzip or not."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    FileSystemPayloadStore,
    LargePayloadStorageOptions,
    PayloadReadLimitError,
    PayloadStore,
    RedisPayloadStore,
    RedisPayloadStoreOptions,
    S3PayloadStore,
)

from ..conftest import make_store, new_s3_bucket, s3_options
from ..services import Azurite, MotoS3, Redis, dev_connection_string
from ._raw import BASE_KINDS, Meta, Raw, rchar
from ._relay import Relay

MIB = 1024 * 1024
#: A reader limited to 1 MiB (writes too: the read limit defaults to the write limit).
LIMITED = LargePayloadStorageOptions(threshold_bytes=1024, max_stored_payload_bytes=MIB)


def _assert_refused(store: PayloadStore, token: str, size: int) -> PayloadReadLimitError:
    with pytest.raises(PayloadReadLimitError) as info:
        store.download(token)
    error = info.value
    assert (error.token, error.limit, error.setting) == (token, MIB, "max_read_payload_bytes")
    assert error.size > MIB
    text = str(error)
    assert f"{MIB:,} bytes" in text and "max_read_payload_bytes" in text and token in text
    return error


@pytest.fixture(params=BASE_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestEveryStore:
    @pytest.fixture
    def store(self, kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PayloadStore]:
        with make_store(kind, request, tmp_path, LIMITED) as store:
            yield store

    def test_an_identity_body_above_the_limit_is_refused(
        self, kind: str, store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        """On main the identity path had no size check at all (memory, filesystem, Redis)."""
        token = store.upload(b"x" * 2000, instance_id="i")
        Raw(kind, store, request).put(token, b"y" * (MIB + 1), Meta(content_encoding="identity"))
        _assert_refused(store, token, MIB + 1)

    def test_a_gzip_body_above_the_limit_is_refused_from_its_size(
        self, kind: str, store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        token = store.upload(b"x" * 2000, instance_id="i")
        Raw(kind, store, request).put(token, bytes(3 * MIB), Meta(content_encoding="gzip"))
        error = _assert_refused(store, token, 3 * MIB)
        assert error.size >= 3 * MIB

    def test_a_body_inflating_past_the_limit_is_cut_off(
        self, kind: str, store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        import gzip

        token = store.upload(b"x" * 2000, instance_id="i")
        Raw(kind, store, request).put(token, gzip.compress(bytes(50 * MIB)), Meta(content_encoding="gzip"))
        error = _assert_refused(store, token, MIB + 1)
        assert error.size == MIB + 1  # inflating stopped one byte past the limit

    async def test_async_reads_are_bounded_too(
        self, kind: str, store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        token = store.upload(b"x" * 2000, instance_id="i")
        Raw(kind, store, request).put(token, b"y" * (2 * MIB), Meta(content_encoding="identity"))
        try:
            with pytest.raises(PayloadReadLimitError):
                await store.download_async(token)
        finally:
            await store.aclose()


class TestBytesReadStayBounded:
    """What the issue measured: a 300 MiB body against a 1 MiB limit was read whole (RSS 41 -> 640 MB)."""

    def test_the_filesystem_store_reads_at_most_the_limit(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root", LIMITED)
        token = store.upload(b"x" * 2000, instance_id="i")
        Raw("filesystem", store, None).put_sparse(token, 300 * MIB)  # type: ignore[arg-type]
        before = rchar()
        _assert_refused(store, token, 300 * MIB)
        assert rchar() - before < MIB  # refused from fstat, before the body (main: 300 MiB read)

    def test_the_redis_store_receives_at_most_the_limit(self, redis_server: Redis) -> None:
        options = RedisPayloadStoreOptions(
            url=redis_server.url, key_prefix=f"t-{uuid.uuid4().hex[:12]}:", threshold_bytes=1024,
            max_stored_payload_bytes=MIB,
        )  # fmt: skip
        raw = redis.Redis.from_url(redis_server.url)
        with RedisPayloadStore(options) as store:
            token = store.upload(b"x" * 2000, instance_id="i")
            raw.set(token.removeprefix("redis:v1:"), bytes(40 * MIB))
            before = int(raw.info("stats")["total_net_output_bytes"])
            _assert_refused(store, token, 40 * MIB)
            sent = int(raw.info("stats")["total_net_output_bytes"]) - before
        raw.delete(token.removeprefix("redis:v1:"))
        raw.close()
        # At most the largest record read (1 MiB, a little slack and a 64 KiB header) plus the INFO reply.
        assert sent < 2 * MIB, f"the server sent {sent:,} bytes (main: the whole 40 MiB)"

    def test_the_s3_store_refuses_from_content_length(self, s3_server: MotoS3) -> None:
        bucket = new_s3_bucket(s3_server)
        relay = Relay(s3_server.port)
        relay.start()
        options = dataclasses.replace(s3_options(s3_server, bucket, **_limits()), endpoint_url=relay.endpoint)
        try:
            with S3PayloadStore(options) as store:
                token = store.upload(b"x" * 2000, instance_id="i")
                Raw("s3", store, _Request(s3_server)).put(
                    token, bytes(48 * MIB), Meta(content_encoding="gzip")
                )
                before = relay.sent
                _assert_refused(store, token, 48 * MIB)
            # The store's connections are closed with it: then the count is final.
            relay.wait_closed()
            received = relay.sent - before
        finally:
            relay.stop()
        # The body is never read; what passes is what the kernel buffers before the connection closes
        # (about 2 MiB here), where main's store read all 48 MiB.
        assert 0 < received < 16 * MIB, f"{received:,} bytes reached the store"

    def test_the_blob_store_stops_after_its_first_bounded_get(self, azurite: Azurite) -> None:
        relay = Relay(azurite.port)
        relay.start()
        connection = dev_connection_string(f"{relay.endpoint}")
        options = BlobPayloadStoreOptions(
            connection_string=connection, container_name=f"t-{uuid.uuid4().hex[:20]}", **_limits()
        )
        try:
            with BlobPayloadStore(options) as store:
                token = store.upload(b"x" * 2000, instance_id="i")
                Raw("azure_blob", store, _Request(azurite)).put(token, bytes(24 * MIB), Meta())
                before, requests_before = relay.sent, bytes(relay.requests).count(b"GET ")
                _assert_refused(store, token, 24 * MIB)
            relay.wait_closed()
            received = relay.sent - before
            gets = bytes(relay.requests).count(b"GET ") - requests_before
        finally:
            relay.stop()
        assert gets == 1  # the first GET (at most 4 MiB) gave the size: no more chunks were fetched
        assert 0 < received < 5 * MIB


def _limits() -> dict[str, int]:
    return {"threshold_bytes": 1024, "max_stored_payload_bytes": MIB}


class _Request:
    """Stands in for pytest's request where Raw only needs one server fixture."""

    def __init__(self, server: object) -> None:
        self._server = server

    def getfixturevalue(self, name: str) -> object:
        return self._server
