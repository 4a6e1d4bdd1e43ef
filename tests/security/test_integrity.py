"""A name certifies its content: planted, replaced, forged and empty objects are never read as payloads."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durabletask_payloads import (
    BlobPayloadStore,
    LargePayloadStorageOptions,
    PayloadIntegrityError,
    PayloadStore,
)
from durabletask_payloads._token import content_name, sha256_hex

from ..conftest import make_store
from ..helpers import orders
from ._raw import BASE_KINDS, Meta, Raw

VICTIM = json.dumps(orders(30, seed=7)).encode()
ATTACKER = json.dumps({"role": "admin", "amount": 10**9}).encode()
OPTIONS = LargePayloadStorageOptions(threshold_bytes=100)


@pytest.fixture(params=BASE_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PayloadStore]:
    with make_store(kind, request, tmp_path, OPTIONS) as store:
        yield store


@pytest.fixture
def raw(kind: str, store: PayloadStore, request: pytest.FixtureRequest) -> Raw:
    return Raw(kind, store, request)


def _predicted_token(store: PayloadStore, data: bytes, instance_id: str) -> str:
    """The token the victim's upload will get: names are derived from content and instance alone."""
    token = store.upload(data, instance_id=instance_id)
    store.delete(token)
    return token


def _refused(store: PayloadStore, token: str) -> PayloadIntegrityError:
    with pytest.raises(PayloadIntegrityError) as info:
        store.download(token)
    assert info.value.token == token
    assert token[:60] in str(info.value)
    return info.value


class TestReadsVerifyTheName:
    def test_a_zero_byte_object_is_refused(self, store: PayloadStore, raw: Raw) -> None:
        """On main an empty blob resolved to b"" and the orchestration's input became None."""
        token = store.upload(VICTIM, instance_id="victim")
        raw.put(token, b"")
        _refused(store, token)

    def test_a_zero_byte_body_claiming_identity_is_refused(self, store: PayloadStore, raw: Raw) -> None:
        token = store.upload(VICTIM, instance_id="victim")
        raw.put(token, b"", Meta(content_encoding="identity"))
        _refused(store, token)

    def test_a_replaced_object_without_metadata_is_refused(self, store: PayloadStore, raw: Raw) -> None:
        token = store.upload(VICTIM, instance_id="victim")
        raw.put(token, ATTACKER)
        _refused(store, token)

    def test_a_replaced_gzip_object_without_metadata_is_refused(self, store: PayloadStore, raw: Raw) -> None:
        token = store.upload(VICTIM, instance_id="victim")
        raw.put(token, gzip.compress(ATTACKER), Meta(content_encoding="gzip"))
        _refused(store, token)

    def test_a_forged_hash_does_not_help(self, store: PayloadStore, raw: Raw) -> None:
        """Metadata consistent with the forged body: the hash matches, the name does not."""
        token = store.upload(VICTIM, instance_id="victim")
        forged = Meta(
            content_encoding="gzip", sha256=sha256_hex(ATTACKER), instance_id="victim", size=len(ATTACKER)
        )
        raw.put(token, gzip.compress(ATTACKER), forged)
        error = _refused(store, token)
        assert "does not match its name" in error.reason

    def test_forged_metadata_naming_another_instance_does_not_help(
        self, store: PayloadStore, raw: Raw
    ) -> None:
        token = store.upload(VICTIM, instance_id="victim")
        raw.put(token, ATTACKER, Meta(sha256=sha256_hex(ATTACKER), instance_id="attacker"))
        _refused(store, token)

    def test_the_real_payload_still_reads(self, store: PayloadStore) -> None:
        token = store.upload(VICTIM, instance_id="victim")
        assert store.download(token) == VICTIM


class TestAlreadyExistsIsVerified:
    def test_an_object_planted_at_the_predictable_name_is_replaced(
        self, store: PayloadStore, raw: Raw
    ) -> None:
        """On main the victim's upload took 'already exists' as success and then read the attacker's data."""
        token = _predicted_token(store, VICTIM, "victim")
        raw.put(token, gzip.compress(ATTACKER), Meta(content_encoding="gzip", sha256=sha256_hex(ATTACKER)))
        assert store.upload(VICTIM, instance_id="victim") == token
        assert store.download(token) == VICTIM

    def test_an_empty_object_planted_there_is_replaced(self, store: PayloadStore, raw: Raw) -> None:
        token = _predicted_token(store, VICTIM, "victim")
        raw.put(token, b"")
        assert store.upload(VICTIM, instance_id="victim") == token
        assert store.download(token) == VICTIM

    def test_an_oversized_object_planted_there_is_replaced(self, store: PayloadStore, raw: Raw) -> None:
        token = _predicted_token(store, VICTIM, "victim")
        raw.put_sparse(token, OPTIONS.max_stored_payload_bytes + 200_000)
        assert store.upload(VICTIM, instance_id="victim") == token
        assert store.download(token) == VICTIM

    async def test_the_async_upload_verifies_too(self, store: PayloadStore, raw: Raw) -> None:
        token = _predicted_token(store, VICTIM, "victim")
        raw.put(token, ATTACKER)
        try:
            assert await store.upload_async(VICTIM, instance_id="victim") == token
            assert await store.download_async(token) == VICTIM
        finally:
            await store.aclose()

    def test_a_good_copy_is_kept(self, store: PayloadStore) -> None:
        token = store.upload(VICTIM, instance_id="victim")
        info = store.inspect(token)
        assert store.upload(VICTIM, instance_id="victim") == token
        assert store.inspect(token).created == info.created  # not written again


class TestNames:
    def test_names_this_package_writes_are_never_guid_v4_shaped(self) -> None:
        from durabletask_payloads._token import is_guid_v4_name, names_content

        names = [content_name(sha256_hex(str(i).encode()), None) for i in range(5000)]
        assert not any(is_guid_v4_name(name) for name in names)
        # About 1 in 64 plain hashes is GUID-shaped: those were changed, and still certify their content.
        assert all(names_content(name, sha256_hex(str(i).encode()), None) for i, name in enumerate(names))

    def test_guids_from_other_sdks_are_told_apart(self) -> None:
        from durabletask_payloads._token import is_guid_v4_name

        assert all(is_guid_v4_name(uuid.uuid4().hex) for _ in range(200))
        assert not is_guid_v4_name("0123456789abcdef0123456789abcdef")

    def test_names_written_before_the_change_still_verify(self) -> None:
        """An older version wrote the plain hash, GUID-shaped or not: its tokens stay readable."""
        from durabletask_payloads._token import names_content

        for i in range(2000):
            digest = sha256_hex(str(i).encode())
            new = content_name(digest, "i")
            if new[12] == "c" and new[16] in "89ab":
                plain = new[:12] + "4" + new[13:]
                if names_content(plain, digest, "i"):
                    return
        raise AssertionError("no changed name found in 2,000 payloads (1 in 64 expected)")


# make_store fetches Azurite with getfixturevalue, which the collection hook in conftest cannot see.
@pytest.mark.azurite
class TestForeignBlobs:
    """.NET and Java write version-4 GUID names and no hash: those are read as before, within the limit."""

    @pytest.fixture
    def blob_store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PayloadStore]:
        with make_store("azure_blob", request, tmp_path, OPTIONS) as store:
            yield store

    def test_a_dotnet_blob_is_read_without_a_hash(
        self, blob_store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        raw = Raw("azure_blob", blob_store, request)
        assert isinstance(blob_store, BlobPayloadStore)
        token = f"blob:v1:{blob_store.options.container_name}:{uuid.uuid4().hex}"
        raw.put(token, gzip.compress(VICTIM), Meta(content_encoding="gzip"))
        assert blob_store.download(token) == VICTIM

    def test_an_empty_dotnet_blob_is_refused(
        self, blob_store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        """No writer externalizes an empty payload: an empty blob is never data."""
        raw = Raw("azure_blob", blob_store, request)
        assert isinstance(blob_store, BlobPayloadStore)
        token = f"blob:v1:{blob_store.options.container_name}:{uuid.uuid4().hex}"
        raw.put(token, b"")
        with pytest.raises(PayloadIntegrityError, match="empty"):
            blob_store.download(token)

    def test_a_dotnet_blob_with_our_hash_is_checked(
        self, blob_store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        raw = Raw("azure_blob", blob_store, request)
        assert isinstance(blob_store, BlobPayloadStore)
        token = f"blob:v1:{blob_store.options.container_name}:{uuid.uuid4().hex}"
        raw.put(token, ATTACKER, Meta(sha256=hashlib.sha256(VICTIM).hexdigest()))
        with pytest.raises(PayloadIntegrityError, match="SHA-256"):
            blob_store.download(token)

    def test_a_non_guid_name_is_taken_as_ours_and_verified(
        self, blob_store: PayloadStore, request: pytest.FixtureRequest
    ) -> None:
        raw = Raw("azure_blob", blob_store, request)
        assert isinstance(blob_store, BlobPayloadStore)
        token = f"blob:v1:{blob_store.options.container_name}:" + "0123456789abcdef" * 2
        raw.put(token, VICTIM)
        with pytest.raises(PayloadIntegrityError, match="does not match its name"):
            blob_store.download(token)
