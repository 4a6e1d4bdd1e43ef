"""Store options refuse at construction what would fail later: NaN, infinities, sizes, bad keys."""

from __future__ import annotations

import base64
import math
import os
from typing import Any

import pytest

from durabletask_payloads import (
    BlobPayloadStoreOptions,
    LargePayloadStorageOptions,
    RedisPayloadStoreOptions,
    S3PayloadStoreOptions,
)

KEY = base64.b64encode(os.urandom(32)).decode()
AZURE = {"account_url": "https://acct.blob.core.windows.net"}
S3 = {"bucket": "payloads"}


def _refused(options_type: type[Any], field: str, value: object, **others: object) -> str:
    with pytest.raises(ValueError, match=field) as info:
        options_type(**others, **{field: value})
    return str(info.value)


class TestSeconds:
    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e300, 0, -1])
    def test_redis_ttl(self, value: float) -> None:
        _refused(RedisPayloadStoreOptions, "ttl_seconds", value)

    @pytest.mark.parametrize("field", ["connect_timeout_seconds", "read_timeout_seconds"])
    @pytest.mark.parametrize("value", [math.nan, math.inf, 1e10])
    def test_redis_timeouts(self, field: str, value: float) -> None:
        """1e10 s does not fit a socket timeout: on main it failed at the first command."""
        _refused(RedisPayloadStoreOptions, field, value)

    @pytest.mark.parametrize(
        "field", ["connect_timeout_seconds", "read_timeout_seconds", "attempt_timeout_seconds"]
    )
    @pytest.mark.parametrize("value", [math.nan, math.inf, 1e300])
    def test_s3_timeouts(self, field: str, value: float) -> None:
        """1e300 s does not fit a duration: on main the store failed to build with an OverflowError."""
        _refused(S3PayloadStoreOptions, field, value, **S3)

    @pytest.mark.parametrize("field", ["connect_timeout_seconds", "read_timeout_seconds"])
    @pytest.mark.parametrize("value", [math.nan, math.inf, 86_400.5])
    def test_azure_timeouts(self, field: str, value: float) -> None:
        """Bounded like S3's and Redis's: at most one day."""
        _refused(BlobPayloadStoreOptions, field, value, **AZURE)

    def test_the_largest_allowed_values_work(self) -> None:
        RedisPayloadStoreOptions(ttl_seconds=100 * 365 * 86_400, read_timeout_seconds=86_400)
        S3PayloadStoreOptions(attempt_timeout_seconds=86_400, read_timeout_seconds=86_400, **S3)  # type: ignore[arg-type]
        BlobPayloadStoreOptions(connect_timeout_seconds=86_400, read_timeout_seconds=86_400, **AZURE)  # type: ignore[arg-type]


class TestSizes:
    @pytest.mark.parametrize("value", [2**31, 2**63])
    def test_sizes_the_codec_cannot_handle(self, value: int) -> None:
        """On main c626058, 2**63 was accepted and every gzip read then raised OverflowError."""
        _refused(LargePayloadStorageOptions, "max_stored_payload_bytes", value)

    def test_a_read_limit_below_the_write_limit(self) -> None:
        _refused(LargePayloadStorageOptions, "max_read_payload_bytes", 1000, max_stored_payload_bytes=2**20)


class TestS3Encryption:
    def test_modes(self) -> None:
        for mode in ("AES256", "aws:kms", "aws:kms:dsse"):
            assert S3PayloadStoreOptions(server_side_encryption=mode, **S3).encryption_config() == {  # type: ignore[arg-type]
                "server_side_encryption": mode
            }
        _refused(S3PayloadStoreOptions, "server_side_encryption", "rot13", **S3)

    def test_a_kms_key_implies_sse_kms(self) -> None:
        options = S3PayloadStoreOptions(sse_kms_key_id="alias/payloads", **S3)  # type: ignore[arg-type]
        assert options.encryption_config() == {
            "server_side_encryption": "aws:kms",
            "sse_kms_key_id": "alias/payloads",
        }
        _refused(S3PayloadStoreOptions, "sse_kms_key_id", "alias/x", server_side_encryption="AES256", **S3)

    @pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode(), ""])
    def test_a_customer_key_must_be_256_bits_and_is_never_quoted(self, value: str) -> None:
        text = _refused(S3PayloadStoreOptions, "sse_customer_key", value, **S3)
        if value:
            assert value not in text

    def test_a_customer_key_excludes_the_other_modes(self) -> None:
        text = _refused(
            S3PayloadStoreOptions, "sse_customer_key", KEY, server_side_encryption="aws:kms", **S3
        )
        assert KEY not in text

    def test_repr_hides_the_customer_key(self) -> None:
        options = S3PayloadStoreOptions(sse_customer_key=KEY, **S3)  # type: ignore[arg-type]
        assert KEY not in repr(options)
        assert options.encryption_config() == {
            "server_side_encryption": "sse-c",
            "sse_customer_key_base64": KEY,
        }


class TestAzureEncryption:
    @pytest.mark.parametrize("value", ["ab", "Scope", "-scope", "sco--pe", "a" * 64, ""])
    def test_scope_names(self, value: str) -> None:
        _refused(BlobPayloadStoreOptions, "encryption_scope", value, **AZURE)

    def test_a_good_scope(self) -> None:
        assert BlobPayloadStoreOptions(encryption_scope="payload-scope-1", **AZURE).encryption_scope  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
    def test_a_customer_key_must_be_256_bits(self, value: str) -> None:
        text = _refused(BlobPayloadStoreOptions, "customer_provided_key", value, **AZURE)
        assert value not in text

    def test_a_customer_key_needs_https_and_no_scope(self) -> None:
        _refused(
            BlobPayloadStoreOptions,
            "customer_provided_key",
            KEY,
            account_url="http://127.0.0.1:10000/devstoreaccount1",
        )
        text = _refused(
            BlobPayloadStoreOptions, "customer_provided_key", KEY, encryption_scope="scope", **AZURE
        )
        assert KEY not in text

    def test_repr_hides_the_customer_key(self) -> None:
        assert KEY not in repr(BlobPayloadStoreOptions(customer_provided_key=KEY, **AZURE))  # type: ignore[arg-type]
