"""FileSystemPayloadStore: confinement to its root, atomic and concurrent writes, integrity."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from durabletask_payloads import (
    FileSystemPayloadStore,
    FileSystemPayloadStoreOptions,
    InvalidPayloadTokenError,
    LargePayloadStorageOptions,
    PayloadIntegrityError,
    PayloadNotFoundError,
)

from ..helpers import orders


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class TestConfinement:
    @pytest.mark.parametrize(
        "token",
        [
            "file:v1:../../../../etc/passwd",
            "file:v1:/etc/passwd",
            "file:v1:..",
            "file:v1:aa/../../bb",
            "file:v1:aa\\bb",
            "file:v1:" + "0" * 31 + "/",
            "file:v1:" + "0" * 4096,
            "file:v1:~root",
        ],
    )
    def test_tokens_that_could_leave_the_root_are_refused_before_any_io(
        self, tmp_path: Path, token: str
    ) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        outside = tmp_path / "secret"
        outside.write_text("do not read")
        with pytest.raises(InvalidPayloadTokenError):
            store.download(token)
        with pytest.raises(InvalidPayloadTokenError):
            store.delete(token)
        assert outside.read_text() == "do not read"

    def test_files_live_under_the_root(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        token = store.upload(b"data")
        path = store.path_for(token)
        assert path.is_relative_to(store.root)
        assert path.exists()


class TestFormat:
    def test_body_after_the_header_is_standard_gzip(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        data = json.dumps(orders(50)).encode()
        raw = store.path_for(store.upload(data, instance_id="i")).read_bytes()
        header, _, body = raw.partition(b"\n")
        meta = json.loads(header.split(b" ", 1)[1])
        assert meta["content_encoding"] == "gzip"
        assert meta["instance_id"] == "i"
        assert gzip.decompress(body) == data

    def test_reads_follow_the_stored_encoding_not_the_setting(self, tmp_path: Path) -> None:
        writer = FileSystemPayloadStore(tmp_path, LargePayloadStorageOptions(enable_compression=True))
        reader = FileSystemPayloadStore(tmp_path, LargePayloadStorageOptions(enable_compression=False))
        token = writer.upload(b"abc" * 1000)
        assert reader.download(token) == b"abc" * 1000

    def test_owner_only_permissions(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        path = store.path_for(store.upload(b"secret business data"))
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0


class TestIntegrity:
    def test_changed_body_bytes_are_detected(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path, LargePayloadStorageOptions(enable_compression=False))
        token = store.upload(b"the original payload")
        path = store.path_for(token)
        path.write_bytes(path.read_bytes().replace(b"original", b"modified"))
        with pytest.raises(PayloadIntegrityError, match="SHA-256"):
            store.download(token)

    def test_a_file_without_header_is_refused(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        token = store.upload(b"x")
        store.path_for(token).write_bytes(b"junk")
        with pytest.raises(PayloadIntegrityError, match="payload header"):
            store.download(token)

    def test_missing_file_is_not_found(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        token = store.upload(b"x")
        store.path_for(token).unlink()
        with pytest.raises(PayloadNotFoundError, match="no file"):
            store.download(token)


class TestAtomicity:
    def test_no_temporary_files_are_left(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        for i in range(20):
            store.upload(f"payload {i}".encode() * 100)
        assert all(not p.name.startswith(".") for p in _files(tmp_path))
        assert len(_files(tmp_path)) == 20

    def test_a_failed_write_leaves_no_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        store = FileSystemPayloadStore(tmp_path)

        def broken_replace(src: str, dst: str, **dir_fds: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        from durabletask_payloads import PayloadStoreUnavailableError

        with pytest.raises(PayloadStoreUnavailableError, match="No space left"):
            store.upload(b"x" * 1000)
        assert _files(tmp_path) == []

    def test_an_existing_payload_is_not_rewritten(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        token = store.upload(b"x" * 100)
        path = store.path_for(token)
        before = path.stat().st_mtime_ns
        os.utime(path, ns=(before - 10**9, before - 10**9))
        assert store.upload(b"x" * 100) == token
        assert path.stat().st_mtime_ns == before - 10**9


# A writer process: waits for "go" on stdin, then stores every payload and prints the tokens.
_CHILD = """
import json, sys
from durabletask_payloads import FileSystemPayloadStore
store = FileSystemPayloadStore(sys.argv[1])
payloads = [p.encode() for p in json.load(open(sys.argv[2]))]
sys.stdin.readline()
print(json.dumps([store.upload(p, instance_id="shared") for p in payloads]))
"""


class TestConcurrentWriters:
    def test_threads_writing_the_same_and_different_payloads(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path, FileSystemPayloadStoreOptions(fsync=False))
        payloads = [json.dumps(orders(20, seed)).encode() for seed in range(10)]
        barrier = threading.Barrier(8)
        results: list[list[str]] = []
        lock = threading.Lock()

        def work() -> None:
            barrier.wait()
            tokens = [store.upload(p, instance_id="shared") for p in payloads]
            with lock:
                results.append(tokens)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 8
        assert all(tokens == results[0] for tokens in results)
        assert [store.download(t) for t in results[0]] == payloads
        assert len(_files(tmp_path)) == 10

    def test_processes_writing_the_same_payloads(self, tmp_path: Path) -> None:
        root = tmp_path / "root"
        texts = [json.dumps(orders(30, seed)) for seed in range(5)]
        source = tmp_path / "payloads.json"
        source.write_text(json.dumps(texts))
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(root), str(source)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        # Every child is started before any is told to write.
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=120)[0] for child in children]
        assert [child.returncode for child in children] == [0, 0, 0, 0]
        results = [json.loads(out) for out in outputs]
        assert all(tokens == results[0] for tokens in results)
        store = FileSystemPayloadStore(root)
        assert [store.download(t) for t in results[0]] == [t.encode() for t in texts]
        assert len(_files(root)) == 5


class TestListing:
    def test_foreign_files_are_ignored(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path)
        token = store.upload(b"x")
        (tmp_path / "README").write_text("not a payload")
        (tmp_path / "zz").mkdir()
        (tmp_path / "zz" / ("z" * 32)).write_text("not hex")
        assert [info.token for info in store.list_payloads()] == [token]
