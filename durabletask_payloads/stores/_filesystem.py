"""A payload store in a local directory: the embedded default."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from .._codec import MAX_RECORD_HEADER, parse_record_header, record_header, record_info
from .._deprecation import warn_renamed
from .._driver import DriverCapabilities, ObjectInfo, ObjectMeta, PutItem, StorageDriver, StoredObject
from .._exceptions import (
    PayloadError,
    PayloadIntegrityError,
    PayloadStoreRefusedError,
    store_failure,
)
from .._options import LargePayloadStorageOptions
from .._pipeline import DriverPayloadStore
from .._token import is_content_name, parse_simple_token
from ._filesystem_options import FileSystemPayloadStoreOptions, filesystem_options

__all__ = ["FileSystemPayloadStore", "FileSystemPayloadStoreOptions"]

_SCHEME = "file"

# Inside the root nothing is followed: shard directories and payload files are opened relative to
# their parent's descriptor with O_NOFOLLOW, so a symbolic link planted there cannot send a write,
# or a read, elsewhere. The root itself is the caller's choice and may be a link.
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# A FIFO planted at a payload's name would block open(); non-blocking, it opens and is refused.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_LINK_ERRNOS = frozenset((errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", errno.ELOOP)))


# Failures of the file system that pass: a full disk, an overloaded or briefly
# unreachable network share. Anything else (permissions, a read-only mount, a
# path that is not a directory, a symlink loop) stays until someone fixes it.
_TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EIO", "ETIMEDOUT", "ESTALE", "EAGAIN", "EBUSY", "EINTR", "ENOLCK", "EDQUOT")
    if hasattr(errno, name)
)


def _failure(exc: OSError, operation: str, target: str) -> PayloadError:
    """Classify a file-system error: transient (retried) or permanent (raised at once)."""
    # strerror, not str(exc): the latter repeats the path, and the target names it already.
    detail = f"{type(exc).__name__} {errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"
    return store_failure(operation, target, detail, transient=exc.errno in _TRANSIENT_ERRNOS)


class _FileDriver(StorageDriver):
    """Records (a JSON header line, then the body) at ``root/<first two hex>/<name>``, no link followed."""

    scheme = _SCHEME
    capabilities = DriverCapabilities(confirm=True)

    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync

    def describe(self) -> str:
        return f"the directory {self.root}"

    def missing(self, name: str) -> str:
        return f"no file {self.path(name)}"

    def path(self, name: str) -> Path:
        return self.root / name[:2] / name

    @contextlib.contextmanager
    def _shard(self, name: str, operation: str, *, create: bool = False) -> Iterator[int | None]:
        """Open the shard directory of *name* (no link followed) and yield its descriptor.

        Yields None when it does not exist (and *create* is False).

        Raises:
            PayloadStoreRefusedError: It is a symbolic link or not a directory.

        """
        shard = name[:2]
        try:
            if create:
                self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            root = os.open(self.root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        except FileNotFoundError:
            yield None
            return
        except OSError as exc:
            raise _failure(exc, operation, str(self.root)) from exc
        fd: int | None = None
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(shard, 0o700, dir_fd=root)
            try:
                fd = os.open(shard, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=root)
            except FileNotFoundError:
                fd = None
            except OSError as exc:
                if exc.errno in _LINK_ERRNOS:
                    raise _link_refused(operation, self.root / shard) from exc
                raise _failure(exc, operation, str(self.root / shard)) from exc
        finally:
            os.close(root)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    # -- writing ------------------------------------------------------------------------

    def put_one(self, item: PutItem) -> bool:
        return self._write(item, only_if_free=True)

    def confirm_one(self, name: str) -> bool:
        # One stat, no link followed: only a regular file counts (anything else is for the
        # verified write to replace); a failed check is a "no" as well.
        try:
            with self._shard(name, "upload") as shard:
                if shard is None:
                    return False
                found = os.stat(name, dir_fd=shard, follow_symlinks=False)
        except (OSError, PayloadError):
            return False
        return stat.S_ISREG(found.st_mode)

    def replace_one(self, item: PutItem, tag: object) -> bool:
        # A rename replaces whatever is at the name (a link itself, never its target): no tag to check.
        return self._write(item, only_if_free=False)

    def _write(self, item: PutItem, *, only_if_free: bool) -> bool:
        name = item.name
        try:
            with self._shard(name, "upload", create=True) as shard:
                assert shard is not None  # created above
                if only_if_free:
                    try:
                        os.stat(name, dir_fd=shard, follow_symlinks=False)
                    except FileNotFoundError:
                        pass
                    else:
                        return False
                # Each file is a record (see _codec): one line of JSON metadata, then the body.
                self._write_atomic(shard, name, record_header(item.payload, item.instance_id), item.body)
        except OSError as exc:
            raise _failure(exc, "upload", str(self.path(name))) from exc
        return True

    def _write_atomic(self, shard: int, name: str, header: bytes, body: bytes) -> None:
        temporary = f".{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        fd = os.open(temporary, flags, 0o600, dir_fd=shard)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header)
                handle.write(body)
                if self.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            # Same content under the same name: whoever renames last wins, harmlessly. A rename
            # replaces a link at the name itself, never what it points to.
            os.replace(temporary, name, src_dir_fd=shard, dst_dir_fd=shard)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=shard)
            raise

    # -- reading ------------------------------------------------------------------------

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        return self._read(name, max_bytes, "download")

    def head_one(self, name: str) -> ObjectInfo | None:
        found = self._read(name, None, "inspect")
        return None if found is None else ObjectInfo(name, found.meta, found.stored_size)

    def _read(self, name: str, max_bytes: int | None, operation: str) -> StoredObject | None:
        """Read the record *name*: its header, and its body unless *max_bytes* is None.

        The file is opened without following a link, and its body is not read
        when the file is above *max_bytes* plus the longest header; at most that
        much is ever read.
        """
        token = self.token_for(name)
        path = self.path(name)
        with self._shard(name, operation) as shard:
            if shard is None:
                return None
            try:
                fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=shard)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno in _LINK_ERRNOS:
                    # Not the file that was written: a write replaces it, a read refuses it.
                    raise PayloadIntegrityError(
                        token, f"{path} is a symbolic link, which this store never follows"
                    ) from exc
                raise _failure(exc, operation, token) from exc
            try:
                with os.fdopen(fd, "rb") as handle:
                    found = os.fstat(handle.fileno())
                    if not stat.S_ISREG(found.st_mode):
                        raise PayloadIntegrityError(token, f"{path} is not a regular file")
                    if max_bytes is not None and found.st_size > MAX_RECORD_HEADER + max_bytes:
                        return StoredObject(name, ObjectMeta(), found.st_size, None)
                    first = handle.readline(MAX_RECORD_HEADER)
                    header = parse_record_header(first, token=token, where=str(path))
                    # Bounded even if the file grows after the check: one byte more tells it did.
                    body = handle.read(max_bytes + 1) if max_bytes is not None else None
                    stored_size = found.st_size - len(first)
            except OSError as exc:
                raise _failure(exc, operation, token) from exc
        info = record_info(token, header, stored_size)
        meta = ObjectMeta(info.content_encoding, info.sha256, info.size, info.instance_id, info.created)
        return StoredObject(name, meta, stored_size, body if body is not None else b"")

    # -- lifecycle ----------------------------------------------------------------------

    def delete_one(self, name: str) -> bool:
        try:
            with self._shard(name, "delete") as shard:
                if shard is None:
                    return False
                os.unlink(name, dir_fd=shard)  # a link is removed itself, never its target
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _failure(exc, "delete", self.token_for(name)) from exc
        return True

    def list_objects(self) -> Iterator[ObjectInfo]:
        """Yield every record under the root (skipping links and files this store did not write)."""
        for shard in _entries(self.root):
            if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                continue
            for entry in _entries(Path(shard.path)):
                if not entry.is_file(follow_symlinks=False):
                    continue
                if not is_content_name(entry.name) or entry.name[:2] != shard.name:
                    continue
                try:
                    info = self.head_one(entry.name)
                except (PayloadIntegrityError, PayloadStoreRefusedError):
                    continue  # not a record of this store
                if info is not None:  # else deleted since the listing
                    yield info


class FileSystemPayloadStore(DriverPayloadStore):
    """Keeps payloads as files under a directory.

    Tokens look like ``file:v1:<32 hex>``. The name is all a token carries and
    must be exactly 32 lowercase hex characters, so no token can address a file
    outside *root*. Files live at ``root/<first two hex>/<name>``, each with a
    one-line JSON header (encoding, SHA-256, size, instance, creation time)
    before the body. Symbolic links inside the root are never followed: a
    shard directory or a payload file that is a link is refused (reads) or
    replaced by a real file (writes of a payload file), so nothing is read or
    written outside the root.

    Writes are atomic (a temporary file in the same directory, then a rename),
    so readers never see half a payload, and content-addressed, so concurrent
    writers of the same payload, threads or processes, end with one identical
    file. A file already at the payload's name counts as stored only once it is
    verified to be this payload; anything else there is replaced. Directories
    and files are created readable by the owner only.

    Reads refuse a file above the read limit (``max_read_payload_bytes``) before
    reading it, and verify the content against its name and recorded SHA-256.
    All of that but the files themselves is the shared pipeline
    (:class:`~durabletask_payloads.DriverPayloadStore`).

    Args:
        root: Directory to keep payloads in; created if missing.
        options: Size, compression and ``fsync`` settings
            (:class:`FileSystemPayloadStoreOptions`; plain
            :class:`~durabletask_payloads.LargePayloadStorageOptions` work too,
            with ``fsync`` on); the defaults when omitted.
        fsync: Deprecated: give ``FileSystemPayloadStoreOptions(fsync=...)``.
            Still honoured (and folded into :attr:`options`), with a
            :class:`DeprecationWarning`.

    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        options: LargePayloadStorageOptions | None = None,
        *,
        fsync: bool | None = None,
    ) -> None:
        if fsync is not None:
            warn_renamed("FileSystemPayloadStore(fsync=...)", "FileSystemPayloadStoreOptions(fsync=...)")
        resolved = filesystem_options(options, fsync)
        # Options of another class (durabletask's own, say) have no fsync: flushing is the safe default.
        self._files = _FileDriver(Path(root).absolute(), bool(getattr(resolved, "fsync", True)))
        super().__init__(self._files, resolved)
        self._files.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def root(self) -> Path:
        """The directory holding the payloads."""
        return self._files.root

    @property
    def _fsync(self) -> bool:
        return self._files.fsync

    def path_for(self, token: str) -> Path:
        """Return the file that holds *token*'s payload (whether or not it exists).

        Raises:
            InvalidPayloadTokenError: *token* is not a ``file:v1:`` token.

        """
        return self._files.path(parse_simple_token(_SCHEME, token))


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _link_refused(operation: str, path: Path) -> PayloadError:
    return store_failure(
        operation,
        str(path),
        "it is a symbolic link (or not a directory) inside the store's root, and this store follows "
        "no links there; remove it",
        transient=False,
    )
