"""Gzip, the one stored encoding every SDK reads.

Output is standard gzip (RFC 1952), readable by .NET's ``GZipStream`` and Python's
``gzip`` module. Decompression is bounded: a stored object that inflates past
the caller's limit is refused rather than allowed to exhaust memory.

The deflate engine is ISA-L (the ``isal`` package, installed by default where it
has wheels) and zlib otherwise; both have the same API and produce the same
format. Levels were picked by measurement on realistic order JSON (see
docs/performance.md): ISA-L level 1 runs at about 1 GB/s on this project's 2-core
machine, 40x zlib level 9 (what durabletask's built-in store uses), for output
about 25% larger; ISA-L level 3 is 2.7x slower for 1% smaller output. Without
ISA-L, zlib level 1 is 10x faster than level 9 for output about 30% larger:
payloads are transient, so time matters more than the last bytes.
"""

from __future__ import annotations

import zlib
from types import ModuleType

from ._exceptions import PayloadIntegrityError

__all__ = ["BACKEND", "GZIP_MAGIC", "LEVEL", "gzip_compress", "gzip_decompress"]

_engine: ModuleType
#: Which deflate implementation is in use: "isal" or "zlib".
BACKEND: str
try:
    from isal import isal_zlib

    _engine, BACKEND = isal_zlib, "isal"
except ImportError:  # pragma: no cover - depends on the platform
    _engine, BACKEND = zlib, "zlib"

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 31  # 16 + 15: gzip header and trailer, 32 KiB window
#: The compression level used with that implementation.
LEVEL = 1


def gzip_compress(data: bytes) -> bytes:
    """Compress *data* into one gzip member."""
    compressor = _engine.compressobj(LEVEL, _engine.DEFLATED, _GZIP_WBITS)
    return bytes(compressor.compress(data) + compressor.flush())


def gzip_decompress(data: bytes, *, max_size: int, token: str) -> bytes:
    """Inflate a gzip body written by any SDK, refusing more than *max_size* bytes of output.

    Raises:
        PayloadIntegrityError: The body is not valid gzip, is truncated, or
            inflates beyond *max_size* bytes.

    """
    parts: list[bytes] = []
    produced = 0
    pending = data
    try:
        # A body may hold several gzip members; RFC 1952 readers concatenate them.
        while pending:
            inflater = _engine.decompressobj(_GZIP_WBITS)
            part = inflater.decompress(pending, max_size + 1 - produced)
            produced += len(part)
            if produced > max_size or inflater.unconsumed_tail:
                raise PayloadIntegrityError(
                    token, f"it inflates to more than the {max_size:,}-byte limit (max_stored_payload_bytes)"
                )
            if not inflater.eof:
                raise PayloadIntegrityError(token, "the gzip body is truncated")
            parts.append(part)
            pending = inflater.unused_data
    except _engine.error as exc:
        raise PayloadIntegrityError(token, f"the body is not valid gzip ({exc})") from exc
    if not parts:
        raise PayloadIntegrityError(token, "the gzip body is empty")
    # One member (the usual case): hand back the inflated bytes without another copy.
    return parts[0] if len(parts) == 1 else b"".join(parts)
