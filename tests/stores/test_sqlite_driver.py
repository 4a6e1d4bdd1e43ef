"""A custom driver gets gzip, limits and integrity from the pipeline: the SQLite driver of docs/stores.md.

The stored rows are read and changed with sqlite3 itself, behind the store's back.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from durabletask_payloads import (
    DriverPayloadStore,
    LargePayloadStorageOptions,
    PayloadIntegrityError,
    PayloadReadLimitError,
    PayloadTooLargeError,
)

from ..helpers import orders
from .docs_example import sqlite_driver

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)
DATA = json.dumps(orders(200)).encode()


def _store(path: Path, options: LargePayloadStorageOptions = OPTIONS) -> DriverPayloadStore:
    return DriverPayloadStore(sqlite_driver()(str(path)), options)


def _row(path: Path, token: str) -> tuple[bytes, str]:
    with sqlite3.connect(path) as db:
        body, encoding = db.execute(
            "SELECT body, encoding FROM objects WHERE name = ?", (token[-32:],)
        ).fetchone()
    return bytes(body), str(encoding)


def _set_body(path: Path, token: str, body: bytes) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("UPDATE objects SET body = ? WHERE name = ?", (body, token[-32:])).rowcount == 1


class TestGzip:
    def test_a_payload_above_the_threshold_is_stored_gzipped(self, tmp_path: Path) -> None:
        """The driver wrote what it was given: a gzip body, marked gzip, much smaller than the payload."""
        path = tmp_path / "p.db"
        with _store(path) as store:
            token = store.upload(DATA, instance_id="i")
            body, encoding = _row(path, token)
            assert encoding == "gzip"
            assert body[:2] == b"\x1f\x8b" and len(body) < len(DATA) // 2
            assert gzip.decompress(body) == DATA
            assert store.download(token) == DATA

    def test_without_compression_the_body_is_the_payload(self, tmp_path: Path) -> None:
        path = tmp_path / "p.db"
        options = LargePayloadStorageOptions(threshold_bytes=1024, enable_compression=False)
        with _store(path, options) as store:
            token = store.upload(DATA)
            assert _row(path, token) == (DATA, "identity")


class TestLimits:
    def test_a_payload_above_the_write_limit_is_refused_before_the_driver(self, tmp_path: Path) -> None:
        path = tmp_path / "p.db"
        options = LargePayloadStorageOptions(threshold_bytes=10, max_stored_payload_bytes=100)
        store = _store(path, options)
        with store, pytest.raises(PayloadTooLargeError, match="101 bytes exceeds the limit of 100 bytes"):
            store.upload(b"x" * 101)
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM objects").fetchone() == (0,)

    def test_an_object_above_the_read_limit_is_refused_unread(self, tmp_path: Path) -> None:
        """A reader with a smaller limit refuses the object, and the driver never loaded its body."""
        path = tmp_path / "p.db"
        raw = LargePayloadStorageOptions(threshold_bytes=10, enable_compression=False)
        with _store(path, raw) as writer:
            token = writer.upload(b"z" * 200_000)
        limited = LargePayloadStorageOptions(
            threshold_bytes=10,
            enable_compression=False,
            max_stored_payload_bytes=100_000,
            max_read_payload_bytes=100_000,
        )
        with _store(path, limited) as reader:
            with pytest.raises(PayloadReadLimitError) as info:
                reader.download(token)
            assert (info.value.token, info.value.size, info.value.limit) == (token, 200_000, 100_000)
            found = reader.driver.get_one(token[-32:], 100_000)
            assert found is not None and found.body is None and found.stored_size == 200_000


class TestIntegrity:
    def test_a_tampered_body_fails_its_sha256(self, tmp_path: Path) -> None:
        """Well-formed gzip of other content: only the recorded SHA-256 (and the name) can tell."""
        path = tmp_path / "p.db"
        with _store(path) as store:
            token = store.upload(DATA, instance_id="i")
            _set_body(path, token, gzip.compress(b'{"amount": 1000000}'))
            with pytest.raises(PayloadIntegrityError, match="SHA-256 does not match"):
                store.download(token)

    def test_a_tampered_copy_is_replaced_by_the_next_upload(self, tmp_path: Path) -> None:
        """Create-if-absent found the name taken, verified what was there, and wrote the payload over it."""
        path = tmp_path / "p.db"
        with _store(path) as store:
            token = store.upload(DATA, instance_id="i")
            _set_body(path, token, b"planted")
        with _store(path) as fresh:  # a cold cache: nothing is known present
            assert fresh.upload(DATA, instance_id="i") == token
            assert fresh.download(token) == DATA
            assert gzip.decompress(_row(path, token)[0]) == DATA
