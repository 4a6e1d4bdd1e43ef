"""How a payload becomes a stored object and back, shared by every store.

Writing: check the size, hash, name by content and scope, gzip when enabled.
Reading: inflate only when the object says it is gzip, check the hash when one
was recorded. Stores only move the resulting bytes and metadata around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ._compression import gzip_compress, gzip_decompress
from ._exceptions import PayloadIntegrityError, PayloadTooLargeError
from ._options import LargePayloadStorageOptions
from ._token import content_name, sha256_hex

__all__ = ["GZIP", "IDENTITY", "EncodedPayload", "check_size", "decode_payload", "encode_payload"]

GZIP = "gzip"
IDENTITY = "identity"


@dataclass(frozen=True)
class EncodedPayload:
    """A payload ready to store.

    Attributes:
        name: 32-hex content name within the instance scope.
        content_encoding: ``"gzip"`` or ``"identity"``.
        sha256: SHA-256 of the payload (not of the body).
        size: Size of the payload in bytes.
        data: The payload itself.

    """

    name: str
    content_encoding: str
    sha256: str
    size: int
    data: bytes = field(repr=False)

    @cached_property
    def body(self) -> bytes:
        """Return the bytes to store, compressed on first use.

        A store that finds the payload already stored never pays for compression.
        """
        return gzip_compress(self.data) if self.content_encoding == GZIP else self.data


def check_size(size: int, options: LargePayloadStorageOptions) -> None:
    """Refuse a payload above ``options.max_stored_payload_bytes``."""
    if size > options.max_stored_payload_bytes:
        raise PayloadTooLargeError(size, options.max_stored_payload_bytes)


def encode_payload(
    data: bytes, options: LargePayloadStorageOptions, instance_id: str | None
) -> EncodedPayload:
    """Size-check, hash and name *data*; its body is compressed (if enabled) when first used."""
    check_size(len(data), options)
    digest = sha256_hex(data)
    encoding = GZIP if options.enable_compression else IDENTITY
    return EncodedPayload(content_name(digest, instance_id), encoding, digest, len(data), data)


def decode_payload(
    body: bytes,
    *,
    content_encoding: str | None,
    sha256: str | None,
    token: str,
    options: LargePayloadStorageOptions,
) -> bytes:
    """Turn a stored body back into the payload and verify it.

    Args:
        body: The stored bytes, exactly as read.
        content_encoding: The stored object's encoding property; only ``gzip``
            is inflated (what .NET and Java do), whatever this store's own
            compression setting is.
        sha256: The payload hash recorded at write time, if any.
        token: The token being resolved, for error messages.
        options: Gives the size limit for inflated output.

    Raises:
        PayloadIntegrityError: Unknown encoding, bad gzip, or a hash mismatch.

    """
    encoding = (content_encoding or IDENTITY).strip().lower()
    if encoding == GZIP:
        data = gzip_decompress(body, max_size=options.max_stored_payload_bytes, token=token)
    elif encoding == IDENTITY:
        data = body
    else:
        raise PayloadIntegrityError(token, f"unsupported Content-Encoding {content_encoding!r}")
    if sha256 is not None and sha256_hex(data) != sha256.lower():
        raise PayloadIntegrityError(token, "its SHA-256 does not match the one recorded when it was written")
    return data
