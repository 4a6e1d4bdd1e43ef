"""The read limit is its own setting: a reader can take what a writer with a higher limit stored.

Issue 13: a .NET writer with ``MaxPayloadBytes`` raised to 16 MiB wrote a 12 MiB payload; our
default store refused it, and for gzip said the object "was modified or corrupted".
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    LargePayloadStorageOptions,
    PayloadReadLimitError,
    PayloadStore,
)

from ..conftest import make_store
from ..services import Azurite

MIB = 1024 * 1024
DEFAULT_LIMIT = 10 * MIB
#: 12 MiB of JSON text that deflates to about half (hex digits).
PAYLOAD = b'"' + os.urandom(6 * MIB - 1).hex().encode() + b'"'


def _dotnet_gzip(data: bytes) -> bytes:
    """A body as .NET's GZipStream(Optimal) writes it: zlib level 6, OS byte 10, a sync flush."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH) + deflate.flush(zlib.Z_FINISH)
    trailer = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little") + len(data).to_bytes(4, "little")
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x0a" + raw + trailer


def _assert_names_everything(error: PayloadReadLimitError, token: str, size: int) -> None:
    text = str(error)
    assert (error.token, error.limit, error.setting) == (token, DEFAULT_LIMIT, "max_read_payload_bytes")
    assert error.size == size
    assert f"{size:,} bytes" in text
    assert f"{DEFAULT_LIMIT:,} bytes" in text
    assert "max_read_payload_bytes" in text
    assert "modified or corrupted" not in text


class TestDotNetWriterWithAHigherLimit:
    @pytest.fixture
    def container(self, azurite: Azurite) -> tuple[str, str]:
        """A 12 MiB payload written as .NET writes it: the Azure SDK, a GUID name, Content-Encoding gzip."""
        from azure.storage.blob import BlobServiceClient, ContentSettings

        container, name = f"t-{uuid.uuid4().hex[:20]}", uuid.uuid4().hex
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            service.create_container(container)
            service.get_blob_client(container, name).upload_blob(
                _dotnet_gzip(PAYLOAD), content_settings=ContentSettings(content_encoding="gzip")
            )
        return container, f"blob:v1:{container}:{name}"

    def _store(self, azurite: Azurite, container: str, **options: int) -> BlobPayloadStore:
        return BlobPayloadStore(
            BlobPayloadStoreOptions(
                connection_string=azurite.connection_string, container_name=container, **options
            )
        )

    def test_a_default_store_refuses_it_naming_size_limit_and_setting(
        self, azurite: Azurite, container: tuple[str, str]
    ) -> None:
        with self._store(azurite, container[0]) as store, pytest.raises(PayloadReadLimitError) as info:
            store.download(container[1])
        # Inflating stopped one byte past the limit: the size is a lower bound, and says so.
        _assert_names_everything(info.value, container[1], DEFAULT_LIMIT + 1)
        assert "or more" in str(info.value)

    def test_a_store_with_a_16_mib_read_limit_reads_it(
        self, azurite: Azurite, container: tuple[str, str]
    ) -> None:
        with self._store(azurite, container[0], max_read_payload_bytes=16 * MIB) as store:
            data = store.download(container[1])
        assert hashlib.sha256(data).digest() == hashlib.sha256(PAYLOAD).digest()
        assert store.options.max_stored_payload_bytes == DEFAULT_LIMIT  # writes keep their own limit

    async def test_async_reads_follow_the_same_limit(
        self, azurite: Azurite, container: tuple[str, str]
    ) -> None:
        store = self._store(azurite, container[0])
        try:
            with pytest.raises(PayloadReadLimitError):
                await store.download_async(container[1])
        finally:
            await store.aclose()

    def test_an_uncompressed_body_is_refused_from_its_size(self, azurite: Azurite) -> None:
        from azure.storage.blob import BlobServiceClient

        container, name = f"t-{uuid.uuid4().hex[:20]}", uuid.uuid4().hex
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            service.create_container(container)
            service.get_blob_client(container, name).upload_blob(PAYLOAD)
        token = f"blob:v1:{container}:{name}"
        with self._store(azurite, container) as store, pytest.raises(PayloadReadLimitError) as info:
            store.download(token)
        _assert_names_everything(info.value, token, len(PAYLOAD))
        with self._store(azurite, container, max_read_payload_bytes=16 * MIB) as store:
            assert store.download(token) == PAYLOAD


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("filesystem", id="filesystem"),
        pytest.param("azure_blob", id="azure_blob", marks=pytest.mark.azurite),
        pytest.param("s3", id="s3", marks=pytest.mark.s3),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ],
)
class TestEveryStore:
    """Our own writer with a 16 MiB write limit, and readers of the same storage with their limits."""

    @pytest.fixture
    def writer(self, kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PayloadStore]:
        options = LargePayloadStorageOptions(max_stored_payload_bytes=16 * MIB)
        with make_store(kind, request, tmp_path, options) as store:
            yield store

    def _reader(self, writer: PayloadStore, **limits: int) -> PayloadStore:
        """A store on the same storage as *writer* with other size settings."""
        options = dataclasses.replace(writer.options, max_stored_payload_bytes=DEFAULT_LIMIT, **limits)
        if hasattr(writer, "root"):
            return type(writer)(writer.root, options)  # type: ignore[call-arg]
        return type(writer)(options)  # type: ignore[call-arg]

    def test_the_default_reader_refuses_and_a_raised_limit_reads(self, writer: PayloadStore) -> None:
        token = writer.upload(PAYLOAD, instance_id="i")
        with self._reader(writer) as reader, pytest.raises(PayloadReadLimitError) as info:
            reader.download(token)
        _assert_names_everything(info.value, token, DEFAULT_LIMIT + 1)
        with self._reader(writer, max_read_payload_bytes=16 * MIB) as reader:
            assert reader.download(token) == PAYLOAD
