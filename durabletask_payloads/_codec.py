"""How a payload becomes a stored object and back, shared by every store.

Writing: check the size, hash, name by content and scope, gzip when enabled.
Reading: refuse an object above the read limit before reading it whole, inflate
only when the object says it is gzip (never past the read limit), then verify:
a name this package wrote is derived from the content and the instance, so the
content must give back the name (and match the hash recorded in metadata, when
there is one). Names written by other SDKs (version-4 GUIDs) certify nothing;
their content is only checked against a recorded hash, if any, and must not be
empty. Stores only move the resulting bytes and metadata around.

Stores without a place for metadata of their own (files, Redis values) keep
each payload as a *record*: one line of JSON metadata, then the stored body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from ._compression import gzip_compress, gzip_decompress
from ._exceptions import PayloadIntegrityError, PayloadReadLimitError, PayloadTooLargeError
from ._info import PayloadInfo
from ._options import LargePayloadStorageOptions, read_limit
from ._token import content_name, is_content_name, is_guid_v4_name, names_content, sha256_hex

__all__ = [
    "GZIP",
    "IDENTITY",
    "MAX_RECORD_HEADER",
    "EncodedPayload",
    "check_size",
    "check_stored_size",
    "decode_payload",
    "decode_record",
    "encode_payload",
    "max_stored_body",
    "max_stored_record",
    "parse_record_header",
    "record_header",
    "record_info",
    "split_record",
    "verify_payload",
]

GZIP = "gzip"
IDENTITY = "identity"
# Room above the read limit for a gzip body's header, trailer and stored-block overhead.
_GZIP_SLACK = 64 * 1024


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
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a payload is bytes (encode text as UTF-8 first), not {type(data).__name__}")
    check_size(len(data), options)
    digest = sha256_hex(data)
    encoding = GZIP if options.enable_compression else IDENTITY
    return EncodedPayload(content_name(digest, instance_id), encoding, digest, len(data), data)


def max_stored_body(options: LargePayloadStorageOptions, content_encoding: str | None = GZIP) -> int:
    """Return the largest stored body a store with *options* reads, in bytes.

    The read limit itself for an identity body; for gzip a little more, since
    incompressible data grows by a few bytes per 64 KiB block when deflated.
    """
    limit = read_limit(options)
    if (content_encoding or IDENTITY).strip().lower() == IDENTITY:
        return limit
    return limit + limit // 1024 + _GZIP_SLACK


def check_stored_size(
    size: int, *, content_encoding: str | None, token: str, options: LargePayloadStorageOptions
) -> None:
    """Refuse a stored body of *size* bytes above :func:`max_stored_body`, before it is read.

    Raises:
        PayloadReadLimitError: It is larger: names the token, the size, the limit and the setting.

    """
    if size > max_stored_body(options, content_encoding):
        raise PayloadReadLimitError(token, size, read_limit(options))


def decode_payload(
    body: bytes,
    *,
    content_encoding: str | None,
    sha256: str | None,
    token: str,
    options: LargePayloadStorageOptions,
    name: str,
    instance_id: str | None,
    foreign_names: bool = False,
) -> bytes:
    """Turn a stored body back into the payload and verify it.

    Args:
        body: The stored bytes, exactly as read.
        content_encoding: The stored object's encoding property; only ``gzip``
            is inflated (what .NET and Java do), whatever this store's own
            compression setting is.
        sha256: The payload hash recorded at write time, if any.
        token: The token being resolved, for error messages.
        options: Gives the read limit (``max_read_payload_bytes``).
        name: The stored object's name (the blob name, the key's last 32 characters).
        instance_id: The instance recorded with the object, if any (its name was derived from it).
        foreign_names: Whether other SDKs write where this store reads (Azure Blob):
            then a version-4 GUID name is theirs and certifies nothing.

    Raises:
        PayloadReadLimitError: The body, or what it inflates to, is above the read limit.
        PayloadIntegrityError: Unknown encoding, bad gzip, a hash that does not match, or
            content that does not give back its name.

    """
    check_stored_size(len(body), content_encoding=content_encoding, token=token, options=options)
    encoding = (content_encoding or IDENTITY).strip().lower()
    if encoding == GZIP:
        data = gzip_decompress(body, max_size=read_limit(options), token=token)
    elif encoding == IDENTITY:
        data = body
    else:
        raise PayloadIntegrityError(token, f"unsupported Content-Encoding {content_encoding!r}")
    verify_payload(
        data, sha256=sha256, token=token, name=name, instance_id=instance_id, foreign_names=foreign_names
    )
    return data


def verify_payload(
    data: bytes,
    *,
    sha256: str | None,
    token: str,
    name: str,
    instance_id: str | None,
    foreign_names: bool = False,
) -> None:
    """Check a payload read back against its name and its recorded hash (see :func:`decode_payload`).

    Raises:
        PayloadIntegrityError: It does not match.

    """
    own_name = is_content_name(name) and not (foreign_names and is_guid_v4_name(name))
    if sha256 is None and not own_name:
        # Written by another SDK, which records no hash: nothing to check but that there is something.
        if not data:
            raise PayloadIntegrityError(
                token, "the stored object is empty, and no writer stores an empty payload"
            )
        return
    digest = sha256_hex(data)
    if sha256 is not None and digest != sha256.lower():
        raise PayloadIntegrityError(token, "its SHA-256 does not match the one recorded when it was written")
    if own_name and not names_content(name, digest, instance_id):
        # The name is a hash of the content and the instance: no other content can give it back,
        # whatever metadata comes with it.
        raise PayloadIntegrityError(
            token, f"its content does not match its name {name}, which was derived from the content written"
        )


# -- records: a JSON header line, then the body ---------------------------------------

#: What every record starts with; the version is part of it.
_RECORD_MAGIC = b"DTPAYLOAD1 "
#: The longest header line a reader looks for (a header holds an instance id, so allow plenty).
MAX_RECORD_HEADER = 64 * 1024


def record_header(encoded: EncodedPayload, instance_id: str | None) -> bytes:
    """Return the header line of a record for *encoded*: magic, JSON metadata, newline.

    The metadata is the encoding, SHA-256 and size of the payload, its instance
    and the time of writing (UTC); the stored body follows the newline.
    """
    header: dict[str, Any] = {
        "content_encoding": encoded.content_encoding,
        "sha256": encoded.sha256,
        "size": encoded.size,
        "instance_id": instance_id,
        "created": datetime.now(timezone.utc).isoformat(),
    }
    return _RECORD_MAGIC + json.dumps(header).encode() + b"\n"


def parse_record_header(line: bytes, *, token: str, where: str) -> dict[str, Any]:
    """Read a record's header line (including its newline).

    Args:
        line: The record's first line, at most :data:`MAX_RECORD_HEADER` bytes.
        token: The token being resolved, for error messages.
        where: Names the record (a path, a key) in error messages.

    Raises:
        PayloadIntegrityError: The line is not a complete, readable header.

    """
    if not line.startswith(_RECORD_MAGIC) or not line.endswith(b"\n"):
        raise PayloadIntegrityError(token, f"{where} does not start with a payload header")
    try:
        header = json.loads(line[len(_RECORD_MAGIC) :])
    except ValueError as exc:
        raise PayloadIntegrityError(token, f"{where} has an unreadable header") from exc
    if not isinstance(header, dict):
        raise PayloadIntegrityError(token, f"{where} has an unreadable header")
    return header


def split_record(record: bytes, *, token: str, where: str) -> tuple[dict[str, Any], bytes]:
    """Split a whole record into its header (read) and its body.

    Raises:
        PayloadIntegrityError: *record* does not start with a readable header.

    """
    end = record.find(b"\n", 0, MAX_RECORD_HEADER)
    if end < 0:
        raise PayloadIntegrityError(token, f"{where} does not start with a payload header")
    return parse_record_header(record[: end + 1], token=token, where=where), record[end + 1 :]


def decode_record(
    header: dict[str, Any], body: bytes, *, token: str, name: str, options: LargePayloadStorageOptions
) -> bytes:
    """Turn a record's body back into the payload, as its header describes it, and verify it."""
    return decode_payload(
        body,
        content_encoding=str(header.get("content_encoding") or IDENTITY),
        sha256=_opt_str(header.get("sha256")),
        token=token,
        options=options,
        name=name,
        instance_id=_opt_str(header.get("instance_id")),
    )


def max_stored_record(options: LargePayloadStorageOptions) -> int:
    """Return the largest record (header line and body) a store with *options* reads."""
    return MAX_RECORD_HEADER + max_stored_body(options)


def record_info(token: str, header: dict[str, Any], stored_size: int) -> PayloadInfo:
    """Describe a payload from its record header; *stored_size* is the body's size."""
    created = _opt_str(header.get("created"))
    size = header.get("size")
    return PayloadInfo(
        token=token,
        size=size if isinstance(size, int) else None,
        stored_size=stored_size,
        content_encoding=str(header.get("content_encoding") or IDENTITY),
        sha256=_opt_str(header.get("sha256")),
        instance_id=_opt_str(header.get("instance_id")),
        created=datetime.fromisoformat(created) if created else None,
    )


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
