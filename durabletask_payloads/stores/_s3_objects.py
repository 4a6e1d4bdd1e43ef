"""One S3 object of the S3 store: its attributes, the conditional PUT, its metadata, errors.

Kept apart from the store (clients, buckets, tokens) so that what goes on the
wire for one payload reads in one place.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    InvalidPathError,
    NotSupportedError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
    UnknownConfigurationKeyError,
)

from .._codec import GZIP, IDENTITY, EncodedPayload
from .._driver import ObjectMeta
from .._exceptions import PayloadError, PayloadNotFoundError, store_failure
from .._retry import is_transient_status

if TYPE_CHECKING:
    from obstore import Attributes, GetResult, PutMode
    from obstore.store import S3Store

__all__ = ["attributes", "failure", "object_meta", "put_object"]

_log = logging.getLogger("durabletask_payloads.stores.s3")

# Object metadata (x-amz-meta-*): the payload's hash, size and instance, for checks and clean-up.
_META_SHA256 = "payloadsha256"
_META_SIZE = "payloadsize"
_META_INSTANCE = "instanceid"
# obstore's messages quote the request URL; only the HTTP status is taken from them.
_STATUS_RE = re.compile(r"status code: (\d{3})\b")
# S3 answers 409 ConditionalRequestConflict while another conditional write of the key is in flight.
_CONFLICT_ATTEMPTS = 4
_CONFLICT_BACKOFF_SECONDS = 0.05
_PERMANENT = (
    PermissionDeniedError,
    UnauthenticatedError,
    NotSupportedError,
    InvalidPathError,
    UnknownConfigurationKeyError,
)


def _status(exc: BaseException) -> str | None:
    """Return the HTTP status an obstore error reports, if any (only its three digits are read)."""
    match = _STATUS_RE.search(str(exc))
    return match.group(1) if match else None


def _describe(exc: BaseException) -> str:
    """Name the error by its type and HTTP status: never by its message, which quotes URLs."""
    status = _status(exc)
    return type(exc).__name__ + (f" (HTTP {status})" if status else "")


def failure(exc: Exception, operation: str, target: str) -> PayloadError:
    """Classify an obstore error: not found, transient (retried) or permanent (raised at once)."""
    # obstore raises the built-in FileNotFoundError for a missing object.
    if isinstance(exc, FileNotFoundError):
        return PayloadNotFoundError(target, "no such S3 object")
    status = _status(exc)
    # Without an HTTP answer it was a connection failure or a timeout, unless obstore names a cause.
    transient = is_transient_status(status) if status is not None else not isinstance(exc, _PERMANENT)
    return store_failure(operation, target, _describe(exc), transient=transient)


def attributes(encoded: EncodedPayload, instance_id: str | None) -> Attributes:
    """Return the object's headers: content type and encoding, the payload's hash, size and instance."""
    result: Attributes = {
        "Content-Type": "application/octet-stream",
        _META_SHA256: encoded.sha256,
        _META_SIZE: str(encoded.size),
    }
    if encoded.content_encoding == GZIP:
        result["Content-Encoding"] = GZIP
    if instance_id is not None:
        # Metadata travels as HTTP headers: percent-encode to keep it ASCII.
        result[_META_INSTANCE] = quote(instance_id, safe="")
    return result


def put_object(
    client: S3Store, key: str, token: str, encoded: EncodedPayload, headers: Attributes, *, mode: PutMode
) -> bool:
    """Write the object if *mode*'s condition holds; False when the key is taken or changed (412)."""
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            # One PUT (no multipart), so that the condition applies to the whole object.
            obstore.put(client, key, encoded.body, mode=mode, attributes=headers, use_multipart=False)
        except (AlreadyExistsError, PreconditionError) as exc:
            # 412: taken, or changed since it was checked. 409 (obstore reports it the same way):
            # another conditional write of this key is in flight and may yet fail; ask again once
            # it had time to end.
            if _status(exc) == "409":
                if attempt + 1 == _CONFLICT_ATTEMPTS:
                    raise failure(exc, "upload", token) from exc
                time.sleep(_CONFLICT_BACKOFF_SECONDS * 2**attempt)
                continue
            return False
        except (BaseError, OSError) as exc:
            raise failure(exc, "upload", token) from exc
        _log.info("Stored %d bytes as S3 object %s (%d stored)", encoded.size, key, len(encoded.body))
        return True
    raise AssertionError("unreachable")  # pragma: no cover


def object_meta(result: GetResult) -> ObjectMeta:
    """Return the pipeline's metadata of an object from its headers (a GET or HEAD answer)."""
    headers = result.attributes
    size = headers.get(_META_SIZE)
    instance = headers.get(_META_INSTANCE)
    sha256 = headers.get(_META_SHA256)
    encoding = headers.get("Content-Encoding")
    return ObjectMeta(
        content_encoding=encoding if isinstance(encoding, str) else IDENTITY,
        sha256=sha256 if isinstance(sha256, str) else None,
        size=int(size) if isinstance(size, str) and size.isdigit() else None,
        instance_id=unquote(instance) if isinstance(instance, str) else None,
        # S3 keeps no creation time; an object written once is never modified.
        created=result.meta["last_modified"],
    )
