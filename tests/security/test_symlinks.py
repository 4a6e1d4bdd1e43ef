"""The filesystem store follows no symbolic link inside its root: nothing is read or written outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from durabletask_payloads import (
    FileSystemPayloadStore,
    PayloadIntegrityError,
    PayloadStoreRefusedError,
)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory an attacker controls, outside the store's root."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


def _everything(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


class TestShardDirectories:
    def test_a_write_into_a_linked_shard_is_refused(self, tmp_path: Path, outside: Path) -> None:
        """On main, writes went through a symlinked shard directory to wherever it pointed."""
        root = tmp_path / "root"
        store = FileSystemPayloadStore(root)
        token = store.upload(b"probe")
        shard = store.path_for(token).parent
        store.delete(token)
        shard.rmdir()
        shard.symlink_to(outside, target_is_directory=True)
        with pytest.raises(PayloadStoreRefusedError, match="symbolic link") as info:
            store.upload(b"probe")
        assert _everything(outside) == []  # nothing was written there
        assert str(outside) not in str(info.value)

    def test_a_read_through_a_linked_shard_is_refused(self, tmp_path: Path, outside: Path) -> None:
        root = tmp_path / "root"
        writer = FileSystemPayloadStore(outside)
        token = writer.upload(b"the attacker's payload")  # a valid record, in the attacker's directory
        store = FileSystemPayloadStore(root)
        shard = store.path_for(token).parent
        shard.symlink_to(outside / shard.name, target_is_directory=True)
        with pytest.raises(PayloadStoreRefusedError, match="symbolic link"):
            store.download(token)
        with pytest.raises(PayloadStoreRefusedError):
            store.inspect(token)

    def test_a_linked_shard_is_left_out_of_listings(self, tmp_path: Path, outside: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        kept = store.upload(b"kept")
        writer = FileSystemPayloadStore(outside)
        # A planted payload whose shard is not the kept one's, so that its shard can be a link.
        planted = next(
            token
            for token in (writer.upload(f"planted {i}".encode()) for i in range(100))
            if token.rsplit(":", 1)[1][:2] != kept.rsplit(":", 1)[1][:2]
        )
        link = store.root / planted.rsplit(":", 1)[1][:2]
        link.symlink_to(outside / link.name, target_is_directory=True)
        assert [info.token for info in store.list_payloads()] == [kept]


class TestPayloadFiles:
    def test_a_linked_payload_file_is_not_read(self, tmp_path: Path, outside: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        token = store.upload(b"the real payload", instance_id="i")
        secret = outside / "secret"
        secret.write_bytes(b"DTPAYLOAD1 {}\nnot yours")
        path = store.path_for(token)
        path.unlink()
        path.symlink_to(secret)
        with pytest.raises(PayloadIntegrityError, match="symbolic link"):
            store.download(token)

    def test_a_write_replaces_the_link_itself_never_its_target(self, tmp_path: Path, outside: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        token = store.upload(b"the real payload", instance_id="i")
        target = outside / "victim-file"
        target.write_bytes(b"must stay as it is")
        path = store.path_for(token)
        path.unlink()
        path.symlink_to(target)
        assert store.upload(b"the real payload", instance_id="i") == token
        assert not path.is_symlink()
        assert target.read_bytes() == b"must stay as it is"
        assert store.download(token) == b"the real payload"

    def test_deleting_removes_the_link_not_its_target(self, tmp_path: Path, outside: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        token = store.upload(b"x")
        target = outside / "victim-file"
        target.write_bytes(b"keep me")
        path = store.path_for(token)
        path.unlink()
        path.symlink_to(target)
        assert store.delete(token) is True
        assert not os.path.lexists(path)
        assert target.read_bytes() == b"keep me"

    def test_a_fifo_at_a_payloads_name_neither_blocks_nor_is_read(self, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "root")
        token = store.upload(b"the real payload", instance_id="i")
        path = store.path_for(token)
        path.unlink()
        os.mkfifo(path)  # opening it for reading would wait for a writer, for ever
        with pytest.raises(PayloadIntegrityError, match="not a regular file"):
            store.download(token)
        assert store.upload(b"the real payload", instance_id="i") == token
        assert store.download(token) == b"the real payload"

    def test_the_root_itself_may_be_a_link(self, tmp_path: Path, outside: Path) -> None:
        """The root is the caller's choice; only what is inside it is never followed."""
        link = tmp_path / "root-link"
        link.symlink_to(outside, target_is_directory=True)
        store = FileSystemPayloadStore(link)
        token = store.upload(b"fine")
        assert store.download(token) == b"fine"
        assert len(_everything(outside)) == 2  # the shard and the file, in the real root
