"""A payload store in a local directory: the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._codec import (
    MAX_RECORD_HEADER,
    REPLACED,
    Existing,
    decode_record,
    encode_payload,
    max_stored_body,
    max_stored_record,
    parse_record_header,
    record_header,
    record_info,
    store_verified,
)
from .._deprecation import warn_renamed
from .._exceptions import (
    PayloadError,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadReadLimitError,
    PayloadStoreRefusedError,
    store_failure,
)
from .._options import LargePayloadStorageOptions, read_limit
from .._store import PayloadInfo, PayloadStore
from .._token import format_simple_token, is_content_name, parse_simple_token
from ._filesystem_options import FileSystemPayloadStoreOptions, filesystem_options

__all__ = ["FileSystemPayloadStore", "FileSystemPayloadStoreOptions"]

_SCHEME = "file"
_log = logging.getLogger("durabletask_payloads.stores.filesystem")

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


class FileSystemPayloadStore(PayloadStore):
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
        self._root = Path(root).absolute()
        self._options = filesystem_options(options, fsync)
        # Options of another class (durabletask's own, say) have no fsync: flushing is the safe default.
        self._fsync = bool(getattr(self._options, "fsync", True))
        self._root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def root(self) -> Path:
        """The directory holding the payloads."""
        return self._root

    @property
    def options(self) -> LargePayloadStorageOptions:
        """The settings of this store (:class:`FileSystemPayloadStoreOptions` unless given another class)."""
        return self._options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("file:v1:",)``."""
        return (f"{_SCHEME}:v1:",)

    def _path(self, name: str) -> Path:
        return self._root / name[:2] / name

    def path_for(self, token: str) -> Path:
        """Return the file that holds *token*'s payload (whether or not it exists).

        Raises:
            InvalidPayloadTokenError: *token* is not a ``file:v1:`` token.

        """
        return self._path(parse_simple_token(_SCHEME, token))

    @contextlib.contextmanager
    def _shard(self, name: str, operation: str, *, create: bool = False) -> Iterator[int]:
        """Open the shard directory of *name* (no link followed) and yield its descriptor.

        Raises:
            PayloadNotFoundError: It does not exist (and *create* is False).
            PayloadStoreRefusedError: It is a symbolic link or not a directory.

        """
        shard = name[:2]
        token = format_simple_token(_SCHEME, name)
        try:
            if create:
                self._root.mkdir(parents=True, exist_ok=True, mode=0o700)
            root = os.open(self._root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        except FileNotFoundError:
            raise PayloadNotFoundError(token, f"no directory {self._root}") from None
        except OSError as exc:
            raise _failure(exc, operation, str(self._root)) from exc
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(shard, 0o700, dir_fd=root)
            try:
                fd = os.open(shard, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=root)
            except FileNotFoundError:
                raise PayloadNotFoundError(token, f"no file {self._path(name)}") from None
            except OSError as exc:
                if exc.errno in _LINK_ERRNOS:
                    raise _link_refused(operation, self._root / shard) from exc
                raise _failure(exc, operation, str(self._root / shard)) from exc
        finally:
            os.close(root)
        try:
            yield fd
        finally:
            os.close(fd)

    # -- writing ------------------------------------------------------------------------

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* as a file; an identical payload of the same instance is not written again."""
        encoded = encode_payload(data, self._options, instance_id)
        name = encoded.name
        token = format_simple_token(_SCHEME, name)
        path = self._path(name)
        try:
            with self._shard(name, "upload", create=True) as shard:

                def read() -> Existing | None:
                    try:
                        os.stat(name, dir_fd=shard, follow_symlinks=False)
                    except FileNotFoundError:
                        return None
                    return Existing(None, functools.partial(self._download_in, shard, token, name))

                def replace(tag: object) -> bool:
                    # Each file is a record (see _codec): one line of JSON metadata, then the body.
                    self._write_atomic(shard, name, record_header(encoded, instance_id), encoded.body)
                    return True

                def create() -> bool:
                    return read() is None and replace(None)

                if store_verified(encoded, token, create=create, read=read, replace=replace) == REPLACED:
                    _log.warning("File %s did not hold the payload its name certifies; replaced it", path)
        except OSError as exc:
            raise _failure(exc, "upload", str(path)) from exc
        return token

    def _write_atomic(self, shard: int, name: str, header: bytes, body: bytes) -> None:
        temporary = f".{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        fd = os.open(temporary, flags, 0o600, dir_fd=shard)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header)
                handle.write(body)
                if self._fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            # Same content under the same name: whoever renames last wins, harmlessly. A rename
            # replaces a link at the name itself, never what it points to.
            os.replace(temporary, name, src_dir_fd=shard, dst_dir_fd=shard)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=shard)
            raise

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload` (file I/O runs in a worker thread)."""
        return await asyncio.to_thread(self.upload, data, instance_id=instance_id)

    # -- reading ------------------------------------------------------------------------

    def _read_in(
        self, shard: int, token: str, name: str, *, body: bool = True
    ) -> tuple[dict[str, Any], bytes, int]:
        """Return the header, the body (empty unless asked for) and the body's size.

        The file is opened without following a link, and refused above the read
        limit before its body is read; at most that much is ever read.
        """
        path = self._path(name)
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=shard)
        except FileNotFoundError:
            raise PayloadNotFoundError(token, f"no file {path}") from None
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                # Not the file that was written: a write replaces it, a read refuses it.
                raise PayloadIntegrityError(
                    token, f"{path} is a symbolic link, which this store never follows"
                ) from exc
            raise _failure(exc, "download", token) from exc
        try:
            with os.fdopen(fd, "rb") as handle:
                found = os.fstat(handle.fileno())
                if not stat.S_ISREG(found.st_mode):
                    raise PayloadIntegrityError(token, f"{path} is not a regular file")
                if body and found.st_size > max_stored_record(self._options):
                    raise PayloadReadLimitError(token, found.st_size, read_limit(self._options))
                first = handle.readline(MAX_RECORD_HEADER)
                header = parse_record_header(first, token=token, where=str(path))
                # Bounded even if the file grows after the check: one byte more tells it did.
                content = handle.read(max_stored_body(self._options) + 1) if body else b""
                stored_size = found.st_size - len(first)
        except OSError as exc:
            raise _failure(exc, "download", token) from exc
        return header, content, stored_size

    def _download_in(self, shard: int, token: str, name: str) -> bytes:
        header, body, _ = self._read_in(shard, token, name)
        return decode_record(header, body, token=token, name=name, options=self._options)

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, verified against its name and SHA-256."""
        name = parse_simple_token(_SCHEME, token)
        with self._shard(name, "download") as shard:
            return self._download_in(shard, token, name)

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        return await asyncio.to_thread(self.download, token)

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a ``file:v1:`` token."""
        try:
            parse_simple_token(_SCHEME, value)
        except ValueError:
            return False
        return True

    # -- lifecycle ----------------------------------------------------------------------

    def delete(self, token: str) -> bool:
        """Delete the file behind *token*; False if it was already gone."""
        name = parse_simple_token(_SCHEME, token)
        self._forget(token)
        try:
            with self._shard(name, "delete") as shard:
                os.unlink(name, dir_fd=shard)  # a link is removed itself, never its target
        except (FileNotFoundError, PayloadNotFoundError):
            return False
        except OSError as exc:
            raise _failure(exc, "delete", token) from exc
        return True

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload behind *token* from its header."""
        name = parse_simple_token(_SCHEME, token)
        with self._shard(name, "inspect") as shard:
            header, _, stored_size = self._read_in(shard, token, name, body=False)
        return record_info(token, header, stored_size)

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload file under the root (skipping links and files this store did not write)."""
        for shard in _entries(self._root):
            if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                continue
            for entry in _entries(Path(shard.path)):
                if not entry.is_file(follow_symlinks=False):
                    continue
                if not is_content_name(entry.name) or entry.name[:2] != shard.name:
                    continue
                try:
                    info = self.inspect(format_simple_token(_SCHEME, entry.name))
                except (PayloadNotFoundError, PayloadIntegrityError, PayloadStoreRefusedError):
                    continue  # deleted since the listing, or not a record of this store
                yield info


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
