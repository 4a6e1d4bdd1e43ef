"""One options vocabulary: same names for same ideas, old names kept with a warning, TypeError for types."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import pytest
from durabletask.payload import LargePayloadStorageOptions as UpstreamOptions

from durabletask_payloads import (
    BlobPayloadStoreOptions,
    FileSystemPayloadStore,
    FileSystemPayloadStoreOptions,
    LargePayloadStorageOptions,
    RedisPayloadStoreOptions,
    RemoteStoreOptions,
    S3PayloadStoreOptions,
)

AZURE: dict[str, Any] = {"account_url": "https://acct.blob.core.windows.net"}
S3: dict[str, Any] = {"bucket": "payloads"}
REMOTE = [(BlobPayloadStoreOptions, AZURE), (S3PayloadStoreOptions, S3), (RedisPayloadStoreOptions, {})]
SECRET = "hunter2-not-to-be-shown"


def _fields(options_type: type[Any]) -> set[str]:
    return {item.name for item in dataclasses.fields(options_type)}


class TestOneVocabulary:
    @pytest.mark.parametrize(("options_type", "base"), REMOTE)
    def test_every_remote_store_has_connect_and_read_timeouts(
        self, options_type: type[Any], base: dict[str, Any]
    ) -> None:
        """The same two names, the same meaning: time to connect, time between bytes of an answer."""
        assert {"connect_timeout_seconds", "read_timeout_seconds"} <= _fields(options_type)
        options = options_type(**base, connect_timeout_seconds=3, read_timeout_seconds=4)
        assert (options.connect_timeout_seconds, options.read_timeout_seconds) == (3, 4)

    @pytest.mark.parametrize(("options_type", "base"), REMOTE)
    def test_no_remote_store_keeps_an_old_name_as_a_field(
        self, options_type: type[Any], base: dict[str, Any]
    ) -> None:
        assert not {"connection_timeout_seconds", "timeout_seconds"} & _fields(options_type)
        assert "timeout_seconds" not in repr(options_type(**base)).replace("_timeout_seconds", "")

    def test_s3_alone_has_a_whole_attempt_timeout(self) -> None:
        """obstore's ``timeout`` bounds a whole attempt: a different idea, so a different name."""
        assert "attempt_timeout_seconds" in _fields(S3PayloadStoreOptions)
        assert "attempt_timeout_seconds" not in _fields(BlobPayloadStoreOptions) | _fields(
            RedisPayloadStoreOptions
        )
        assert S3PayloadStoreOptions(**S3, attempt_timeout_seconds=7).attempt_timeout_seconds == 7

    @pytest.mark.parametrize(("options_type", "base"), REMOTE)
    @pytest.mark.parametrize("field", ["connect_timeout_seconds", "read_timeout_seconds"])
    def test_timeouts_are_bounded_alike(
        self, options_type: type[Any], base: dict[str, Any], field: str
    ) -> None:
        options_type(**base, **{field: 86_400})
        with pytest.raises(ValueError, match=rf"{field} must be at most 86,400 s \(one day\)"):
            options_type(**base, **{field: 86_401})


RENAMES = [
    (BlobPayloadStoreOptions, AZURE, "connection_timeout_seconds", "connect_timeout_seconds"),
    (S3PayloadStoreOptions, S3, "timeout_seconds", "attempt_timeout_seconds"),
    (RedisPayloadStoreOptions, {}, "timeout_seconds", "read_timeout_seconds"),
]


@pytest.mark.parametrize(("options_type", "base", "old", "new"), RENAMES)
class TestOldNames:
    def test_the_old_keyword_works_and_warns(
        self, options_type: type[Any], base: dict[str, Any], old: str, new: str
    ) -> None:
        with pytest.warns(DeprecationWarning, match=rf"{old}=\.\.\.\) is deprecated .* use {new}="):
            options = options_type(**base, **{old: 12.5})
        assert getattr(options, new) == 12.5
        assert options == options_type(**base, **{new: 12.5})

    def test_the_old_keyword_is_still_checked(
        self, options_type: type[Any], base: dict[str, Any], old: str, new: str
    ) -> None:
        with pytest.warns(DeprecationWarning, match=old), pytest.raises(ValueError, match=new):
            options_type(**base, **{old: math.inf})

    def test_the_old_attribute_reads_the_new_field_and_warns(
        self, options_type: type[Any], base: dict[str, Any], old: str, new: str
    ) -> None:
        options = options_type(**base, **{new: 9})
        with pytest.warns(DeprecationWarning, match=rf"{options_type.__name__}\.{old} is deprecated"):
            assert getattr(options, old) == 9

    def test_both_names_with_different_values_is_a_type_error(
        self, options_type: type[Any], base: dict[str, Any], old: str, new: str
    ) -> None:
        with (
            pytest.warns(DeprecationWarning, match=old),
            pytest.raises(TypeError, match=f"give {new} or .* {old}, not both"),
        ):
            options_type(**base, **{old: 1, new: 2})

    def test_replace_with_the_new_name_keeps_working(
        self, options_type: type[Any], base: dict[str, Any], old: str, new: str
    ) -> None:
        options = options_type(**base)
        changed = dataclasses.replace(options, **{new: 33})
        assert getattr(changed, new) == 33
        assert type(changed) is options_type

    def test_the_new_name_alone_does_not_warn(
        self, options_type: type[Any], base: dict[str, Any], old: str, new: str
    ) -> None:
        """filterwarnings = error: any warning here would fail the test."""
        options = options_type(**base, **{new: 5})
        assert getattr(options, new) == 5
        repr(options)


# (options class, its required fields, the field, a value of the wrong type, whether the field is a secret)
WRONG_TYPES: list[tuple[type[Any], dict[str, Any], str, object, bool]] = [
    (LargePayloadStorageOptions, {}, "threshold_bytes", 1024.0, False),
    (LargePayloadStorageOptions, {}, "max_stored_payload_bytes", True, False),
    (LargePayloadStorageOptions, {}, "max_read_payload_bytes", "big", False),
    (LargePayloadStorageOptions, {}, "max_concurrency", None, False),
    (LargePayloadStorageOptions, {}, "cache_max_bytes", 1.5, False),
    (LargePayloadStorageOptions, {}, "enable_compression", 1, False),
    (LargePayloadStorageOptions, {}, "outage_budget_seconds", "300", False),
    (RemoteStoreOptions, {}, "retry_total", 2.0, False),
    (RemoteStoreOptions, {}, "retry_total", False, False),
    (RemoteStoreOptions, {}, "retry_backoff_seconds", True, False),
    (RemoteStoreOptions, {}, "request_timeout_seconds", "60", False),
    (FileSystemPayloadStoreOptions, {}, "fsync", "no", False),
    (BlobPayloadStoreOptions, AZURE, "container_name", 42, False),
    (BlobPayloadStoreOptions, {}, "connection_string", SECRET.encode(), True),
    (BlobPayloadStoreOptions, {}, "account_url", [SECRET], True),
    (BlobPayloadStoreOptions, AZURE, "api_version", 2021, False),
    (BlobPayloadStoreOptions, AZURE, "token_version", 2, False),
    (BlobPayloadStoreOptions, AZURE, "allowed_containers", "one-container", False),
    (BlobPayloadStoreOptions, AZURE, "allowed_accounts", 3, False),
    (BlobPayloadStoreOptions, AZURE, "connect_timeout_seconds", "10", False),
    (BlobPayloadStoreOptions, AZURE, "read_timeout_seconds", None, False),
    (BlobPayloadStoreOptions, AZURE, "encryption_scope", b"scope", False),
    (BlobPayloadStoreOptions, AZURE, "customer_provided_key", SECRET.encode(), True),
    (S3PayloadStoreOptions, {}, "bucket", None, False),
    (S3PayloadStoreOptions, S3, "key_prefix", 5, False),
    (S3PayloadStoreOptions, S3, "region", 1, False),
    (S3PayloadStoreOptions, S3, "endpoint_url", b"http://x", False),
    (S3PayloadStoreOptions, {**S3, "secret_access_key": "s"}, "access_key_id", 1, True),
    (S3PayloadStoreOptions, {**S3, "access_key_id": "a"}, "secret_access_key", SECRET.encode(), True),
    (S3PayloadStoreOptions, S3, "profile", 0, False),
    (S3PayloadStoreOptions, S3, "credential_provider", SECRET, True),
    (S3PayloadStoreOptions, S3, "allowed_buckets", "one-bucket", False),
    (S3PayloadStoreOptions, S3, "connect_timeout_seconds", True, False),
    (S3PayloadStoreOptions, S3, "read_timeout_seconds", "60", False),
    (S3PayloadStoreOptions, S3, "attempt_timeout_seconds", None, False),
    (S3PayloadStoreOptions, S3, "server_side_encryption", 256, False),
    (S3PayloadStoreOptions, S3, "sse_kms_key_id", 1, False),
    (S3PayloadStoreOptions, S3, "sse_customer_key", SECRET.encode(), True),
    (RedisPayloadStoreOptions, {}, "url", SECRET.encode(), True),
    (RedisPayloadStoreOptions, {}, "host", 127001, False),
    (RedisPayloadStoreOptions, {}, "port", "6379", False),
    (RedisPayloadStoreOptions, {}, "db", True, False),
    (RedisPayloadStoreOptions, {"host": "h"}, "password", SECRET.encode(), True),
    (RedisPayloadStoreOptions, {}, "username", 1, False),
    (RedisPayloadStoreOptions, {}, "ssl", "yes", False),
    (RedisPayloadStoreOptions, {}, "key_prefix", None, False),
    (RedisPayloadStoreOptions, {}, "ttl_seconds", "60", False),
    (RedisPayloadStoreOptions, {}, "connect_timeout_seconds", [5], False),
    (RedisPayloadStoreOptions, {}, "read_timeout_seconds", False, False),
]


class TestWrongTypes:
    @pytest.mark.parametrize(
        ("options_type", "base", "field", "value", "secret"),
        WRONG_TYPES,
        ids=[f"{case[0].__name__}.{case[2]}={type(case[3]).__name__}" for case in WRONG_TYPES],
    )
    def test_a_wrong_type_is_a_type_error_naming_field_and_types(
        self, options_type: type[Any], base: dict[str, Any], field: str, value: object, secret: bool
    ) -> None:
        with pytest.raises(TypeError) as info:
            options_type(**{**base, field: value})
        message = str(info.value)
        assert field in message
        assert f"got {type(value).__name__}" in message
        assert " must be " in message  # the expected type
        if secret:
            assert SECRET not in message
            assert repr(value) not in message

    @pytest.mark.parametrize(
        ("options_type", "base", "field", "value"),
        [
            (LargePayloadStorageOptions, {}, "threshold_bytes", 0),
            (RemoteStoreOptions, {}, "retry_total", 21),
            (BlobPayloadStoreOptions, AZURE, "token_version", "v3"),
            (BlobPayloadStoreOptions, AZURE, "container_name", "UPPER"),
            (S3PayloadStoreOptions, S3, "server_side_encryption", "rot13"),
            (S3PayloadStoreOptions, S3, "read_timeout_seconds", -1),
            (RedisPayloadStoreOptions, {}, "port", 70_000),
        ],
    )
    def test_a_wrong_value_of_the_right_type_stays_a_value_error(
        self, options_type: type[Any], base: dict[str, Any], field: str, value: object
    ) -> None:
        with pytest.raises(ValueError, match=field):
            options_type(**{**base, field: value})

    def test_an_item_of_the_wrong_type_names_the_item_type(self) -> None:
        with pytest.raises(
            TypeError, match=r"allowed_containers must be a container name \(a string\), got int"
        ):
            BlobPayloadStoreOptions(**AZURE, allowed_containers=("ok-container", 7))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"allowed_buckets must be a bucket name .*, got NoneType"):
            S3PayloadStoreOptions(**S3, allowed_buckets=("ok-bucket", None))  # type: ignore[arg-type]

    def test_an_int_is_fine_where_a_float_is_expected(self) -> None:
        assert RedisPayloadStoreOptions(read_timeout_seconds=3).read_timeout_seconds == 3


class TestFileSystemOptions:
    def test_fsync_is_an_option_and_on_by_default(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        assert isinstance(store.options, FileSystemPayloadStoreOptions)
        assert store.options.fsync is True
        assert isinstance(store.options, LargePayloadStorageOptions)

    def test_the_options_decide_whether_files_are_flushed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        flushed: list[int] = []
        real = os.fsync
        monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(fd) or real(fd))
        FileSystemPayloadStore(tmp_path / "on").upload(b"a" * 100)
        on = len(flushed)
        FileSystemPayloadStore(tmp_path / "off", FileSystemPayloadStoreOptions(fsync=False)).upload(
            b"a" * 100
        )
        assert on >= 1
        assert len(flushed) == on

    def test_the_old_keyword_works_warns_and_shows_in_the_options(self, tmp_path: Path) -> None:
        given = FileSystemPayloadStoreOptions(threshold_bytes=10)
        with pytest.warns(DeprecationWarning, match=r"FileSystemPayloadStoreOptions\(fsync=\.\.\.\)"):
            store = FileSystemPayloadStore(tmp_path, given, fsync=False)
        assert store.options == FileSystemPayloadStoreOptions(threshold_bytes=10, fsync=False)

    def test_the_old_keyword_with_base_options_keeps_their_settings(self, tmp_path: Path) -> None:
        given = LargePayloadStorageOptions(threshold_bytes=10, enable_compression=False, cache_max_bytes=0)
        with pytest.warns(DeprecationWarning, match="fsync"):
            store = FileSystemPayloadStore(tmp_path, given, fsync=False)
        options = store.options
        assert isinstance(options, FileSystemPayloadStoreOptions)
        assert (options.threshold_bytes, options.enable_compression, options.cache_max_bytes) == (
            10,
            False,
            0,
        )
        assert options.fsync is False

    def test_durabletask_options_are_still_accepted(self, tmp_path: Path) -> None:
        upstream = UpstreamOptions(threshold_bytes=10)
        store = FileSystemPayloadStore(tmp_path, upstream)  # type: ignore[arg-type]
        assert store.options is upstream
        assert store.download(store.upload(b"x" * 20)) == b"x" * 20

    def test_replace_keeps_the_class(self) -> None:
        changed = dataclasses.replace(FileSystemPayloadStoreOptions(), fsync=False, threshold_bytes=5)
        assert type(changed) is FileSystemPayloadStoreOptions
        assert (changed.fsync, changed.threshold_bytes) == (False, 5)
