"""v2 addressing on a real Azurite reached by host name on an emulator port (docker compose's set-up).

In docker compose, workers reach Azurite as ``http://azurite:10000/devstoreaccount1``:
a host name, not an IP, so only the port tells that the URL is path style. Here
Azurite is reached as ``localhost`` on a free emulator port, through a
forwarding proxy (the suite's Azurite listens on a free port of its own).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from durabletask_payloads import BlobPayloadStore
from durabletask_payloads._token import EMULATOR_PORTS, parse_blob_token

from ..faults import FaultProxy
from ..interop import vectors
from ..services import DEV_ACCOUNT, DEV_KEY, Azurite

CONTRACT_ENDPOINT = "127.0.0.1:10000"


def _free_emulator_port() -> int:
    for port in sorted(EMULATOR_PORTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("every emulator port (10000-10004, 10100-10104, 11000-11004, 11100-11104) is taken")


@pytest.fixture(scope="module")
def by_name(azurite: Azurite) -> Iterator[FaultProxy]:
    """Azurite as ``localhost:<emulator port>``."""
    with FaultProxy(azurite.port, port=_free_emulator_port()) as proxy:
        yield proxy


def _connection_string(proxy: FaultProxy) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://localhost:{proxy.port}/{DEV_ACCOUNT};"
    )


class TestAzuriteByHostName:
    def test_v2_tokens_written_there_read_back(self, by_name: FaultProxy) -> None:
        container = f"by-name-{uuid.uuid4().hex[:8]}"
        before = len(by_name.requests)
        with BlobPayloadStore.from_connection_string(
            _connection_string(by_name), container_name=container, token_version="v2"
        ) as store:
            assert store.account_url == f"http://localhost:{by_name.port}/{DEV_ACCOUNT}"
            token = store.upload(b'"written through a host name"', instance_id="n")
            assert token.startswith(f"blob:v2:http://localhost:{by_name.port}/{DEV_ACCOUNT}/{container}/")
            assert parse_blob_token(token).container == container
            assert store.download(token) == b'"written through a host name"'
            assert store.download(f"blob:v1:{container}:{token[-32:]}") == b'"written through a host name"'
        assert len(by_name.requests) > before  # it really went through the host name and port

    def test_dotnet_tokens_of_that_endpoint_read(self, azurite: Azurite, by_name: FaultProxy) -> None:
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            client = service.get_container_client("durabletask-payloads")
            if not client.exists():
                client.create_container()
            for blob in vectors()["blobs"]:
                client.upload_blob(
                    blob["blob_name"],
                    base64.b64decode(blob["body_base64"]),
                    overwrite=True,
                    content_settings=ContentSettings(content_encoding=blob["content_encoding"]),
                )
        store = BlobPayloadStore.from_connection_string(_connection_string(by_name))
        tokens = [
            (token.replace(CONTRACT_ENDPOINT, f"localhost:{by_name.port}"), blob["payload_sha256"])
            for blob in vectors()["blobs"]
            for token in blob["tokens"]
        ]
        assert any(token.startswith("blob:v2:http://localhost:") for token, _ in tokens)
        for token, digest in tokens:
            assert hashlib.sha256(store.download(token)).hexdigest() == digest

        async def read_all() -> list[str]:
            try:
                return [hashlib.sha256(await store.download_async(t)).hexdigest() for t, _ in tokens]
            finally:
                await store.aclose()

        assert asyncio.run(read_all()) == [digest for _, digest in tokens]

    def test_a_v2_writer_on_an_endpoint_dotnet_would_read_otherwise_is_refused_at_construction(
        self, azurite: Azurite
    ) -> None:
        """localhost on a non-emulator port is host style for BlobUriBuilder: the account path would
        be read as the container. v1 tokens, which do not name the account, still work there."""
        connection = azurite.connection_string.replace("127.0.0.1", "localhost")
        with pytest.raises(ValueError, match="token_version='v1'"):
            BlobPayloadStore.from_connection_string(connection, token_version="v2")
        with BlobPayloadStore.from_connection_string(connection, container_name="by-name-v1") as store:
            token = store.upload(b'"v1 here"')
            assert store.download(token) == b'"v1 here"'
