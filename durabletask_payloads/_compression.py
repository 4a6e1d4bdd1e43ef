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

from ._exceptions import PayloadIntegrityError, PayloadReadLimitError

__all__ = ["BACKEND", "GZIP_MAGIC", "LEVEL", "deflate_raw", "gzip_compress", "gzip_decompress", "inflate_raw"]

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
#: Input given to the inflater of a gzip member after the first, at first; doubled while it needs more.
_FIRST_FEED = 64
_MAX_FEED = 1024 * 1024


def gzip_compress(data: bytes) -> bytes:
    """Compress *data* into one gzip member."""
    compressor = _engine.compressobj(LEVEL, _engine.DEFLATED, _GZIP_WBITS)
    return bytes(compressor.compress(data) + compressor.flush())


def deflate_raw(data: bytes) -> bytes:
    """Compress *data* into a raw deflate stream (no header or checksum), for memory, not storage."""
    compressor = _engine.compressobj(LEVEL, _engine.DEFLATED, -15)
    return bytes(compressor.compress(data) + compressor.flush())


def inflate_raw(data: bytes, size: int) -> bytes:
    """Inflate a stream made by :func:`deflate_raw` from *size* bytes, in one call."""
    return bytes(_engine.decompress(data, -15, size))


def gzip_decompress(data: bytes, *, max_size: int, token: str) -> bytes:
    """Inflate a gzip body written by any SDK, refusing more than *max_size* bytes of output.

    A body may hold any number of gzip members (RFC 1952 readers concatenate
    them); the work is linear in the body's size whatever their number. Output
    stops one byte past *max_size*, so a bomb never inflates further.

    Raises:
        PayloadReadLimitError: The body inflates to more than *max_size* bytes.
        PayloadIntegrityError: The body is empty, is not valid gzip, or is truncated.

    """
    view = memoryview(data)
    total = len(view)
    if not total:
        raise PayloadIntegrityError(token, "the gzip body is empty")
    parts: list[bytes] = []
    produced = 0
    position = 0
    # The first member (usually the only one) gets the whole body in one call. Later members get
    # small, doubling slices: an inflater copies what follows its member into unused_data, so
    # handing each member all the rest would copy the body once per member (quadratic).
    feed = total
    try:
        while position < total:
            inflater = _engine.decompressobj(_GZIP_WBITS)
            while True:
                end = min(position + feed, total)
                part = inflater.decompress(view[position:end], max_size + 1 - produced)
                produced += len(part)
                if produced > max_size or inflater.unconsumed_tail:
                    raise PayloadReadLimitError(token, produced, max_size)
                if part:
                    parts.append(part)
                if inflater.eof:
                    # Only the length of unused_data is used: the next member is read from the view.
                    position = end - len(inflater.unused_data)
                    break
                if end == total:
                    raise PayloadIntegrityError(token, "the gzip body is truncated")
                position = end
                feed = min(feed * 2, _MAX_FEED)
            feed = _FIRST_FEED
    except _engine.error as exc:
        raise PayloadIntegrityError(token, f"the body is not valid gzip ({exc})") from exc
    # One member (the usual case): hand back the inflated bytes without another copy.
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)
