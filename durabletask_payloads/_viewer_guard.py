"""What the payload viewer lets in and what it sends back with every answer; no store here.

* **Host allow-list** (DNS rebinding): a web page on ``attacker.example`` whose
  name is made to resolve to 127.0.0.1 can reach the viewer from the victim's
  browser, but its requests say ``Host: attacker.example``. Only the address
  the request arrived on and the localhost names, on the port it arrived on,
  and the hosts given with ``--allowed-host``, are served; others get 421.
* **Origin**: a request that carries an ``Origin`` header (every cross-site
  ``fetch`` and form post does) must come from an allowed host too (403).
* **JSON only for POST**: a cross-site page can post ``text/plain`` or a form
  without a CORS preflight; it cannot post ``application/json``. Anything else
  gets 415.
* **CORS for /decode only, exact origins only** (``--cors-origin``): a dashboard on
  another origin may call ``POST /decode`` as it would a codec server; its
  preflight is answered, and its answers carry ``Access-Control-Allow-Origin``.
  No origin is allowed by default, no wildcard ever, and no other route.
* **Headers on every response**, errors included: ``nosniff``, a strict
  Content-Security-Policy with ``frame-ancestors 'none'``, ``X-Frame-Options:
  DENY``, ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` and
  ``Cross-Origin-Resource-Policy: same-origin``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "API_POLICY",
    "CORS_HEADERS",
    "LOCAL_NAMES",
    "SECURITY_HEADERS",
    "HostRules",
    "cors_origin",
    "origin_host",
    "page_policy",
    "parse_host",
    "request_host",
]

#: The names a browser on this machine uses for it; served on the port a request arrived on.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")

#: Content-Security-Policy of every response but the page: nothing may load, run or frame it.
API_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}

#: What a preflight from an allowed origin is told: JSON posts, with a bearer token if any.
CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Max-Age": "600",
}

_NAME = re.compile(r"[a-z0-9._~!$&'()*+,;=%-]+|[0-9a-f:.]+")  # a reg-name or an IP literal's text
_DEFAULT_PORTS = {"http": 80, "https": 443}


def page_policy(html: str) -> str:
    """Return the Content-Security-Policy of the page: its own inline script and style, by hash.

    The page's ``<script>`` and ``<style>`` blocks are allowed by their SHA-256, so
    nothing injected into the page (there is no known way, but payloads are
    attacker-controlled text) could run.
    """

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks)
        return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def parse_host(value: str, *, bare_ipv6: bool = False) -> tuple[str, int | None]:
    """Split ``name[:port]`` (or ``[v6]:port``) into a lower-case name and a port.

    Args:
        value: A Host header, or an ``--allowed-host`` entry.
        bare_ipv6: Accept an IPv6 address without brackets (``::1``), which a
            Host header cannot carry but a person may type.

    Raises:
        ValueError: *value* is not a host name or address with an optional port.

    """
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not text[end + 1 :].startswith(":")):
            raise ValueError(f"{value!r} is not host[:port]")
        name, port_text = text[1:end], text[end + 2 :]
    elif text.count(":") > 1:
        if not bare_ipv6:
            raise ValueError(f"{value!r} is not host[:port] (an IPv6 address needs brackets)")
        name, port_text = text, ""
    else:
        name, _, port_text = text.partition(":")
        if ":" in value and not port_text:
            raise ValueError(f"{value!r} has an empty port")
    name = name.lower().rstrip(".")
    if not name or not _NAME.fullmatch(name):
        raise ValueError(f"{value!r} is not host[:port]")
    if not port_text:
        return _canonical(name), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{value!r} has no valid port (1 to 65535)")
    return _canonical(name), int(port_text)


def _canonical(name: str) -> str:
    """Write an IP address one way (an IPv4-mapped IPv6 address as IPv4); leave names alone."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass(frozen=True)
class HostRules:
    """The hosts a viewer answers for: the local ones, and those it was told about.

    Attributes:
        extra: ``(name, port)`` pairs from ``--allowed-host``; a port of None
            matches any port.

    """

    extra: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> HostRules:
        """Build the rules from ``--allowed-host`` entries (``name``, ``name:port``, ``[v6]:port``).

        Raises:
            ValueError: An entry is not a host name or address with an optional port.

        """
        return cls(frozenset(parse_host(entry, bare_ipv6=True) for entry in entries))

    def allows(self, host: tuple[str, int], local: tuple[str, int] | None) -> bool:
        """Return whether *host* (name, effective port) is served, for a request that arrived on *local*.

        *local* is the address and port of the socket the request arrived on;
        None when unknown (a Unix socket), where localhost names on any port
        are served.
        """
        name, port = host
        if (name, port) in self.extra or (name, None) in self.extra:
            return True
        if local is None:
            return name in LOCAL_NAMES
        local_address, local_port = local
        return port == local_port and (name in LOCAL_NAMES or name == _canonical(local_address))

    def describe(self, local_port: int | None) -> str:
        """Return the allowed hosts as text, for messages."""
        port = f":{local_port}" if local_port else ""
        shown = [f"localhost{port}", f"127.0.0.1{port}", f"[::1]{port}", "the address it listens on"]
        for name, extra_port in sorted(self.extra, key=lambda item: (item[0], item[1] or 0)):
            literal = f"[{name}]" if ":" in name else name
            shown.append(literal + (f":{extra_port}" if extra_port else ""))
        return ", ".join(shown)


def request_host(header: str | None, scheme: str = "http") -> tuple[str, int]:
    """Parse a Host header into (name, effective port).

    Raises:
        ValueError: The header is missing or not ``host[:port]``.

    """
    if not header:
        raise ValueError("the request has no Host header")
    name, port = parse_host(header)
    return name, port if port is not None else _DEFAULT_PORTS.get(scheme, 80)


def origin_host(origin: str) -> tuple[str, int]:
    """Parse an Origin header (``scheme://host[:port]``) into (name, effective port).

    Raises:
        ValueError: The origin is ``null`` (a sandboxed frame, a file) or not an http(s) origin.

    """
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc or parts.path or "@" in parts.netloc:
        raise ValueError(f"the request's Origin {origin[:100]!r} is not an http(s) origin")
    name, port = parse_host(parts.netloc)
    return name, port if port is not None else _DEFAULT_PORTS[parts.scheme]


def cors_origin(entry: str) -> str:
    """Check a ``--cors-origin`` entry and return it as browsers write an Origin header.

    ``HTTPS://Dash.Example:443`` becomes ``https://dash.example``; the header a
    browser sends is then compared with it exactly.

    Raises:
        ValueError: *entry* is not ``scheme://host[:port]`` with scheme http or
            https and nothing after the port (no path, not even ``/``), or is a wildcard.

    """
    text = entry.strip()
    if text in ("*", "null"):
        raise ValueError(f"{entry!r} is not allowed: name each origin, e.g. https://dashboard.example")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.netloc
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or text.endswith(("?", "#"))
    ):
        raise ValueError(
            f"{entry!r} is not an origin: write scheme://host[:port] with nothing after it, "
            "e.g. https://dashboard.example or http://localhost:3000"
        )
    name, port = parse_host(parts.netloc)
    literal = f"[{name}]" if ":" in name else name
    return f"{scheme}://{literal}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")
