"""What the Blob REST API's payload requests say: their Shared Key signature, their headers, and its errors.

Sans-IO, shared by the direct path's transport (``_azure_http.py``) and its edge
(``DirectContainerIO`` in ``_azure_transfer.py``). Each is written to match what
the Azure SDK sends and raises, and tested against it (``tests/unit/test_azure_http.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)

__all__ = ["META_PREFIX", "SharedKey", "cpk_headers", "error_for", "put_headers", "shared_key_signature"]

#: The prefix of a blob's metadata headers.
META_PREFIX = "x-ms-meta-"
# Error codes the SDK raises as these types whatever the status (process_storage_error).
_MODIFIED = frozenset({"ConditionNotMet", "BlobOverwritten"})
_AUTH = frozenset({"InvalidAuthenticationInfo", "AuthenticationFailed"})
_NOT_FOUND = frozenset({"ResourceNotFound", "BlobNotFound", "ContainerNotFound", "CannotVerifyCopySource"})
_EXISTS = frozenset(
    {"BlobAlreadyExists", "ResourceAlreadyExists", "ContainerBeingDeleted", "ResourceTypeMismatch"}
)
# The driver's upload_blob arguments Put Blob's headers carry (name and data aside).
_PUT_ARGUMENTS = frozenset(
    {"overwrite", "metadata", "content_settings", "cpk", "encryption_scope", "etag", "match_condition"}
)
# Headers of the Shared Key string-to-sign, in its order, after the verb.
_SIGNED = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


@dataclass(frozen=True)
class SharedKey:
    """An account name and its key, decoded: what a Shared Key signature needs."""

    account: str
    key: bytes


def shared_key_signature(key: SharedKey, method: str, path: str, headers: dict[str, str]) -> str:
    """Return the ``Authorization`` value of a request with no query, by the Shared Key scheme.

    *path* is the request's path as sent (quoted); *headers* every header it carries.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    if lower.get("content-length") == "0":
        lower["content-length"] = ""  # since API version 2015-02-21
    lines = [method, *(lower.get(name, "") for name in _SIGNED)]
    # Our x-ms- names are letters, digits and hyphens after the prefix: ordinal order is the service's.
    canonical = "".join(
        f"{name}:{value.strip()}\n" for name, value in sorted(lower.items()) if name.startswith("x-ms-")
    )
    text = "\n".join(lines) + "\n" + canonical + f"/{key.account}{path}"
    digest = hmac.new(key.key, text.encode("utf-8"), hashlib.sha256).digest()
    return f"SharedKey {key.account}:{base64.b64encode(digest).decode()}"


def error_for(status: int, code: str | None, reason: str) -> HttpResponseError:
    """Return the SDK's exception for a refused request: its type by status, then by error code."""
    kind: type[HttpResponseError] = HttpResponseError
    if status == 404 or code in _NOT_FOUND:
        kind = ResourceNotFoundError
    elif status == 409 or code in _EXISTS:
        kind = ResourceExistsError
    elif status == 304:
        kind = ResourceNotModifiedError
    elif status == 401 or code in _AUTH:
        kind = ClientAuthenticationError
    elif code in _MODIFIED:
        kind = ResourceModifiedError
    error = kind(message=f"HTTP {status} {reason}" + (f" (ErrorCode:{code})" if code else ""))
    error.status_code = status
    error.reason = reason
    error.error_code = code  # type: ignore[attr-defined]  # the SDK's errors carry it; _describe reads it
    return error


def cpk_headers(cpk: Any) -> dict[str, str]:
    """Return the headers of a customer-provided key (the SDK's ``CustomerProvidedEncryptionKey``), if any."""
    if cpk is None:
        return {}
    return {
        "x-ms-encryption-key": cpk.key_value,
        "x-ms-encryption-key-sha256": cpk.key_hash,
        "x-ms-encryption-algorithm": cpk.algorithm,
    }


def put_headers(kwargs: dict[str, Any]) -> dict[str, str]:
    """Return Put Blob's headers for the driver's ``upload_blob`` arguments (less ``name`` and ``data``)."""
    unknown = set(kwargs) - _PUT_ARGUMENTS
    if unknown:
        raise TypeError(f"upload_blob arguments the direct path does not send: {sorted(unknown)}")
    headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"}
    if kwargs.get("match_condition") == MatchConditions.IfNotModified:
        headers["If-Match"] = str(kwargs["etag"])
    elif not kwargs.get("overwrite", False):
        headers["If-None-Match"] = "*"
    for name, value in (kwargs.get("metadata") or {}).items():
        headers[META_PREFIX + name] = value
    settings = kwargs.get("content_settings")
    if settings is not None and settings.content_encoding:
        headers["x-ms-blob-content-encoding"] = settings.content_encoding
    headers.update(cpk_headers(kwargs.get("cpk")))
    if kwargs.get("encryption_scope"):
        headers["x-ms-encryption-scope"] = kwargs["encryption_scope"]
    return headers
