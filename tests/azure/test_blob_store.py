"""BlobPayloadStore on a real Azurite: naming, conditional writes, integrity, refusals, secrets."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from azure.storage.blob import BlobServiceClient

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    InvalidPayloadTokenError,
    PayloadNotFoundError,
    PayloadStoreClosedError,
    PayloadStoreRefusedError,
)

from ..faults import ConnectionCounter, assert_refused_before_any_io
from ..services import DEV_KEY, Azurite, dev_connection_string


def _options(azurite: Azurite, **overrides: object) -> BlobPayloadStoreOptions:
    values: dict[str, object] = {
        "connection_string": azurite.connection_string,
        "container_name": f"s-{uuid.uuid4().hex[:16]}",
    }
    values.update(overrides)
    return BlobPayloadStoreOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(azurite: Azurite) -> Iterator[BlobPayloadStore]:
    with BlobPayloadStore(_options(azurite)) as store:
        yield store


@pytest.fixture
def service(azurite: Azurite) -> Iterator[BlobServiceClient]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


class TestContainer:
    def test_created_private_on_first_write(
        self, store: BlobPayloadStore, service: BlobServiceClient
    ) -> None:
        container = service.get_container_client(store.options.container_name)
        assert not container.exists()
        store.upload(b"first")
        assert container.get_container_properties().public_access is None

    def test_created_once_then_remembered(
        self, store: BlobPayloadStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from azure.storage.blob import ContainerClient

        calls: list[str] = []
        original = ContainerClient.create_container

        def counting(self: ContainerClient, *args: object, **kwargs: object) -> object:
            calls.append(self.container_name)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(ContainerClient, "create_container", counting)
        for i in range(5):
            store.upload(f"payload {i}".encode())
        assert calls == [store.options.container_name]

    def test_a_container_deleted_behind_our_back_is_recreated(
        self, store: BlobPayloadStore, service: BlobServiceClient
    ) -> None:
        store.upload(b"one")
        service.delete_container(store.options.container_name)
        # Azurite deletes at once; Azure may refuse re-creation briefly (ContainerBeingDeleted).
        token = store.upload(b"two")
        assert store.download(token) == b"two"


class TestMetadataAndIntegrity:
    def test_metadata_records_hash_size_and_instance(self, store: BlobPayloadStore) -> None:
        token = store.upload(b"x" * 5000, instance_id="inst/ü 1")
        info = store.inspect(token)
        assert info.size == 5000
        assert info.instance_id == "inst/ü 1"
        assert info.content_encoding == "gzip"
        assert info.stored_size < 5000
        assert info.created is not None
        assert [i.token for i in store.list_payloads()] == [token]

    def test_instance_ids_are_stored_percent_encoded(
        self, store: BlobPayloadStore, service: BlobServiceClient
    ) -> None:
        token = store.upload(b"y", instance_id="ä/b")
        name = token.rsplit(":", 1)[1]
        metadata = service.get_blob_client(store.options.container_name, name).get_blob_properties().metadata
        assert metadata["instanceid"] == quote("ä/b", safe="")

    def test_a_deleted_blob_is_not_found(self, store: BlobPayloadStore) -> None:
        token = store.upload(b"bye")
        assert store.delete(token) is True
        with pytest.raises(PayloadNotFoundError, match="HTTP 404"):
            store.download(token)
        assert store.delete(token) is False


class TestRefusals:
    """Tokens are data from the backend: they never widen what the store reads."""

    @pytest.fixture
    def port(self) -> Iterator[ConnectionCounter]:
        with ConnectionCounter() as port:
            yield port

    @pytest.fixture
    def elsewhere(self) -> Iterator[ConnectionCounter]:
        """Another account's endpoint, which a v2 token may name: it must not be contacted either."""
        with ConnectionCounter() as port:
            yield port

    @pytest.fixture
    def offline(self, port: ConnectionCounter) -> Iterator[BlobPayloadStore]:
        """A store whose endpoint counts connections and answers none."""
        options = BlobPayloadStoreOptions(
            connection_string=dev_connection_string(f"http://127.0.0.1:{port.port}"),
            retry_total=3,
            retry_backoff_seconds=0.01,
        )
        with BlobPayloadStore(options) as store:
            yield store

    @pytest.mark.parametrize(
        "token",
        [
            "blob:v1:other-container:" + "0" * 32,
            "blob:v2:https://evil.blob.core.windows.net/durabletask-payloads/" + "0" * 32,
            "blob:v2:http://127.0.0.1:{elsewhere}/devstoreaccount1/durabletask-payloads/" + "0" * 32,
            "blob:v1:durabletask-payloads:../other/" + "0" * 32,
            "blob:v1:durabletask-payloads:" + "a" * 5000,
        ],
    )
    def test_refused_before_any_request(
        self, offline: BlobPayloadStore, port: ConnectionCounter, elsewhere: ConnectionCounter, token: str
    ) -> None:
        assert_refused_before_any_io(offline, token.format(elsewhere=elsewhere.port), port, elsewhere)

    def test_allowed_containers_widen_reads_not_writes(
        self, azurite: Azurite, service: BlobServiceClient
    ) -> None:
        other = f"o-{uuid.uuid4().hex[:12]}"
        service.create_container(other)
        dotnet_name = uuid.uuid4().hex  # .NET names its blobs with version-4 GUIDs
        service.get_blob_client(other, dotnet_name).upload_blob(b"written by .NET")
        token = f"blob:v1:{other}:{dotnet_name}"
        with (
            BlobPayloadStore(_options(azurite)) as strict,
            pytest.raises(InvalidPayloadTokenError, match="allowed_containers"),
        ):
            strict.download(token)
        with BlobPayloadStore(_options(azurite, allowed_containers=[other])) as lenient:
            assert lenient.download(token) == b"written by .NET"
            assert lenient.upload(b"x").split(":")[2] == lenient.options.container_name


class TestClose:
    """close() ends the store: every later call says so, before any request; aclose() ends a loop's use."""

    def test_every_call_after_close_names_the_cause_and_the_fix(self, azurite: Azurite) -> None:
        with ConnectionCounter() as port:
            options = _options(
                azurite, connection_string=dev_connection_string(f"http://127.0.0.1:{port.port}")
            )
            store = BlobPayloadStore(options)
            store.close()
            token = f"blob:v1:{options.container_name}:" + "0" * 32
            calls = {
                "upload": lambda: store.upload(b"after close"),
                "download": lambda: store.download(token),
                "inspect": lambda: store.inspect(token),
                "delete": lambda: store.delete(token),
                "list": lambda: list(store.list_payloads()),
                "upload_async": lambda: asyncio.run(store.upload_async(b"after close")),
                "download_async": lambda: asyncio.run(store.download_async(token)),
            }
            for name, call in calls.items():
                with pytest.raises(PayloadStoreClosedError, match=r"closed.*Create a new store") as caught:
                    call()
                assert isinstance(caught.value, PayloadStoreRefusedError), name  # permanent
                assert not caught.value.transient, name
            assert port.count() == 0

    def test_the_store_is_usable_after_aclose(self, store: BlobPayloadStore) -> None:
        async def one_loop() -> str:
            try:
                return await store.upload_async(b"first loop")
            finally:
                await store.aclose()

        async def another_loop(token: str) -> bytes:
            try:
                return await store.download_async(token)
            finally:
                await store.aclose()

        token = asyncio.run(one_loop())
        assert store.download(token) == b"first loop"  # the sync client reconnects
        assert asyncio.run(another_loop(token)) == b"first loop"


class TestSecrets:
    def test_repr_of_options_hides_the_connection_string(self, azurite: Azurite) -> None:
        options = _options(azurite)
        assert DEV_KEY not in repr(options)
        assert "AccountKey" not in repr(options)

    def test_no_log_line_contains_the_key(
        self, store: BlobPayloadStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.DEBUG):
            token = store.upload(b"secret-looking payload 4111-1111-1111-1111" * 100, instance_id="i")
            store.download(token)
            with pytest.raises(PayloadNotFoundError):
                store.download(token[:-32] + "0" * 32)
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert caplog.records  # the SDK and the store did log
        assert DEV_KEY not in text
        assert "4111-1111-1111-1111" not in text


class TestOptions:
    def test_exactly_one_way_to_connect(self) -> None:
        with pytest.raises(ValueError, match="exactly one of connection_string or account_url"):
            BlobPayloadStoreOptions()
        with pytest.raises(ValueError, match="exactly one"):
            BlobPayloadStoreOptions(connection_string="x", account_url="https://a.blob.core.windows.net")

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("container_name", "Bad_Name", "container_name must be a valid Azure container name"),
            ("allowed_containers", ["ok-name", "x"], "allowed_containers must be a valid"),
            ("token_version", "v3", "token_version must be 'v1' or 'v2'"),
            ("retry_total", -1, "retry_total must be an integer from 0 to 20"),
            ("read_timeout_seconds", 0, "read_timeout_seconds must be a positive number"),
            ("threshold_bytes", 0, "threshold_bytes must be between 1 and"),
        ],
    )
    def test_bad_values_name_the_field(self, field: str, value: object, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            BlobPayloadStoreOptions(connection_string="UseDevelopmentStorage=true", **{field: value})  # type: ignore[arg-type]

    def test_allowed_containers_become_a_tuple(self) -> None:
        options = BlobPayloadStoreOptions(connection_string="c", allowed_containers=["abc"])
        assert options.allowed_containers == ("abc",)
        assert dataclasses.replace(options, allowed_containers=["def"]).allowed_containers == ("def",)

    def test_a_sync_token_credential_makes_async_calls_use_threads(self) -> None:
        class SyncCredential:
            def get_token(self, *scopes: str, **kwargs: object) -> object:
                raise AssertionError("not called in this test")

        store = BlobPayloadStore(
            BlobPayloadStoreOptions(
                account_url="https://acct.blob.core.windows.net", credential=SyncCredential()
            )
        )
        assert store._aio_native is False
        store.close()
