"""A payload store in a local directory: the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._codec import (
    MAX_RECORD_HEADER,
    decode_record,
    encode_payload,
    parse_record_header,
    record_header,
    record_info,
)
from .._exceptions import PayloadError, PayloadIntegrityError, PayloadNotFoundError, store_failure
from .._options import LargePayloadStorageOptions
from .._store import PayloadInfo, PayloadStore
from .._token import format_simple_token, is_content_name, parse_simple_token

__all__ = ["FileSystemPayloadStore"]

_SCHEME = "file"


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
    before the body.

    Writes are atomic (a temporary file in the same directory, then a rename),
    so readers never see half a payload, and content-addressed, so concurrent
    writers of the same payload, threads or processes, end with one identical
    file. Directories and files are created readable by the owner only.

    Args:
        root: Directory to keep payloads in; created if missing.
        options: Size and compression settings; the defaults when omitted.
        fsync: Flush each file to disk before it becomes visible, so a crash
            cannot leave a token pointing at an empty file. Turn off for
            scratch directories where speed matters more.

    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        options: LargePayloadStorageOptions | None = None,
        *,
        fsync: bool = True,
    ) -> None:
        self._root = Path(root).absolute()
        self._options = options if options is not None else LargePayloadStorageOptions()
        self._fsync = fsync
        self._root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def root(self) -> Path:
        """The directory holding the payloads."""
        return self._root

    @property
    def options(self) -> LargePayloadStorageOptions:
        """The size and compression settings of this store."""
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

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* as a file; an identical payload of the same instance is not written again."""
        encoded = encode_payload(data, self._options, instance_id)
        token = format_simple_token(_SCHEME, encoded.name)
        path = self._path(encoded.name)
        if path.exists():
            return token
        try:
            # Each file is a record (see _codec): one line of JSON metadata, then the body.
            self._write_atomic(path, record_header(encoded, instance_id), encoded.body)
        except OSError as exc:
            raise _failure(exc, "upload", str(path)) from exc
        return token

    def _write_atomic(self, path: Path, header: bytes, body: bytes) -> None:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header)
                handle.write(body)
                if self._fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            # Same content under the same name: whoever renames last wins, harmlessly.
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload` (file I/O runs in a worker thread)."""
        return await asyncio.to_thread(self.upload, data, instance_id=instance_id)

    def _read(self, token: str, *, body: bool = True) -> tuple[dict[str, Any], bytes, int]:
        """Return the header, the body (empty unless asked for) and the body's size."""
        path = self.path_for(token)
        try:
            with path.open("rb") as handle:
                first = handle.readline(MAX_RECORD_HEADER)
                content = handle.read() if body else b""
                stored_size = os.fstat(handle.fileno()).st_size - len(first)
        except FileNotFoundError:
            raise PayloadNotFoundError(token, f"no file {path}") from None
        except OSError as exc:
            raise _failure(exc, "download", token) from exc
        return parse_record_header(first, token=token, where=str(path)), content, stored_size

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, checking its SHA-256."""
        header, body, _ = self._read(token)
        return decode_record(header, body, token=token, options=self._options)

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

    def delete(self, token: str) -> bool:
        """Delete the file behind *token*; False if it was already gone."""
        path = self.path_for(token)
        self._forget(token)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload behind *token* from its header."""
        header, _, stored_size = self._read(token, body=False)
        return record_info(token, header, stored_size)

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload file under the root (skipping files this store did not write)."""
        for shard in sorted(self._root.iterdir()):
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for path in sorted(shard.iterdir()):
                if not is_content_name(path.name) or path.name[:2] != shard.name:
                    continue
                try:
                    info = self.inspect(format_simple_token(_SCHEME, path.name))
                except (PayloadNotFoundError, PayloadIntegrityError):
                    continue  # deleted since the listing, or not a record of this store
                yield info
