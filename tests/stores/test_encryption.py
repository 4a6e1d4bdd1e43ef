"""Encryption at rest with the services' own features, on the local servers, as far as they support it.

- S3 SSE-S3 and SSE-KMS: moto records them and reports them on HEAD, as S3 does.
- S3 SSE-C: moto accepts the headers and ignores them (it stores plain and serves without the
  key); what is tested is that every PUT, GET and HEAD carries them.
- Azure encryption scope: Azurite accepts the header and ignores it; tested that writes carry it.
- Azure customer-provided keys: the SDK sends them over https only, and Azurite (strict mode)
  refuses them (HTTP 500 FeatureNotSupported, naming the x-ms-encryption-key header); tested
  against an https Azurite that the key reaches the service, and that the failure never shows it.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import os
import re
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    PayloadError,
    PayloadStoreRefusedError,
    S3PayloadStore,
    S3PayloadStoreOptions,
)

from ..conftest import new_s3_bucket, s3_options
from ..helpers import self_signed
from ..security._relay import Relay
from ..services import DEV_ACCOUNT, DEV_KEY, Azurite, MotoS3, dev_connection_string

KEY = base64.b64encode(os.urandom(32)).decode()


def _requests(relay: Relay) -> list[tuple[str, str]]:
    """(method, headers) of each request that went through *relay*."""
    text = bytes(relay.requests).decode("latin-1")
    found = re.finditer(r"(PUT|GET|HEAD|DELETE|POST) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", text, re.S)
    return [(match.group(1), match.group(3).lower()) for match in found]


class TestS3:
    @pytest.fixture
    def bucket(self, s3_server: MotoS3) -> str:
        return new_s3_bucket(s3_server)

    @pytest.mark.parametrize(
        ("settings", "expected"),
        [
            ({"server_side_encryption": "AES256"}, ("AES256", None)),
            ({"sse_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/payloads"}, ("aws:kms", "payloads")),
        ],
        ids=["sse-s3", "sse-kms"],
    )
    def test_server_side_encryption_is_recorded_on_the_object(
        self, s3_server: MotoS3, bucket: str, settings: dict[str, str], expected: tuple[str, str | None]
    ) -> None:
        with S3PayloadStore(s3_options(s3_server, bucket, **settings)) as store:
            token = store.upload(b"encrypted at rest" * 100, instance_id="i")
            assert store.download(token) == b"encrypted at rest" * 100
        client = s3_server.client()
        head = client.head_object(Bucket=bucket, Key=token.split(":", 3)[3])
        client.close()
        assert head["ServerSideEncryption"] == expected[0]
        if expected[1] is not None:
            assert head["SSEKMSKeyId"].endswith(expected[1])

    def test_a_customer_key_goes_with_every_write_and_read(self, s3_server: MotoS3, bucket: str) -> None:
        relay = Relay(s3_server.port)
        relay.start()
        options = dataclasses.replace(
            s3_options(s3_server, bucket, sse_customer_key=KEY), endpoint_url=relay.endpoint
        )
        try:
            with S3PayloadStore(options) as store:
                token = store.upload(b"only with my key" * 100, instance_id="i")
                assert store.download(token) == b"only with my key" * 100
                assert store.inspect(token).size == 1600
        finally:
            relay.stop()
        seen = _requests(relay)
        assert {method for method, _ in seen} >= {"PUT", "GET", "HEAD"}
        for method, headers in seen:
            assert "x-amz-server-side-encryption-customer-algorithm: aes256" in headers, method
            assert "x-amz-server-side-encryption-customer-key-md5: " in headers, method

    def test_a_customer_key_is_not_sent_in_clear_across_a_network(self) -> None:
        with pytest.raises(ValueError, match="https"):
            S3PayloadStoreOptions(
                bucket="payloads", endpoint_url="http://s3.example.com", sse_customer_key=KEY
            )


class TestAzureEncryptionScope:
    def test_writes_carry_the_scope(self, azurite: Azurite) -> None:
        relay = Relay(azurite.port)
        relay.start()
        connection = dev_connection_string(f"{relay.endpoint}")
        options = BlobPayloadStoreOptions(
            connection_string=connection,
            container_name=f"t-{uuid.uuid4().hex[:20]}",
            encryption_scope="payload-scope",
        )
        try:
            with BlobPayloadStore(options) as store:
                token = store.upload(b"scoped" * 100, instance_id="i")
                assert store.download(token) == b"scoped" * 100  # Azurite ignores the scope
        finally:
            relay.stop()
        writes = [
            headers for method, headers in _requests(relay) if method == "PUT" and "x-ms-blob-type" in headers
        ]
        assert writes and all("x-ms-encryption-scope: payload-scope" in headers for headers in writes)


@dataclass
class HttpsAzurite(Azurite):
    """Azurite over https, with a self-signed certificate for 127.0.0.1."""

    name = "azurite-https"

    @property
    def certificate(self) -> Path:
        return self.location / "cert.pem"

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def command(self) -> list[str]:
        _self_signed(self.certificate, self.location / "key.pem")
        return [*super().command(), "--cert", str(self.certificate), "--key", str(self.location / "key.pem")]

    def answers(self) -> bool:
        context = (
            ssl.create_default_context(cafile=str(self.certificate)) if self.certificate.exists() else None
        )
        if context is None:
            return False
        try:
            connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1, context=context)
            connection.request("GET", f"/{DEV_ACCOUNT}?comp=list")
            connection.getresponse().read()
            connection.close()
        except OSError:
            return False
        return True


def _self_signed(certificate: Path, key_path: Path) -> None:
    key, cert = self_signed("127.0.0.1")
    certificate.write_bytes(cert)
    key_path.write_bytes(key)


@pytest.fixture(scope="module")
def https_azurite(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsAzurite]:
    """A second Azurite, over https (the suite's own is plain http); ``azurite`` checks it is installed."""
    server = HttpsAzurite(tmp_path_factory.mktemp("azurite-https"))
    server.start()
    yield server
    server.stop()


class TestAzureCustomerProvidedKey:
    @pytest.fixture
    def trusted(self, https_azurite: HttpsAzurite, monkeypatch: pytest.MonkeyPatch) -> HttpsAzurite:
        # requests (the sync transport) trusts this CA bundle for the test.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_azurite.certificate))
        return https_azurite

    def _store(self, server: HttpsAzurite, container: str) -> BlobPayloadStore:
        options = BlobPayloadStoreOptions(
            connection_string=server.connection_string,
            container_name=container,
            customer_provided_key=KEY,
            retry_total=0,
        )
        return BlobPayloadStore(options)

    def test_the_key_reaches_azurite_which_refuses_it(self, trusted: HttpsAzurite) -> None:
        """Azurite does not support customer-provided keys: its answer names the header we sent."""
        with (
            self._store(trusted, f"t-{uuid.uuid4().hex[:20]}") as store,
            pytest.raises(PayloadError, match="FeatureNotSupported") as info,
        ):
            store.upload(b"with my key" * 100, instance_id="i")
        assert KEY not in str(info.value)
        assert info.value.__cause__ is not None
        assert "x-ms-encryption-key" in str(info.value.__cause__)  # Azurite: header not supported

    def test_reads_carry_the_key_too(self, trusted: HttpsAzurite) -> None:
        from azure.storage.blob import BlobServiceClient

        container, name = f"t-{uuid.uuid4().hex[:20]}", uuid.uuid4().hex
        service = BlobServiceClient.from_connection_string(trusted.connection_string)
        service.create_container(container)
        service.get_blob_client(container, name).upload_blob(b"plain" * 100)
        service.close()
        with (
            self._store(trusted, container) as store,
            pytest.raises(PayloadError, match="FeatureNotSupported") as info,
        ):
            store.download(f"blob:v1:{container}:{name}")
        assert KEY not in str(info.value)
        assert "x-ms-encryption-key" in str(info.value.__cause__)

    def test_a_plain_http_endpoint_is_refused_before_any_request(self, azurite: Azurite) -> None:
        options = BlobPayloadStoreOptions(
            connection_string=azurite.connection_string, customer_provided_key=KEY, retry_total=0
        )
        with (
            BlobPayloadStore(options) as store,
            pytest.raises(PayloadStoreRefusedError, match="https") as info,
        ):
            store.upload(b"x" * 100)
        assert KEY not in str(info.value)
