"""Cross-account v2 reads: refused unless the account is listed, then read with the credential given.

The other account is a second, real Azurite whose only account is ``otheracct``
(Azurite's ``AZURITE_ACCOUNTS``), reached through a counting proxy: a refused
token must cost no request at all.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import (
    BlobServiceClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_container_sas,
)

from durabletask_payloads import (
    BlobAccount,
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    InvalidPayloadTokenError,
    PayloadStoreRefusedError,
)

from ..faults import FaultProxy
from ..helpers import orders
from ..services import Azurite

OTHER = "otheracct"
OTHER_KEY = base64.b64encode(b"a key for the other test account, not a secret").decode()
CONTAINER = "durabletask-payloads"


@dataclass
class OtherAzurite(Azurite):
    """An Azurite serving only the account ``otheracct`` (the dev account is disabled by AZURITE_ACCOUNTS)."""

    name = "azurite-other"

    def command(self) -> list[str]:
        return ["env", f"AZURITE_ACCOUNTS={OTHER}:{OTHER_KEY}", *super().command()]


@dataclass
class Other:
    server: OtherAzurite
    proxy: FaultProxy
    payload: bytes
    name: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}/{OTHER}"

    @property
    def token(self) -> str:
        return f"blob:v2:{self.endpoint}/{CONTAINER}/{self.name}"

    def service(self) -> BlobServiceClient:
        return BlobServiceClient(
            f"http://127.0.0.1:{self.server.port}/{OTHER}",
            credential={"account_name": OTHER, "account_key": OTHER_KEY},
        )


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Other]:
    """The other account, holding one blob as a .NET writer leaves it: a GUID name, gzip, no metadata."""
    server = OtherAzurite(Path(tmp_path_factory.mktemp("azurite-other")))
    server.start()
    proxy = FaultProxy(server.port)
    proxy.start()
    payload = json.dumps(orders(80, seed=31)).encode()
    found = Other(server, proxy, payload, "5f0c4b1e9a7d4c2e8b3a6d1f0e9c8b7a")
    with found.service() as service:
        container = service.create_container(CONTAINER)
        container.upload_blob(
            found.name, gzip.compress(payload), content_settings=ContentSettings(content_encoding="gzip")
        )
        service.create_container("other-c").upload_blob(found.name, payload)
    yield found
    proxy.stop()
    server.stop()


def _store(azurite: Azurite, *accounts: BlobAccount | str) -> BlobPayloadStore:
    return BlobPayloadStore(
        BlobPayloadStoreOptions(connection_string=azurite.connection_string, allowed_accounts=accounts)
    )


def _requests(other: Other) -> int:
    return len(other.proxy.requests)


class TestRefusedUnlessListed:
    def test_an_unlisted_account_is_refused_before_any_request(self, azurite: Azurite, other: Other) -> None:
        before = _requests(other)
        with _store(azurite) as store:
            assert store.is_known_token(other.token)  # a token, so it fails its work item clearly
            with pytest.raises(InvalidPayloadTokenError, match=r"another storage account .*allowed_accounts"):
                store.download(other.token)
            with pytest.raises(InvalidPayloadTokenError):
                asyncio.run(store.download_async(other.token))
        assert _requests(other) == before

    def test_a_listed_account_reads_only_its_listed_containers(self, azurite: Azurite, other: Other) -> None:
        account = BlobAccount(
            other.endpoint, credential=AzureNamedKeyCredential(OTHER, OTHER_KEY), containers=("other-c",)
        )
        before = _requests(other)
        with _store(azurite, account) as store:
            with pytest.raises(InvalidPayloadTokenError, match=r"BlobAccount\.containers"):
                store.download(other.token)
            assert _requests(other) == before
            assert store.download(f"blob:v2:{other.endpoint}/other-c/{other.name}") == other.payload


class TestReadWithTheCredentialGiven:
    @pytest.mark.parametrize("credential", ["named-key", "container-sas"])
    def test_reads_sync_and_async_and_writes_stay_home(
        self, azurite: Azurite, other: Other, credential: str
    ) -> None:
        given: object = AzureNamedKeyCredential(OTHER, OTHER_KEY)
        if credential == "container-sas":
            given = generate_container_sas(
                OTHER,
                CONTAINER,
                OTHER_KEY,
                permission=ContainerSasPermissions(read=True),
                expiry=datetime.now(timezone.utc) + timedelta(hours=1),
            )
        before = _requests(other)
        with _store(azurite, BlobAccount(other.endpoint, credential=given)) as store:
            assert store.download(other.token) == other.payload
            assert store.inspect(other.token).content_encoding == "gzip"

            async def read() -> bytes:
                try:
                    return await store.download_async(other.token)
                finally:
                    await store.aclose()

            assert asyncio.run(read()) == other.payload
            # Writing never goes to a listed account.
            token = store.upload(b'"home"')
            assert token.startswith("blob:v1:durabletask-payloads:")
            assert store.download(token) == b'"home"'
        assert _requests(other) > before

    def test_a_listed_url_uses_the_stores_own_credential(self, azurite: Azurite, other: Other) -> None:
        """The dev account's key is no key of otheracct: the request is made, and refused for good."""
        before = _requests(other)
        with (
            _store(azurite, other.endpoint) as store,
            pytest.raises(PayloadStoreRefusedError, match="HTTP 403"),
        ):
            store.download(other.token)
        assert _requests(other) == before + 1  # sent once, not retried

    def test_the_digest_of_what_was_read_is_the_writers(self, azurite: Azurite, other: Other) -> None:
        with _store(
            azurite, BlobAccount(other.endpoint, credential=AzureNamedKeyCredential(OTHER, OTHER_KEY))
        ) as store:
            assert (
                hashlib.sha256(store.download(other.token)).digest() == hashlib.sha256(other.payload).digest()
            )


class TestAllowedAccountsSettings:
    def test_strings_become_accounts_and_urls_are_normalised(self) -> None:
        options = BlobPayloadStoreOptions(
            connection_string="UseDevelopmentStorage=true",
            allowed_accounts=[
                "HTTPS://Other.blob.core.windows.net/",
                BlobAccount("http://10.0.0.5:8080/acct/"),
            ],
        )
        assert [a.account_url for a in options.allowed_accounts if isinstance(a, BlobAccount)] == [
            "https://other.blob.core.windows.net",
            "http://10.0.0.5:8080/acct",
        ]

    @pytest.mark.parametrize(
        ("accounts", "message"),
        [
            (["https://other.blob.core.windows.net/?sv=1&sig=topsecretvalue"], "must not carry a query"),
            (["https://other.blob.core.windows.net", "https://OTHER.blob.core.windows.net"], "twice"),
            (["https://other.blob.core.windows.net/container"], "host style"),
            (["ftp://other"], "http"),
        ],
    )
    def test_bad_values_are_refused_by_name_without_the_query(self, accounts: object, message: str) -> None:
        with pytest.raises(ValueError, match=message) as refused:
            BlobPayloadStoreOptions(connection_string="c", allowed_accounts=accounts)  # type: ignore[arg-type]
        assert "topsecret" not in str(refused.value)

    @pytest.mark.parametrize(
        ("accounts", "message"),
        [
            ("https://other.blob.core.windows.net", "a collection of BlobAccount .*, got str"),
            ([42], "BlobAccount or account URLs .*, got int"),
        ],
    )
    def test_values_of_the_wrong_type_are_type_errors(self, accounts: object, message: str) -> None:
        with pytest.raises(TypeError, match=message):
            BlobPayloadStoreOptions(connection_string="c", allowed_accounts=accounts)  # type: ignore[arg-type]

    def test_an_async_credential_needs_its_sync_twin(self) -> None:
        with pytest.raises(ValueError, match="async_credential needs its sync twin"):
            BlobAccount("https://other.blob.core.windows.net", async_credential=object())

    def test_the_stores_own_account_cannot_be_listed(self, azurite: Azurite) -> None:
        with pytest.raises(ValueError, match="own account"):
            _store(azurite, azurite.endpoint)

    def test_a_sas_in_account_url_becomes_the_credential(self) -> None:
        options = BlobPayloadStoreOptions(
            account_url="https://acct.blob.core.windows.net/?sv=1&sig=topsecretvalue"
        )
        assert options.account_url == "https://acct.blob.core.windows.net/"
        assert options.credential == "sv=1&sig=topsecretvalue"
        assert "topsecret" not in repr(options)
        with pytest.raises(ValueError, match="give one") as refused:
            BlobPayloadStoreOptions(
                account_url="https://acct.blob.core.windows.net/?sig=topsecretvalue", credential="x"
            )
        assert "topsecret" not in str(refused.value)
