"""The cross-SDK contract on a real Azurite: what .NET writes we read, what we write .NET reads.

The blobs of ../shared/interop/vectors.json (vendored in tests/interop/) are
uploaded exactly as the .NET SDK wrote them (same name, body and
Content-Encoding, no metadata). The contract's v2 tokens name Azurite's default
endpoint (127.0.0.1:10000); Azurite here listens on a free port, so those tokens
are pointed at it (host and port only) before they are resolved.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from google.protobuf import wrappers_pb2

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    InvalidPayloadTokenError,
    deexternalize_payloads,
)

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import start_env, stop_env
from ..faults import FaultProxy
from ..helpers import order_batch_of_size
from ..interop import vectors
from ..services import Azurite

CONTRACT_ENDPOINT = "127.0.0.1:10000"
# Java accepts a v1 token only with a 32-lowercase-hex blob name.
JAVA_V1 = re.compile(r"^blob:v1:[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]:[0-9a-f]{32}$")
BLOBS: list[dict[str, Any]] = vectors()["blobs"]
CONTAINER = "durabletask-payloads"


def _payload(blob: dict[str, Any]) -> bytes:
    body = base64.b64decode(blob["body_base64"])
    return gzip.decompress(body) if blob["content_encoding"] == "gzip" else body


@pytest.fixture(scope="module")
def dotnet_blobs(azurite: Azurite) -> Iterator[BlobServiceClient]:
    """The contract's blobs, uploaded as the .NET SDK wrote them."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    for blob in BLOBS:
        container.upload_blob(
            blob["blob_name"],
            base64.b64decode(blob["body_base64"]),
            overwrite=True,
            content_settings=ContentSettings(content_encoding=blob["content_encoding"]),
        )
    yield service
    service.close()


@pytest.fixture
def store(azurite: Azurite) -> Iterator[BlobPayloadStore]:
    with BlobPayloadStore.from_connection_string(
        azurite.connection_string, container_name=CONTAINER
    ) as store:
        yield store


def _here(token: str, azurite: Azurite) -> str:
    return token.replace(CONTRACT_ENDPOINT, f"127.0.0.1:{azurite.port}")


class TestReadingWhatDotNetWrote:
    @pytest.mark.parametrize("blob", BLOBS, ids=lambda b: b["id"])
    def test_every_token_resolves_to_the_original_text(
        self, blob: dict[str, Any], dotnet_blobs: BlobServiceClient, store: BlobPayloadStore, azurite: Azurite
    ) -> None:
        for token in blob["tokens"]:
            data = store.download(_here(token, azurite))
            assert len(data) == blob["payload_utf8_bytes"]
            assert hashlib.sha256(data).hexdigest() == blob["payload_sha256"]

    @pytest.mark.parametrize("blob", BLOBS, ids=lambda b: b["id"])
    def test_async_reads_agree(
        self, blob: dict[str, Any], dotnet_blobs: BlobServiceClient, store: BlobPayloadStore, azurite: Azurite
    ) -> None:
        import asyncio

        async def read_all() -> list[bytes]:
            try:
                return [await store.download_async(_here(t, azurite)) for t in blob["tokens"]]
            finally:
                await store.aclose()

        for data in asyncio.run(read_all()):
            assert hashlib.sha256(data).hexdigest() == blob["payload_sha256"]

    def test_a_v2_token_for_another_endpoint_is_refused_before_any_request(
        self, dotnet_blobs: BlobServiceClient, azurite: Azurite
    ) -> None:
        """The contract's own endpoint (127.0.0.1:10000) is another account for a store behind a proxy."""
        proxy = FaultProxy(azurite.port)
        proxy.start()
        try:
            connection = azurite.connection_string.replace(f":{azurite.port}/", f":{proxy.port}/")
            with BlobPayloadStore.from_connection_string(connection, container_name=CONTAINER) as store:
                token = BLOBS[0]["tokens"][1]
                with pytest.raises(InvalidPayloadTokenError, match="another storage account"):
                    store.download(token)
                assert store.download(_here(token, azurite).replace(str(azurite.port), str(proxy.port)))
        finally:
            proxy.stop()
        assert [method for method, _ in proxy.requests] == ["GET"]  # only the read of its own token

    @pytest.mark.e2e
    @pytest.mark.parametrize("blob", BLOBS, ids=lambda b: b["id"])
    def test_a_dotnet_token_in_an_orchestration_history_reaches_the_activity_as_the_original(
        self,
        blob: dict[str, Any],
        dotnet_blobs: BlobServiceClient,
        store: BlobPayloadStore,
        azurite: Azurite,
        own_backend: Backend,
    ) -> None:
        expected = json.loads(_payload(blob))
        env = start_env("interop", store, own_backend.address)
        try:
            for token in blob["tokens"]:
                instance_id = f"interop-{uuid.uuid4().hex}"
                # Exactly what a .NET client puts in the history: the token as the raw input.
                with grpc.insecure_channel(own_backend.address) as channel:
                    stubs.TaskHubSidecarServiceStub(channel).StartInstance(
                        pb.CreateInstanceRequest(
                            instanceId=instance_id,
                            name="call_echo",
                            input=wrappers_pb2.StringValue(value=_here(token, azurite)),
                        )
                    )
                state = env.wait(instance_id)
                output = json.loads(state.serialized_output or "null")
                assert output["activity_saw"] == wf.digest(expected)
                assert output["same_echo"] is True
        finally:
            stop_env(env)


class TestMalformedTokens:
    """.NET throws on a malformed blob:v1:/blob:v2: value; we keep it as data and fetch nothing."""

    @pytest.mark.parametrize(
        "case", [c for c in vectors()["tokens"] if not c["valid"]], ids=lambda c: c["token"][:50]
    )
    def test_it_stays_data_and_costs_no_request(self, azurite: Azurite, case: dict[str, Any]) -> None:
        proxy = FaultProxy(azurite.port)
        proxy.start()
        try:
            connection = azurite.connection_string.replace(f":{azurite.port}/", f":{proxy.port}/")
            with BlobPayloadStore.from_connection_string(connection, container_name=CONTAINER) as store:
                assert not store.is_known_token(case["token"])
                response = pb.GetInstanceResponse(exists=True)
                response.orchestrationState.input.value = case["token"]
                assert deexternalize_payloads(response, store) == 0
                assert response.orchestrationState.input.value == case["token"]
                with pytest.raises(InvalidPayloadTokenError):
                    store.download(case["token"])
        finally:
            proxy.stop()
        assert proxy.requests == []


class TestWritingWhatDotNetReads:
    @pytest.mark.parametrize("compression", [True, False])
    def test_blobs_read_the_dotnet_way(self, azurite: Azurite, compression: bool) -> None:
        """Raw bytes, decompress=False, gunzip only if Content-Encoding says gzip."""
        options = BlobPayloadStoreOptions(
            connection_string=azurite.connection_string,
            container_name=f"w-{uuid.uuid4().hex[:12]}",
            enable_compression=compression,
        )
        payload = json.dumps(order_batch_of_size(300_000, seed=9)).encode()
        with BlobPayloadStore(options) as store:
            token = store.upload(payload, instance_id="order-42")
        assert JAVA_V1.match(token), token
        _, _, container, name = token.split(":", 3)
        assert re.fullmatch(r"[0-9a-f]{32}", name)
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            downloader = service.get_container_client(container).download_blob(name, decompress=False)
            encoding = downloader.properties.content_settings.content_encoding
            raw = downloader.readall()
        assert encoding == ("gzip" if compression else None)
        assert (gzip.decompress(raw) if encoding == "gzip" else raw) == payload

    def test_v2_tokens_name_the_blob_url(self, azurite: Azurite) -> None:
        options = BlobPayloadStoreOptions(
            connection_string=azurite.connection_string,
            container_name="durabletask-payloads",
            token_version="v2",
        )
        with BlobPayloadStore(options) as store:
            token = store.upload(b'"hello v2"')
            assert re.fullmatch(
                rf"blob:v2:http://127\.0\.0\.1:{azurite.port}/devstoreaccount1/durabletask-payloads/[0-9a-f]{{32}}",
                token,
            )
            assert store.download(token) == b'"hello v2"'
            # The same blob through its v1 name: both forms are always read.
            v1 = "blob:v1:durabletask-payloads:" + token.rsplit("/", 1)[1]
            assert store.download(v1) == b'"hello v2"'


class TestEncodingComesFromTheBlob:
    def test_a_gzip_blob_holding_gzip_bytes_is_inflated_once(self, azurite: Azurite) -> None:
        """Decisions follow Content-Encoding alone, not magic bytes or our own settings."""
        inner = gzip.compress(b"payload that is itself gzip")
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            container = service.get_container_client(CONTAINER)
            if not container.exists():
                container.create_container()
            # Version-4 GUID names, as .NET writes them (ours would have to match their content).
            gzipped, plain = uuid.uuid4().hex, uuid.uuid4().hex
            container.upload_blob(
                gzipped,
                gzip.compress(inner),
                overwrite=True,
                content_settings=ContentSettings(content_encoding="gzip"),
            )
            container.upload_blob(plain, inner, overwrite=True)
        options = BlobPayloadStoreOptions(
            connection_string=azurite.connection_string, container_name=CONTAINER, enable_compression=False
        )
        with BlobPayloadStore(options) as store:
            assert store.download(f"blob:v1:{CONTAINER}:{gzipped}") == inner
            assert store.download(f"blob:v1:{CONTAINER}:{plain}") == inner

    def test_default_options_read_an_uncompressed_dotnet_blob(
        self, dotnet_blobs: BlobServiceClient, azurite: Azurite
    ) -> None:
        uncompressed = next(b for b in BLOBS if b["content_encoding"] is None)
        with BlobPayloadStore(BlobPayloadStoreOptions(connection_string=azurite.connection_string)) as store:
            assert (
                hashlib.sha256(store.download(uncompressed["tokens"][0])).hexdigest()
                == uncompressed["payload_sha256"]
            )


class TestDurableTaskBuiltInStore:
    """durabletask's own BlobPayloadStore (1.12), in both directions, on the same container."""

    def _builtin(self, azurite: Azurite, *, compression: bool) -> Any:
        from durabletask.extensions.azure_blob_payloads import BlobPayloadStore as BuiltIn
        from durabletask.extensions.azure_blob_payloads import BlobPayloadStoreOptions as BuiltInOptions

        return BuiltIn(
            BuiltInOptions(connection_string=azurite.connection_string, enable_compression=compression)
        )

    def test_we_read_its_uncompressed_blobs_including_instance_folders(self, azurite: Azurite) -> None:
        builtin = self._builtin(azurite, compression=False)
        token = builtin.upload(b'"from the built-in store"', instance_id="inst-1")
        assert token.startswith("blob:v1:durabletask-payloads:inst-1/")
        with BlobPayloadStore.from_connection_string(azurite.connection_string) as ours:
            assert ours.download(token) == b'"from the built-in store"'
        builtin.close()

    def test_its_compressed_blobs_lack_content_encoding_and_fail_clearly(self, azurite: Azurite) -> None:
        from durabletask_payloads import PayloadIntegrityError, deexternalize_payloads

        builtin = self._builtin(azurite, compression=True)
        token = builtin.upload(b'"gzip without the header"', instance_id="inst-2")
        request = pb.GetInstanceResponse(exists=True)
        request.orchestrationState.input.value = token
        with (
            BlobPayloadStore.from_connection_string(azurite.connection_string) as ours,
            pytest.raises(PayloadIntegrityError, match="gzip data stored without Content-Encoding"),
        ):
            deexternalize_payloads(request, ours)
        assert request.orchestrationState.input.value == token
        builtin.close()

    def test_it_reads_our_blobs_when_its_own_compression_is_off(self, azurite: Azurite) -> None:
        """The Azure SDK inflates our Content-Encoding: gzip blobs for it; its own gunzip must stay off."""
        with BlobPayloadStore.from_connection_string(azurite.connection_string) as ours:
            token = ours.upload(b'"written by durabletask-payloads"', instance_id="i")
        builtin = self._builtin(azurite, compression=False)
        assert builtin.download(token) == b'"written by durabletask-payloads"'
        builtin.close()
