"""What a write finds already stored at a payload's name, read back and decoded as a download would.

For the verified write (:mod:`._verified_write`): "already there" counts only
once the object read back decodes to the payload. A driver that must decide
that itself (the S3 driver, when its cheap existence check cannot confirm a
payload the pipeline saw recently) builds its :class:`Existing` here.
"""

from __future__ import annotations

import functools

from ._codec import decode_payload
from ._driver import StoredObject
from ._exceptions import PayloadReadLimitError
from ._options import LargePayloadStorageOptions, read_limit
from ._verified_write import Existing

__all__ = ["decode_stored", "existing"]


def decode_stored(found: StoredObject, token: str, options: LargePayloadStorageOptions) -> bytes:
    """Return the payload in *found*, verified.

    Raises:
        PayloadReadLimitError: Its body was too large to be read (``body`` is None).
        PayloadIntegrityError: It is damaged, or not the content its name certifies.

    """
    if found.damage is not None:
        raise found.damage
    if found.body is None:
        raise PayloadReadLimitError(token, found.stored_size, read_limit(options))
    return decode_payload(
        found.body,
        content_encoding=found.meta.content_encoding,
        sha256=found.meta.sha256,
        token=token,
        options=options,
        name=found.name,
        instance_id=found.meta.instance_id,
    )


def existing(found: StoredObject | None, token: str, options: LargePayloadStorageOptions) -> Existing | None:
    """Return what a verified write found (its tag, and its payload decoded on demand), or None."""
    if found is None:
        return None
    return Existing(found.tag, functools.partial(decode_stored, found, token, options))
