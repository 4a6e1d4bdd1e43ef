"""Reference tokens: how they are named, written and parsed.

A token is the small string that replaces an externalized value in a gRPC
message. It is data that comes back from the backend, so parsing is strict:
anything that does not parse exactly is not a token and stays plain data, and
nothing in a token may steer a read outside the place it names.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ._exceptions import InvalidPayloadTokenError

__all__ = [
    "BlobToken",
    "content_name",
    "format_blob_token_v1",
    "format_blob_token_v2",
    "format_simple_token",
    "parse_blob_token",
    "parse_simple_token",
    "sha256_hex",
]

BLOB_V1_PREFIX = "blob:v1:"
BLOB_V2_PREFIX = "blob:v2:"

#: 32 lowercase hex characters: a .NET GUID without dashes, and what Java requires.
_NAME_RE = re.compile(r"[0-9a-f]{32}")
#: Azure container names: 3-63 of [a-z0-9-], starting and ending alphanumeric, no "--".
_CONTAINER_RE = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_BLOB_NAME = 1024
_MAX_TOKEN = 4096

# Domain separation, so a name can never collide with a hash computed for another purpose.
_NAME_DOMAIN = b"durabletask-payloads/name/v1\n"


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of *data* as 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


def content_name(payload_sha256: str, instance_id: str | None) -> str:
    """Name a stored payload after its content and its instance scope.

    Identical payloads of one instance get one name (and so one stored object);
    the same payload written by two instances gets two, so deleting one
    instance's payloads never removes another's. The result is 32 lowercase hex
    characters, the form .NET writes and Java requires.

    Args:
        payload_sha256: :func:`sha256_hex` of the payload bytes.
        instance_id: The orchestration or entity instance the payload belongs to.

    """
    scope = b"-" if instance_id is None else b"i" + instance_id.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(_NAME_DOMAIN + len(scope).to_bytes(8, "big") + scope + payload_sha256.encode())
    return digest.hexdigest()[:32]


def is_content_name(name: str) -> bool:
    """Return whether *name* has the 32-hex form of :func:`content_name`."""
    return _NAME_RE.fullmatch(name) is not None


def format_simple_token(scheme: str, name: str) -> str:
    """Write ``<scheme>:v1:<name>``, the token of the memory and filesystem stores."""
    return f"{scheme}:v1:{name}"


def parse_simple_token(scheme: str, value: str) -> str:
    """Return the name in a ``<scheme>:v1:<32 hex>`` token.

    Raises:
        InvalidPayloadTokenError: *value* is not such a token. Only 32 lowercase
            hex characters are accepted as a name, so a token can never hold a
            path, a separator or ``..``.

    """
    prefix = f"{scheme}:v1:"
    if not value.startswith(prefix):
        raise InvalidPayloadTokenError(value, f"expected a token starting with {prefix!r}")
    name = value[len(prefix) :]
    if _NAME_RE.fullmatch(name) is None:
        raise InvalidPayloadTokenError(value, "the name must be exactly 32 lowercase hex characters")
    return name


@dataclass(frozen=True)
class BlobToken:
    """A parsed Azure Blob token.

    Attributes:
        version: 1 for ``blob:v1:<container>:<name>``, 2 for ``blob:v2:<blob URL>``.
        container: The container name.
        blob_name: The blob name (path within the container).
        account_url: For v2 tokens, the account endpoint named by the URL
            (for Azurite's path-style URLs, including the account segment).

    """

    version: int
    container: str
    blob_name: str
    account_url: str | None = None


def format_blob_token_v1(container: str, blob_name: str) -> str:
    """Write ``blob:v1:<container>:<blob_name>``."""
    return f"{BLOB_V1_PREFIX}{container}:{blob_name}"


def format_blob_token_v2(account_url: str, container: str, blob_name: str) -> str:
    """Write ``blob:v2:<account_url>/<container>/<blob_name>``."""
    return f"{BLOB_V2_PREFIX}{account_url.rstrip('/')}/{container}/{blob_name}"


def _check_container(token: str, container: str) -> None:
    if _CONTAINER_RE.fullmatch(container) is None:
        raise InvalidPayloadTokenError(
            token, "the container name is not a valid Azure container name (3-63 of a-z, 0-9 and '-')"
        )


def _check_blob_name(token: str, name: str) -> None:
    if not name:
        raise InvalidPayloadTokenError(token, "the blob name is empty")
    if len(name) > _MAX_BLOB_NAME:
        raise InvalidPayloadTokenError(token, f"the blob name is longer than {_MAX_BLOB_NAME} characters")
    if _CONTROL_RE.search(name) or "\\" in name:
        raise InvalidPayloadTokenError(token, "the blob name contains control characters or '\\'")
    # HTTP clients normalise dot segments, so "../other/x" would read another container.
    if name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
        raise InvalidPayloadTokenError(token, "the blob name has an empty, '.' or '..' path segment")


def _is_path_style_host(host: str) -> bool:
    # Azurite and other emulators put the account in the path; so does the Azure SDK
    # for IP addresses and localhost.
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_blob_token(value: str) -> BlobToken:
    """Parse a ``blob:v1:`` or ``blob:v2:`` token as the .NET and Java SDKs write them.

    The prefix is case-sensitive. A v1 token splits at the first ``:`` after the
    prefix into container and blob name. A v2 token is an ``http(s)`` blob URL
    without query or fragment (no SAS), naming a container and a blob.

    Raises:
        InvalidPayloadTokenError: *value* is not a well-formed blob token, or its
            blob name could address something outside its container.

    """
    if len(value) > _MAX_TOKEN:
        raise InvalidPayloadTokenError(value, f"a token is at most {_MAX_TOKEN:,} characters")
    if value.startswith(BLOB_V1_PREFIX):
        container, sep, name = value[len(BLOB_V1_PREFIX) :].partition(":")
        if not sep or not container or not name:
            raise InvalidPayloadTokenError(value, "expected blob:v1:<container>:<blob name>")
        _check_container(value, container)
        _check_blob_name(value, name)
        return BlobToken(1, container, name)
    if value.startswith(BLOB_V2_PREFIX):
        return _parse_v2(value)
    raise InvalidPayloadTokenError(value, "expected a token starting with 'blob:v1:' or 'blob:v2:'")


def _parse_v2(value: str) -> BlobToken:
    url = value[len(BLOB_V2_PREFIX) :]
    if any(c.isspace() for c in url):
        raise InvalidPayloadTokenError(value, "a blob URL cannot contain whitespace")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InvalidPayloadTokenError(value, "expected blob:v2:<blob URL>") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidPayloadTokenError(value, "expected blob:v2:<http(s) blob URL>")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidPayloadTokenError(
            value, "a v2 token's URL must not carry a query, fragment or credentials"
        )
    segments = parts.path.split("/")[1:]  # the path starts with "/"
    origin = f"{parts.scheme}://{parts.netloc}"
    if _is_path_style_host(host):
        if len(segments) < 3 or not segments[0]:
            raise InvalidPayloadTokenError(value, "expected <endpoint>/<account>/<container>/<blob name>")
        origin += "/" + segments[0]
        segments = segments[1:]
    if len(segments) < 2:
        raise InvalidPayloadTokenError(value, "the blob URL must name a container and a blob")
    container = segments[0]
    name = unquote("/".join(segments[1:]))
    _check_container(value, container)
    _check_blob_name(value, name)
    return BlobToken(2, container, name, origin)
