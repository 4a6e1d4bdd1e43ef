"""What a store reports about a stored payload without reading it: :class:`PayloadInfo`.

A module of its own so that the codec, which builds these from record headers,
need not import the store contract (re-exported from ``_store`` and the package).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["PayloadInfo"]


@dataclass(frozen=True)
class PayloadInfo:
    """What a store knows about one stored payload, without its content.

    Attributes:
        token: The token that resolves to it.
        size: Size of the payload in bytes, before compression (None if unknown,
            e.g. a blob written by another SDK).
        stored_size: Size of the stored object in bytes.
        content_encoding: ``"gzip"`` or ``"identity"``.
        sha256: SHA-256 of the payload as hex, when recorded at write time.
        instance_id: The instance that wrote it, when recorded.
        created: When it was stored (UTC), when known.

    """

    token: str
    size: int | None
    stored_size: int
    content_encoding: str
    sha256: str | None
    instance_id: str | None
    created: datetime | None
