"""Gzip, the one stored encoding every SDK reads.

Output is standard gzip (RFC 1952), readable by .NET's ``GZipStream`` and Python's
``gzip`` module. Decompression is bounded: a stored object that inflates past
the caller's limit is refused rather than allowed to exhaust memory.
"""

from __future__ import annotations

import zlib

from ._exceptions import PayloadIntegrityError

__all__ = ["GZIP_MAGIC", "gzip_compress", "gzip_decompress"]

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 31  # 16 + 15: gzip header and trailer, 32 KiB window
DEFAULT_LEVEL = 6


def gzip_compress(data: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    """Compress *data* into one gzip member."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


def gzip_decompress(data: bytes, *, max_size: int, token: str) -> bytes:
    """Inflate a gzip body written by any SDK, refusing more than *max_size* bytes of output.

    Raises:
        PayloadIntegrityError: The body is not valid gzip, is truncated, or
            inflates beyond *max_size* bytes.

    """
    out = bytearray()
    pending = data
    try:
        # A body may hold several gzip members; RFC 1952 readers concatenate them.
        while pending:
            inflater = zlib.decompressobj(_GZIP_WBITS)
            out += inflater.decompress(pending, max_size + 1 - len(out))
            if len(out) > max_size or inflater.unconsumed_tail:
                raise PayloadIntegrityError(
                    token, f"it inflates to more than the {max_size:,}-byte limit (max_stored_payload_bytes)"
                )
            if not inflater.eof:
                raise PayloadIntegrityError(token, "the gzip body is truncated")
            pending = inflater.unused_data
    except zlib.error as exc:
        raise PayloadIntegrityError(token, f"the body is not valid gzip ({exc})") from exc
    return bytes(out)
