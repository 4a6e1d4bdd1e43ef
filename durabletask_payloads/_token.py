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
from urllib.parse import quote, unquote, urlsplit

from ._blob_addressing import EMULATOR_PORTS, account_endpoint, endpoint_origin, is_path_style
from ._exceptions import InvalidPayloadTokenError
from ._redact import redact

__all__ = [
    "EMULATOR_PORTS",
    "BlobToken",
    "KeyToken",
    "account_endpoint",
    "content_name",
    "format_blob_token_v1",
    "format_blob_token_v2",
    "format_redis_token",
    "format_s3_token",
    "format_simple_token",
    "is_guid_v4_name",
    "is_path_style",
    "is_s3_bucket_name",
    "key_prefix_problem",
    "names_content",
    "parse_blob_token",
    "parse_redis_token",
    "parse_s3_token",
    "parse_simple_token",
    "sha256_hex",
]

BLOB_V1_PREFIX = "blob:v1:"
BLOB_V2_PREFIX = "blob:v2:"
S3_V1_PREFIX = "s3:v1:"
REDIS_V1_PREFIX = "redis:v1:"

#: 32 lowercase hex characters: a .NET GUID without dashes, and what Java requires.
_NAME_RE = re.compile(r"[0-9a-f]{32}")
#: Azure container names: 3-63 of [a-z0-9-], starting and ending alphanumeric, no "--".
_CONTAINER_RE = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_BLOB_NAME = 1024
#: S3 bucket names: 3-63 of [a-z0-9.-], starting and ending alphanumeric.
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: Key prefixes of the S3 and Redis stores: AWS's "safe" key characters, plus ':' (Redis's separator).
_KEY_PREFIX_RE = re.compile(r"[A-Za-z0-9!_.*'():/-]*")
#: S3's limit on a key (in UTF-8 bytes; prefixes are ASCII, so characters), kept for Redis too.
_MAX_KEY = 1024
_MAX_TOKEN = 4096
#: No token of any store is longer than this; a longer value is always data.
MAX_TOKEN_LENGTH = _MAX_TOKEN

# Domain separation, so a name can never collide with a hash computed for another purpose.
_NAME_DOMAIN = b"durabletask-payloads/name/v1\n"


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of *data* as 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


def _hashed_name(payload_sha256: str, instance_id: str | None) -> str:
    scope = b"-" if instance_id is None else b"i" + instance_id.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(_NAME_DOMAIN + len(scope).to_bytes(8, "big") + scope + payload_sha256.encode())
    return digest.hexdigest()[:32]


def content_name(payload_sha256: str, instance_id: str | None) -> str:
    """Name a stored payload after its content and its instance scope.

    Identical payloads of one instance get one name (and so one stored object);
    the same payload written by two instances gets two, so deleting one
    instance's payloads never removes another's. The result is 32 lowercase hex
    characters, the form .NET writes and Java requires, and never has the shape
    of a version-4 GUID (what .NET and Java write): a reader tells the names
    this package wrote, which certify their content, from theirs, which do not.

    Args:
        payload_sha256: :func:`sha256_hex` of the payload bytes.
        instance_id: The orchestration or entity instance the payload belongs to.

    """
    name = _hashed_name(payload_sha256, instance_id)
    if is_guid_v4_name(name):
        # 1 name in 64: change the version digit, so the name cannot pass for a random GUID.
        name = name[:12] + "c" + name[13:]
    return name


def is_guid_v4_name(name: str) -> bool:
    """Return whether *name* is 32 hex characters shaped like a version-4 GUID.

    That is what .NET (``Guid.NewGuid():N``) and Java (``UUID.randomUUID()``)
    name their blobs: version digit ``4`` (13th character), variant ``8``-``b``
    (17th). :func:`content_name` never returns such a name.
    """
    return _NAME_RE.fullmatch(name) is not None and name[12] == "4" and name[16] in "89ab"


def names_content(name: str, payload_sha256: str, instance_id: str | None) -> bool:
    """Return whether *name* is the content name of a payload with this hash and instance.

    Names written before :func:`content_name` avoided the GUID shape (the plain
    hash, GUID-shaped or not) are accepted too.
    """
    hashed = _hashed_name(payload_sha256, instance_id)
    return name == hashed or name == content_name(payload_sha256, instance_id)


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
        account_url: For v2 tokens, the account endpoint named by the URL, as
            :func:`account_endpoint` writes it (for path-style URLs, including
            the account segment).

    """

    version: int
    container: str
    blob_name: str
    account_url: str | None = None


def format_blob_token_v1(container: str, blob_name: str) -> str:
    """Write ``blob:v1:<container>:<blob_name>``."""
    return f"{BLOB_V1_PREFIX}{container}:{blob_name}"


def format_blob_token_v2(account_url: str, container: str, blob_name: str) -> str:
    """Write ``blob:v2:<account_url>/<container>/<blob_name>``: the blob's URL, never with a query.

    *account_url* is reduced to its account endpoint (:func:`account_endpoint`):
    whatever query (a SAS) it carried stays out of the token.

    Raises:
        ValueError: *account_url* is not an account endpoint.

    """
    return f"{BLOB_V2_PREFIX}{account_endpoint(account_url)}/{container}/{quote(blob_name, safe='/')}"


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


def parse_blob_token(value: str) -> BlobToken:
    """Parse a ``blob:v1:`` or ``blob:v2:`` token as the .NET and Java SDKs write them.

    The prefix is case-sensitive. A v1 token splits at the first ``:`` after the
    prefix into container and blob name. A v2 token is an ``http(s)`` blob URL
    without query or fragment (no SAS), naming a container and a blob, with the
    account in the path or in the host as ``BlobUriBuilder`` decides
    (:func:`is_path_style`).

    Raises:
        InvalidPayloadTokenError: *value* is not a well-formed blob token, or its
            blob name could address something outside its container. A
            credential in the refused text is masked in the error.

    """
    if len(value) > _MAX_TOKEN:
        raise InvalidPayloadTokenError(redact(value), f"a token is at most {_MAX_TOKEN:,} characters")
    if value.startswith(BLOB_V1_PREFIX):
        container, sep, name = value[len(BLOB_V1_PREFIX) :].partition(":")
        if not sep or not container or not name:
            raise InvalidPayloadTokenError(value, "expected blob:v1:<container>:<blob name>")
        _check_container(value, container)
        _check_blob_name(value, name)
        return BlobToken(1, container, name)
    if value.startswith(BLOB_V2_PREFIX):
        try:
            return _parse_v2(value)
        except InvalidPayloadTokenError as exc:
            # A hostile or legacy token may quote a SAS: never repeat it.
            raise InvalidPayloadTokenError(redact(value), exc.reason) from None
    raise InvalidPayloadTokenError(value, "expected a token starting with 'blob:v1:' or 'blob:v2:'")


def _parse_v2(value: str) -> BlobToken:
    url = value[len(BLOB_V2_PREFIX) :]
    if any(c.isspace() for c in url):
        raise InvalidPayloadTokenError(value, "a blob URL cannot contain whitespace")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidPayloadTokenError(value, "expected blob:v2:<blob URL>") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidPayloadTokenError(value, "expected blob:v2:<http(s) blob URL>")
    if parts.query or parts.fragment or parts.username or parts.password or "?" in url or "#" in url:
        raise InvalidPayloadTokenError(
            value, "a v2 token's URL must not carry a query, fragment or credentials"
        )
    segments = parts.path.split("/")[1:]  # the path starts with "/"
    origin = endpoint_origin(parts.scheme, host, port)
    if is_path_style(host, port):
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


# -- S3 and Redis: tokens that carry the whole key --------------------------------------


@dataclass(frozen=True)
class KeyToken:
    """A parsed S3 or Redis token: where the payload is, split into prefix and content name.

    Attributes:
        bucket: The S3 bucket (None for Redis).
        prefix: The key prefix the writing store was configured with.
        name: The 32-hex content name that ends the key.

    """

    bucket: str | None
    prefix: str
    name: str

    @property
    def key(self) -> str:
        """The whole key: prefix and name."""
        return self.prefix + self.name


def is_s3_bucket_name(name: str) -> bool:
    """Return whether *name* is a valid S3 bucket name (the general-purpose bucket rules).

    3 to 63 of lowercase letters, digits, ``.`` and ``-``, starting and ending
    with a letter or digit, without ``..``, ``.-`` or ``-.``, and not shaped
    like an IPv4 address.
    """
    if _BUCKET_RE.fullmatch(name) is None or any(pair in name for pair in ("..", ".-", "-.")):
        return False
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return True
    return False


def key_prefix_problem(prefix: str) -> str | None:
    """Say why *prefix* followed by a content name cannot be a payload key, or None if it can.

    A prefix holds at most 992 characters (the key then fits S3's 1,024), only
    letters, digits and ``! - _ . * ' ( ) : /``, and no empty, ``.`` or ``..``
    path segment: such segments are normalised away by HTTP clients and would
    let a key address something outside the prefix.
    """
    if len(prefix) > _MAX_KEY - 32:
        return f"it is longer than {_MAX_KEY - 32} characters"
    if _KEY_PREFIX_RE.fullmatch(prefix) is None:
        return "it may hold only letters, digits and ! - _ . * ' ( ) : /"
    # The name that follows stands in for the last segment.
    if any(part in ("", ".", "..") for part in (prefix + "x").split("/")):
        return "it has an empty, '.' or '..' path segment (or starts with '/')"
    return None


def _parse_key(value: str, key: str, bucket: str | None) -> KeyToken:
    prefix, name = key[:-32], key[-32:]
    if _NAME_RE.fullmatch(name) is None:
        raise InvalidPayloadTokenError(value, "the key must end in 32 lowercase hex characters")
    problem = key_prefix_problem(prefix)
    if problem is not None:
        raise InvalidPayloadTokenError(value, f"the key prefix is refused: {problem}")
    return KeyToken(bucket, prefix, name)


def format_s3_token(bucket: str, key: str) -> str:
    """Write ``s3:v1:<bucket>:<key>``."""
    return f"{S3_V1_PREFIX}{bucket}:{key}"


def parse_s3_token(value: str) -> KeyToken:
    """Parse ``s3:v1:<bucket>:<key>``, where the key is a prefix and 32 hex characters.

    Only the shape is checked here; whether the bucket and the prefix are ones
    a store may read is up to the store.

    Raises:
        InvalidPayloadTokenError: *value* is not such a token: an invalid bucket
            name, a key that does not end in a content name, or a prefix that
            :func:`key_prefix_problem` refuses.

    """
    if len(value) > _MAX_TOKEN:
        raise InvalidPayloadTokenError(value, f"a token is at most {_MAX_TOKEN:,} characters")
    if not value.startswith(S3_V1_PREFIX):
        raise InvalidPayloadTokenError(value, f"expected a token starting with {S3_V1_PREFIX!r}")
    bucket, sep, key = value[len(S3_V1_PREFIX) :].partition(":")
    if not sep:
        raise InvalidPayloadTokenError(value, "expected s3:v1:<bucket>:<key>")
    if not is_s3_bucket_name(bucket):
        raise InvalidPayloadTokenError(value, "the bucket is not a valid S3 bucket name")
    return _parse_key(value, key, bucket)


def format_redis_token(key: str) -> str:
    """Write ``redis:v1:<key>``."""
    return f"{REDIS_V1_PREFIX}{key}"


def parse_redis_token(value: str) -> KeyToken:
    """Parse ``redis:v1:<key>``, where the key is a prefix and 32 hex characters.

    Raises:
        InvalidPayloadTokenError: *value* is not such a token (the same key rules
            as :func:`parse_s3_token`).

    """
    if len(value) > _MAX_TOKEN:
        raise InvalidPayloadTokenError(value, f"a token is at most {_MAX_TOKEN:,} characters")
    if not value.startswith(REDIS_V1_PREFIX):
        raise InvalidPayloadTokenError(value, f"expected a token starting with {REDIS_V1_PREFIX!r}")
    return _parse_key(value, value[len(REDIS_V1_PREFIX) :], None)
