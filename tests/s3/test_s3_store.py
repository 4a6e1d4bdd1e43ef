"""S3PayloadStore on a real S3 server (moto's): conditional writes, integrity, refusals, secrets."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from durabletask_payloads import (
    InvalidPayloadTokenError,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadReadLimitError,
    S3PayloadStore,
    S3PayloadStoreOptions,
)

from ..conftest import new_s3_bucket, s3_options
from ..faults import ConnectionCounter, assert_refused_before_any_io
from ..services import MOTO_ACCESS_KEY, MOTO_SECRET_KEY, MotoS3

PREFIX = "durabletask-payloads/"
SESSION_TOKEN = "session-token-that-must-not-leak-7f3a"


@pytest.fixture
def bucket(s3_server: MotoS3) -> str:
    return new_s3_bucket(s3_server)


@pytest.fixture
def store(s3_server: MotoS3, bucket: str) -> Iterator[S3PayloadStore]:
    with S3PayloadStore(s3_options(s3_server, bucket)) as store:
        yield store


@pytest.fixture
def s3(s3_server: MotoS3) -> Iterator[Any]:
    """A boto3 client on the same server: the view of another tool, to check and tamper."""
    client = s3_server.client()
    yield client
    client.close()


def _key(token: str) -> str:
    return token.split(":", 3)[3]


def _keys(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


class TestTokens:
    def test_token_names_bucket_and_key(self, store: S3PayloadStore, bucket: str) -> None:
        token = store.upload(b"x", instance_id="i")
        assert token.startswith(f"s3:v1:{bucket}:{PREFIX}")
        assert len(_key(token)) == len(PREFIX) + 32

    def test_identical_payloads_share_one_object(self, store: S3PayloadStore, s3: Any, bucket: str) -> None:
        tokens = {store.upload(b"same", instance_id="i") for _ in range(3)}
        assert len(tokens) == 1
        assert _keys(s3, bucket) == [_key(tokens.pop())]


class TestConditionalCreate:
    def test_an_existing_object_that_is_not_the_payload_is_replaced(
        self, store: S3PayloadStore, s3: Any, bucket: str
    ) -> None:
        """If-None-Match: * makes the server refuse the PUT; 'already stored' needs the object verified."""
        token = store.upload(b"original", instance_id="i")
        s3.put_object(Bucket=bucket, Key=_key(token), Body=b"replaced by someone else")
        store.cache.clear()  # a fresh worker: nothing known, so the object is read and checked
        assert store.upload(b"original", instance_id="i") == token
        assert store.download(token) == b"original"


class TestMetadataAndIntegrity:
    def test_metadata_records_hash_size_and_instance(
        self, store: S3PayloadStore, s3: Any, bucket: str
    ) -> None:
        data = b"x" * 5000
        token = store.upload(data, instance_id="inst/ü 1")
        head = s3.head_object(Bucket=bucket, Key=_key(token))
        assert head["ContentEncoding"] == "gzip"
        assert head["Metadata"]["payloadsize"] == "5000"
        assert head["Metadata"]["instanceid"] == quote("inst/ü 1", safe="")
        assert len(head["Metadata"]["payloadsha256"]) == 64
        info = store.inspect(token)
        assert (info.size, info.instance_id, info.content_encoding) == (5000, "inst/ü 1", "gzip")
        assert info.stored_size == head["ContentLength"] < 5000
        assert info.created is not None
        assert [i.token for i in store.list_payloads()] == [token]

    def test_without_compression_there_is_no_content_encoding(
        self, s3_server: MotoS3, s3: Any, bucket: str
    ) -> None:
        with S3PayloadStore(s3_options(s3_server, bucket, enable_compression=False)) as store:
            token = store.upload(b"plain" * 100)
            head = s3.head_object(Bucket=bucket, Key=_key(token))
            assert "ContentEncoding" not in head
            assert store.inspect(token).content_encoding == "identity"
            assert s3.get_object(Bucket=bucket, Key=_key(token))["Body"].read() == b"plain" * 100

    def test_gzip_bytes_without_content_encoding_are_not_inflated(
        self, store: S3PayloadStore, s3: Any, bucket: str
    ) -> None:
        token = store.upload(b"compressed", instance_id="i")
        head = s3.head_object(Bucket=bucket, Key=_key(token))
        s3.put_object(
            Bucket=bucket, Key=_key(token), Body=gzip.compress(b"compressed"), Metadata=head["Metadata"]
        )
        with pytest.raises(PayloadIntegrityError, match="SHA-256"):
            store.download(token)

    def test_an_object_whose_content_does_not_give_its_name_is_refused(
        self, store: S3PayloadStore, s3: Any, bucket: str
    ) -> None:
        """Only this package writes S3 payload keys, and their names certify their content."""
        key = PREFIX + "a" * 32
        s3.put_object(Bucket=bucket, Key=key, Body=b"written by another tool")
        with pytest.raises(PayloadIntegrityError, match="does not match its name"):
            store.download(f"s3:v1:{bucket}:{key}")

    def test_an_oversized_object_is_refused_before_it_is_read(
        self, s3_server: MotoS3, s3: Any, bucket: str
    ) -> None:
        key = PREFIX + "b" * 32
        s3.put_object(Bucket=bucket, Key=key, Body=b"z" * 200_000)
        options = s3_options(s3_server, bucket, threshold_bytes=100, max_stored_payload_bytes=1000)
        with S3PayloadStore(options) as store, pytest.raises(PayloadReadLimitError, match="200,000 bytes"):
            store.download(f"s3:v1:{bucket}:{key}")

    def test_a_deleted_object_is_not_found(self, store: S3PayloadStore) -> None:
        token = store.upload(b"bye")
        assert store.delete(token) is True
        with pytest.raises(PayloadNotFoundError, match="no such S3 object"):
            store.download(token)
        with pytest.raises(PayloadNotFoundError):
            store.inspect(token)
        assert store.delete(token) is False

    def test_listing_keeps_to_the_prefix(self, s3_server: MotoS3, s3: Any, bucket: str) -> None:
        """A prefix that does not end in '/' still lists exactly its own keys."""
        s3.put_object(Bucket=bucket, Key="other-" + "c" * 32, Body=b"not ours")
        s3.put_object(Bucket=bucket, Key="pay-" + "c" * 31, Body=b"not a content name")
        s3.put_object(Bucket=bucket, Key="pay-x/" + "c" * 32, Body=b"deeper")
        with S3PayloadStore(s3_options(s3_server, bucket, key_prefix="pay-")) as store:
            token = store.upload(b"ours")
            assert [info.token for info in store.list_payloads()] == [token]
            assert _key(token).startswith("pay-")


class TestRefusals:
    """Tokens are data from the backend: they never widen what the store reads."""

    @pytest.fixture
    def port(self) -> Iterator[ConnectionCounter]:
        with ConnectionCounter() as port:
            yield port

    @pytest.fixture
    def offline(self, port: ConnectionCounter) -> Iterator[S3PayloadStore]:
        """A store whose endpoint counts connections and answers none."""
        options = S3PayloadStoreOptions(
            bucket="payloads",
            endpoint_url=f"http://127.0.0.1:{port.port}",
            region="us-east-1",
            access_key_id=MOTO_ACCESS_KEY,
            secret_access_key=MOTO_SECRET_KEY,
            retry_total=3,
            retry_backoff_seconds=0.01,
        )
        with S3PayloadStore(options) as store:
            yield store

    @pytest.mark.parametrize(
        "token",
        [
            "s3:v1:other-bucket:" + PREFIX + "0" * 32,
            "s3:v1:payloads:elsewhere/" + "0" * 32,
            "s3:v1:payloads:" + "0" * 32,
            "s3:v1:payloads:" + PREFIX + "../" + "0" * 32,
            "s3:v1:payloads:" + PREFIX + "x/../../" + "0" * 32,
            "s3:v1:payloads:/" + PREFIX + "0" * 32,
            "s3:v1:payloads:" + PREFIX + "a\nb/" + "0" * 32,
            "s3:v1:payloads:" + PREFIX + "0" * 31,
            "s3:v1:payloads:" + PREFIX + "A" * 32,
            "s3:v1:Bad_Bucket:" + PREFIX + "0" * 32,
            "s3:v1:payloads:" + "a/" * 2000 + "0" * 32,
        ],
    )
    def test_refused_before_any_request(
        self, offline: S3PayloadStore, port: ConnectionCounter, token: str
    ) -> None:
        assert_refused_before_any_io(offline, token, port)

    @pytest.mark.parametrize(
        "value", ["s3:v1:payloads", "s3:v1:payloads:", "s3:v2:payloads:" + PREFIX + "0" * 32, "blob:v1:c:n"]
    )
    def test_malformed_values_are_not_tokens(self, offline: S3PayloadStore, value: str) -> None:
        assert not offline.is_known_token(value)

    def test_allowed_buckets_widen_reads_not_writes(self, s3_server: MotoS3, s3: Any, bucket: str) -> None:
        other = new_s3_bucket(s3_server)
        with S3PayloadStore(s3_options(s3_server, other)) as elsewhere:
            token = elsewhere.upload(b"written elsewhere")
        with (
            S3PayloadStore(s3_options(s3_server, bucket)) as strict,
            pytest.raises(InvalidPayloadTokenError, match="allowed_buckets"),
        ):
            strict.download(token)
        with S3PayloadStore(s3_options(s3_server, bucket, allowed_buckets=[other])) as lenient:
            assert lenient.download(token) == b"written elsewhere"
            assert lenient.upload(b"x").split(":")[2] == bucket


class TestSecrets:
    def test_repr_of_options_hides_the_credentials(self, s3_server: MotoS3, bucket: str) -> None:
        options = s3_options(s3_server, bucket, session_token=SESSION_TOKEN)
        for secret in (MOTO_ACCESS_KEY, MOTO_SECRET_KEY, SESSION_TOKEN):
            assert secret not in repr(options)
        assert bucket in repr(options)

    def test_no_log_line_holds_a_secret_or_payload_data(
        self, s3_server: MotoS3, bucket: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        options = s3_options(s3_server, bucket, session_token=SESSION_TOKEN, enable_compression=False)
        with caplog.at_level(logging.DEBUG), S3PayloadStore(options) as store:
            token = store.upload(b"card 4111-1111-1111-1111 " * 100, instance_id="i")
            store.upload(b"card 4111-1111-1111-1111 " * 100, instance_id="i")
            store.download(token)
            with pytest.raises(PayloadNotFoundError):
                store.download(token[:-32] + "0" * 32)
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "Stored 2500 bytes as S3 object" in text  # the store did log
        for secret in (MOTO_SECRET_KEY, SESSION_TOKEN, "4111-1111-1111-1111"):
            assert secret not in text


class TestCredentials:
    def test_environment_variables_are_used_by_default(
        self, s3_server: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", MOTO_ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_KEY)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        options = S3PayloadStoreOptions(bucket=bucket, endpoint_url=s3_server.endpoint)
        with S3PayloadStore(options) as store:
            assert store.download(store.upload(b"from the environment")) == b"from the environment"

    def test_a_profile_is_resolved_by_boto3(
        self, s3_server: MotoS3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        credentials = tmp_path / "credentials"
        credentials.write_text(
            f"[payloads]\naws_access_key_id = {MOTO_ACCESS_KEY}\naws_secret_access_key = {MOTO_SECRET_KEY}\n"
        )
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        options = S3PayloadStoreOptions(
            bucket=bucket, endpoint_url=s3_server.endpoint, region="us-east-1", profile="payloads"
        )
        with S3PayloadStore(options) as store:
            assert store.download(store.upload(b"from a profile")) == b"from a profile"


class TestAsync:
    def test_async_methods_do_not_use_obstores_async_api(
        self, store: S3PayloadStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """obstore's async calls finish on Rust threads that can abort the process at exit.

        Without moving them to the store's threads, 3 to 17 percent of processes that exited
        right after an async transfer died of SIGABRT (measured on obstore 0.12).
        """
        import obstore

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("obstore's async API was used")

        for name in ("get_async", "put_async", "head_async", "delete_async", "list_async"):
            monkeypatch.setattr(obstore, name, refuse, raising=False)

        async def scenario() -> bytes:
            return await store.download_async(await store.upload_async(b"threads", instance_id="t"))

        assert asyncio.run(scenario()) == b"threads"


class TestOptions:
    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"bucket": ""}, "bucket must be a valid S3 bucket name"),
            ({"bucket": "Bad_Bucket"}, "bucket must be a valid S3 bucket name"),
            ({"bucket": "192.168.1.1"}, "bucket must be a valid S3 bucket name"),
            ({"allowed_buckets": ["ok-bucket", "x"]}, "allowed_buckets must be a valid"),
            ({"key_prefix": "../up/"}, "key_prefix '../up/' cannot be used"),
            ({"key_prefix": "/abs/"}, "cannot be used"),
            ({"key_prefix": "a b/"}, "cannot be used"),
            ({"endpoint_url": "ftp://x"}, "endpoint_url must be an http"),
            ({"access_key_id": "only-the-id"}, "give both access_key_id and secret_access_key"),
            ({"session_token": "t"}, "session_token needs access_key_id"),
            ({"profile": "p", "credential_provider": lambda: {}}, "give at most one of"),
            ({"retry_total": 21}, "retry_total must be an integer from 0 to 20"),
            ({"attempt_timeout_seconds": 0}, "attempt_timeout_seconds must be a positive number"),
            ({"threshold_bytes": 0}, "threshold_bytes must be between 1 and"),
        ],
    )
    def test_bad_values_name_the_field(self, values: dict[str, object], message: str) -> None:
        arguments: dict[str, object] = {"bucket": "payloads", **values}
        with pytest.raises(ValueError, match=message):
            S3PayloadStoreOptions(**arguments)  # type: ignore[arg-type]

    def test_a_credential_provider_that_cannot_be_called_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="credential_provider must be a callable, got str"):
            S3PayloadStoreOptions(bucket="payloads", credential_provider="not callable")

    def test_allowed_buckets_become_a_tuple(self) -> None:
        options = S3PayloadStoreOptions(bucket="payloads", allowed_buckets=["abc"])
        assert options.allowed_buckets == ("abc",)
