"""How a blob URL names its account, container and blob: the Azure SDK's ``BlobUriBuilder`` rules.

.NET's v2 tokens are blob URLs, and .NET splits them with ``BlobUriBuilder``:
the account is in the path (``/<account>/<container>/<blob>``, "path style")
for IP hosts and emulator ports, and in the host name otherwise. Parsing a
token the same way is what makes .NET's tokens and ours mean the same blob.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ._redact import strip_url

__all__ = ["EMULATOR_PORTS", "account_endpoint", "endpoint_origin", "is_path_style"]

#: Ports the Azure SDK's ``BlobUriBuilder`` takes for an emulator's (Azurite's and the older
#: storage emulator's): a URL on one of them is path style, whatever its host name.
EMULATOR_PORTS = frozenset(
    (*range(10000, 10005), *range(10100, 10105), *range(11000, 11005), *range(11100, 11105))
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_path_style(host: str, port: int | None) -> bool:
    """Whether a blob URL on *host* and *port* puts the account in its path, as ``BlobUriBuilder`` decides.

    Path style (``/<account>/<container>/<blob>``) when the port is an emulator
    port (:data:`EMULATOR_PORTS`), or when the host is an IP address written
    with dots (an IPv4 address, or an IPv6 one embedding it: .NET's test);
    host style (``<account>.blob...``) otherwise, ``localhost`` included.
    """
    if port in EMULATOR_PORTS:
        return True
    if "." not in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def endpoint_origin(scheme: str, host: str, port: int | None) -> str:
    """Return ``scheme://host[:port]``, host lowercased (IPv6 in brackets), a default port dropped."""
    host = host.lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def account_endpoint(url: str) -> str:
    """Return the account endpoint of a storage account URL, in the form v2 tokens carry.

    User info, query (a SAS) and fragment are dropped, scheme and host
    lowercased, a default port and trailing ``/`` removed. The result is what
    :func:`parse_blob_token` gives as ``account_url`` for blobs of that account,
    so the two compare equal.

    Raises:
        ValueError: *url* is not an http(s) URL that ``BlobUriBuilder`` reads as an
            account endpoint: a path-style URL needs exactly its account segment,
            a host-style one no path. The message never quotes the query.

    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"{strip_url(url)!r} is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"{strip_url(url)!r} is not an http(s) URL")
    origin = endpoint_origin(scheme, host, port)
    segments = [s for s in parts.path.split("/") if s]
    if is_path_style(host, port):
        if len(segments) != 1:
            raise ValueError(
                f"{origin} is addressed path style (an IP address or an emulator port), so the account "
                f"URL must be {origin}/<account>, got {strip_url(url)!r}"
            )
        return f"{origin}/{segments[0]}"
    if segments:
        raise ValueError(
            f"{origin} is addressed host style (<account>.blob...: not an IP address, not an emulator "
            f"port), so the account URL has no path, got {strip_url(url)!r}"
        )
    return origin
