"""The sync path of payload transfers that skips the SDK's pipeline: Put Blob and Get Blob, signed here.

Why: on this project's 2-core machine the SDK's pipeline (its policies, the
generated serializers, requests' session machinery) cost about 2 ms of CPU per
300 KiB transfer more than the same request sent here over a kept-alive
``http.client`` connection: 4.6 against 2.5 ms per upload, gzip and hashing
included (``docs/performance.md``, "The direct path"). At load, a worker and a
client share one GIL, so that CPU is wall time.

Only what this module can do exactly as the SDK does takes this path: the sync
``upload_blob`` and ``download_blob`` of an account signed by an account key
(Shared Key) or a SAS, reached without a proxy. Microsoft Entra ID credentials,
proxies, the async methods and every other request (container creation,
properties, deletion, listing) stay on the SDK. Failures are raised as the
SDK's own exception types with its status and error code, so the driver's
flows and their mapping (``failure`` in ``_azure_driver.py``) read both paths
the same way. Nothing here logs, and no message carries a URL: a SAS never
leaves the request line.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import sys
import threading
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from .._version import __version__
from ._azure_rest import SharedKey, error_for, shared_key_signature

__all__ = ["BlobHttp", "Reply", "direct_http"]

_USER_AGENT = f"durabletask-payloads/{__version__} (direct) Python/{'.'.join(map(str, sys.version_info[:3]))}"


@dataclass
class Reply:
    """A response read whole: its status, reason, headers and body."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


def _readable(sock: Any) -> bool:
    """Whether an idle socket can be read: the server closed it (or sent garbage), as urllib3 checks."""
    poller = select.poll()  # not select(): it fails on descriptors past 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Pool:
    """Kept-alive connections to one host, each used by one request at a time."""

    def __init__(self, make: Any, size: int) -> None:
        self._make = make
        self._size = size
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def take(self) -> tuple[http.client.HTTPConnection, bool]:
        """Return a connection and whether it is new; an idle one the server has closed is dropped."""
        with self._lock:
            if self._pid != os.getpid():
                # Forked: the parent's connections are not ours to use. Closing our copies of
                # their descriptors (no shutdown) leaves the parent's connections as they are.
                for conn in self._idle:
                    conn.close()
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                conn = self._idle.pop()
                if conn.sock is not None and not _readable(conn.sock):
                    return conn, False
                conn.close()
        return self._make(), True

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._size and self._pid == os.getpid():
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class BlobHttp:
    """Put Blob and Get Blob on one account's endpoint, signed by a Shared Key or a SAS.

    Args:
        endpoint: The account's blob endpoint (path style keeps the account in the path), no query.
        key: The account key, or None with *sas*.
        sas: A SAS query string (no ``?``), or None with *key*.
        api_version: The ``x-ms-version`` every request carries (the SDK client's).
        connect_timeout: Seconds allowed to connect.
        read_timeout: Seconds allowed between bytes of a response.
        pool_size: Idle connections kept.
        ca_bundle: A CA bundle for https (None: certifi's, as requests uses).

    """

    def __init__(
        self,
        endpoint: str,
        *,
        key: SharedKey | None,
        sas: str | None,
        api_version: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        ca_bundle: str | None,
    ) -> None:
        parts = urlsplit(endpoint)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._key = key
        self._sas = sas
        self._version = api_version
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._context: ssl.SSLContext | None = None
        if self._https:
            import certifi  # requests' own dependency: its default CA bundle

            bundle = ca_bundle or certifi.where()
            # REQUESTS_CA_BUNDLE may name a directory of certificates, as requests accepts.
            if os.path.isdir(bundle):
                self._context = ssl.create_default_context(capath=bundle)
            else:
                self._context = ssl.create_default_context(cafile=bundle)
        self._pool = _Pool(self._new_connection, pool_size)

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)

    def send(
        self, method: str, container: str, name: str, headers: dict[str, str], body: bytes = b""
    ) -> Reply:
        """Send one request for blob *name* of *container*; return its reply, refusals raised.

        Raises:
            ServiceRequestError: Could not connect (refused, timed out, TLS).
            ServiceResponseError: The connection broke or timed out after the request was sent.
            HttpResponseError: Its subclass for the status and error code, as the SDK raises them.

        """
        path = f"{self._base}/{quote(container)}/{quote(name, safe='~/')}"
        headers = {
            **headers,
            "x-ms-version": self._version,
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-client-request-id": str(uuid.uuid4()),
            "User-Agent": _USER_AGENT,
        }
        if method == "PUT":
            headers["Content-Length"] = str(len(body))
        if self._key is not None:
            headers["Authorization"] = shared_key_signature(self._key, method, path, headers)
        target = f"{path}?{self._sas}" if self._sas else path
        conn, new = self._pool.take()
        try:
            if new:
                conn.connect()
                assert conn.sock is not None
                conn.sock.settimeout(self._read_timeout)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ServiceRequestError(
                f"could not connect to {self._host}:{self._port}: {type(exc).__name__}"
            ) from None
        try:
            conn.request(method, target, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ServiceResponseError(
                f"no complete response from {self._host}:{self._port}: {type(exc).__name__}"
            ) from None
        if response.will_close:
            conn.close()
        else:
            self._pool.give_back(conn)
        reply = Reply(response.status, response.reason, response.headers, data)
        if reply.status >= 300 and not (method == "GET" and reply.status == 416):
            raise error_for(reply.status, reply.headers.get("x-ms-error-code"), reply.reason)
        return reply

    def close(self) -> None:
        """Close the idle connections; the next request opens a new one."""
        self._pool.close()


def _sas_of(url: str, credential: Any) -> str | None:
    """Return the SAS a client signs with: in its URL's query, or an ``AzureSasCredential``."""
    query = urlsplit(url).query
    if query and any(name == "sig" for name, _ in parse_qsl(query)):
        return query
    signature = getattr(credential, "signature", None)
    if isinstance(signature, str) and signature:
        return signature.lstrip("?")
    return None


def direct_http(
    service: Any,
    *,
    connect_timeout: float,
    read_timeout: float,
    pool_size: int,
    ca_bundle: str | None,
    proxied: bool,
) -> BlobHttp | None:
    """Return a :class:`BlobHttp` for a sync ``BlobServiceClient``'s account, or None for the SDK only.

    It can when the client signs with an account key or a SAS, over http(s), and no proxy is
    set for its endpoint (*proxied*).
    """
    if proxied:
        return None
    credential = getattr(service, "credential", None)
    if hasattr(credential, "get_token"):
        return None  # Microsoft Entra ID: the SDK's bearer policy refreshes tokens and answers challenges
    url = str(service.url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    account_key = getattr(credential, "account_key", None)
    account_name = getattr(credential, "account_name", None)
    key = None
    if isinstance(account_key, str) and isinstance(account_name, str):
        key = SharedKey(account_name, base64.b64decode(account_key))
    sas = None if key is not None else _sas_of(url, credential)
    if key is None and sas is None:
        return None  # anonymous, or a credential this path does not know
    return BlobHttp(
        f"{parts.scheme}://{parts.netloc}{parts.path}",
        key=key,
        sas=sas,
        api_version=str(service.api_version),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        pool_size=pool_size,
        ca_bundle=ca_bundle,
    )
