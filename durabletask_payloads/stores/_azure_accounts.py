"""The storage accounts a blob store talks to: their endpoints, credentials and SDK clients.

The store's own account is written and read; accounts listed in
``allowed_accounts`` are only read. Every client is built the same way (our
retries, not the SDK's; bounded GETs; a connection pool sized for a batch), and
every secret a store is given is registered for redaction before the first
request.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import requests
import requests.adapters
import requests.utils
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobServiceClient, ExponentialRetry
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient
from azure.storage.blob.aio import ExponentialRetry as AsyncExponentialRetry

from .._blob_addressing import account_endpoint
from .._concurrency import PerLoop
from .._redact import strip_url
from ._azure_http import BlobHttp, direct_http
from ._azure_options import BlobAccount, BlobPayloadStoreOptions

__all__ = [
    "Account",
    "ContainerClients",
    "Location",
    "aio_native",
    "creating_container",
    "new_service_client",
    "other_account",
    "own_endpoint",
    "release_connections",
    "secrets_of",
]

_log = logging.getLogger("durabletask_payloads.stores.azure_blob")

# The first GET of a download is bounded, so an oversized blob is refused before it is read whole.
GET_CHUNK = 4 * 1024 * 1024


class ContainerClients:
    """One container client per container name, made on first use and then shared.

    The SDK builds its whole generated client (and a dictionary of every model
    class) for each ``get_container_client`` call; per request that was about a
    tenth of a transfer's CPU. Clients are thread-safe, so one per name serves
    every thread.
    """

    def __init__(self, service: Any) -> None:
        self._service = service
        self._clients: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """Return the client of container *name*."""
        client = self._clients.get(name)
        if client is None:
            # setdefault is atomic: two threads racing keep one client.
            client = self._clients.setdefault(name, self._service.get_container_client(name))
        return client


class Account(NamedTuple):
    """A storage account a store reads: its endpoint, readable containers and clients."""

    endpoint: str
    readable: frozenset[str]
    sync: Any
    aio_clients: PerLoop[Any]
    aio_native: bool
    containers: ContainerClients  # of the sync client
    aio_containers: PerLoop[ContainerClients]  # of this loop's async client
    direct: BlobHttp | None  # the sync uploads' and downloads' path past the SDK, where it can sign


def new_account(
    endpoint: str,
    readable: frozenset[str],
    sync: Any,
    aio_clients: PerLoop[Any],
    native: bool,
    options: BlobPayloadStoreOptions,
) -> Account:
    """Make an :class:`Account` whose container clients are made on first use."""
    return Account(
        endpoint,
        readable,
        sync,
        aio_clients,
        native,
        ContainerClients(sync),
        PerLoop(lambda: ContainerClients(aio_clients.get())),
        direct_http(
            sync,
            connect_timeout=options.connect_timeout_seconds,
            read_timeout=options.read_timeout_seconds,
            pool_size=max(10, options.max_concurrency),
            ca_bundle=_ca_bundle(),
            proxied=_proxied(sync),
        )
        if options.direct_transfers
        else None,
    )


class Location(NamedTuple):
    """Where a token's payload is: container and blob name, in which account."""

    container: str
    name: str
    account: Account


def new_service_client(
    options: BlobPayloadStoreOptions,
    *,
    asynchronous: bool,
    account_url: str | None = None,
    credential: Any = None,
) -> Any:
    """Make a service client for the account of *options*, or for *account_url* with *credential*."""
    retry = AsyncExponentialRetry if asynchronous else ExponentialRetry
    kwargs: dict[str, Any] = {
        # Retries are ours (_retry.py decides what is transient): the SDK's are off.
        "retry_policy": retry(retry_total=0),
        "connection_timeout": options.connect_timeout_seconds,
        "read_timeout": options.read_timeout_seconds,
        "max_single_get_size": GET_CHUNK,
        "max_chunk_get_size": GET_CHUNK,
    }
    if options.api_version:
        kwargs["api_version"] = options.api_version
    session: requests.Session | None = None
    if not asynchronous:
        # requests keeps 10 connections per host by default; a batch runs up to max_concurrency
        # transfers at once, and extra connections would be opened and thrown away each time.
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, options.max_concurrency))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        kwargs["transport"] = RequestsTransport(
            session=session,
            session_owner=True,
            # A transport given to a client keeps its own timeouts: set them here too.
            connection_timeout=options.connect_timeout_seconds,
            read_timeout=options.read_timeout_seconds,
            # The SDK passes its own verify setting with every request, which outranks the session's.
            connection_verify=_ca_bundle() or True,
        )
    client_type = AsyncBlobServiceClient if asynchronous else BlobServiceClient
    if account_url is not None:
        client = client_type(account_url, credential=credential, **kwargs)
    elif options.connection_string is not None:
        client = client_type.from_connection_string(options.connection_string, **kwargs)
    else:
        credential = (
            options.async_credential if asynchronous and options.async_credential else options.credential
        )
        assert options.account_url is not None  # checked by the options
        client = client_type(options.account_url, credential=credential, **kwargs)
    if session is not None:
        _read_environment_once(session, str(client.url))
    return client


def release_connections(client: Any) -> None:
    """Close the idle connections of a sync client made by :func:`new_service_client`, keeping it usable.

    ``client.close()`` would end the client: the SDK's transport then refuses
    every request with a bare ValueError, or, if it had never sent one, makes a
    default session that forgets the pool size and proxy settings made here.
    Closing the session only empties its connection pools, which refill on the
    next request.
    """
    session = _session_of(client)
    if session is not None:
        session.close()


def _session_of(client: Any) -> requests.Session | None:
    """Return the requests session of a sync client made by :func:`new_service_client`, or None."""
    session = getattr(getattr(getattr(client, "_config", None), "transport", None), "session", None)
    return session if isinstance(session, requests.Session) else None


def _proxied(client: Any) -> bool:
    """Whether *client*'s session goes through a proxy: the environment it read once (or unknown)."""
    session = _session_of(client)
    return session is None or bool(session.proxies)


def _read_environment_once(session: requests.Session, url: str) -> None:
    """Apply the proxy environment to *session* now, instead of on every request.

    requests re-reads the whole environment (every ``*_proxy`` variable, the
    netrc file) for each request of a session that trusts it: a fifth of the
    CPU of a small transfer. Every request of this session goes to one
    endpoint, so its proxy (``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY``
    honoured) is the same each time, and so is the CA bundle (:func:`_ca_bundle`):
    both are read when the store is made. A netrc file is not consulted: the
    SDK authenticates every request itself.
    """
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(url))


def _ca_bundle() -> str | None:
    """Return ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``, read as requests reads them."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")


def own_endpoint(client: Any, options: BlobPayloadStoreOptions) -> str:
    """Return the account endpoint of *client*, without the SAS the SDK keeps in its URL.

    Raises:
        ValueError: ``token_version="v2"`` and the endpoint is one that
            ``BlobUriBuilder`` would split differently (a host name on a port
            that is not an emulator's, with the account in the path).

    """
    url = strip_url(str(client.url))
    try:
        return account_endpoint(url)
    except ValueError as exc:
        if options.token_version == "v2":  # noqa: S105 - a format version, not a secret
            raise ValueError(
                "token_version='v2' writes the blob URL into tokens, and .NET's BlobUriBuilder must "
                f"read it the same way: {exc}. Use token_version='v1' with this endpoint."
            ) from None
        # v1 tokens do not name the account; a v2 token for this endpoint then names another.
        return url.rstrip("/")


def other_account(
    account: BlobAccount, options: BlobPayloadStoreOptions, own_client: Any, readable: frozenset[str]
) -> Account:
    """Clients for an allowed other account, with its own credential or the store's (*own_client*'s)."""
    if account.credential is None:
        own = options.credential
        sync_credential = own if own is not None else getattr(own_client, "credential", None)
        async_credential = options.async_credential or sync_credential
    else:
        sync_credential = account.credential
        async_credential = account.async_credential or account.credential
    url = account.account_url
    return new_account(
        url,
        frozenset(account.containers) if account.containers else readable,
        new_service_client(options, asynchronous=False, account_url=url, credential=sync_credential),
        PerLoop(
            lambda: new_service_client(
                options, asynchronous=True, account_url=url, credential=async_credential
            )
        ),
        aio_native(sync_credential, None if async_credential is sync_credential else async_credential),
        options,
    )


def aio_native(credential: Any, async_credential: Any) -> bool:
    """Whether the aio client can authenticate itself (else async calls run the sync client in a thread)."""
    if async_credential is not None:
        return True
    return not (hasattr(credential, "get_token") and not inspect.iscoroutinefunction(credential.get_token))


def secrets_of(connection_string: str | None, credential: Any) -> Iterator[str | None]:
    """Yield the secret strings in a connection string and a credential, for redaction."""
    sas: list[str] = []
    if connection_string:
        for part in connection_string.split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "accountkey":
                yield value
            elif key.strip().lower() == "sharedaccesssignature":
                sas.append(value)
    if isinstance(credential, str):
        sas.append(credential)
    elif isinstance(credential, dict):
        yield credential.get("account_key")
    else:
        yield getattr(credential, "account_key", None)  # the SDK's StorageSharedKeyCredential
        yield getattr(getattr(credential, "named_key", None), "key", None)  # AzureNamedKeyCredential
        signature = getattr(credential, "signature", None)  # AzureSasCredential
        if isinstance(signature, str):
            sas.append(signature)
    for token in sas:
        yield from parse_qs(token.lstrip("?")).get("sig", ())


@contextlib.contextmanager
def creating_container() -> Iterator[None]:
    """Create-if-missing: "already exists" is success, and so is 403, what a container-scoped SAS gets.

    Such a SAS may write blobs but not create containers; when the container is
    really missing, the upload itself then fails and says so.
    """
    try:
        yield
    except ResourceExistsError:
        pass
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise
        _log.debug("Not allowed to create the container (HTTP 403); assuming it exists")
