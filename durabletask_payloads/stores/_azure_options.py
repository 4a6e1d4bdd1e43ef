"""Settings of the Azure Blob store (no Azure import: usable before the extra is installed)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from .._blob_addressing import account_endpoint
from .._deprecation import renamed_fields
from .._options import (
    RemoteStoreOptions,
    check_bool,
    check_optional_str,
    check_timeouts,
    check_type,
    type_error,
)
from .._redact import strip_url

__all__ = ["BlobAccount", "BlobPayloadStoreOptions"]

_CONTAINER_RE = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
#: Encryption scope names: 3-63 of lowercase letters, digits and single dashes between them.
_SCOPE_RE = re.compile(r"(?!-)(?!.*--)[a-z0-9-]{3,63}(?<!-)")


def _check_container(name: str, value: object) -> str:
    check_type(name, value, str, "a container name (a string)")
    assert isinstance(value, str)
    if _CONTAINER_RE.fullmatch(value) is None:
        raise ValueError(
            f"{name} must be a valid Azure container name (3-63 characters: lowercase letters, digits and "
            f"single hyphens, starting and ending with a letter or digit), got {value!r}"
        )
    return value


def _check_containers(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list, set, frozenset)):
        raise type_error(name, "a collection of container names (tuple, list or set)", value)
    return tuple(_check_container(name, item) for item in value)


def _split_sas_url(name: str, url: object) -> tuple[str, str | None]:
    """Split an account URL into the URL without its query and the query (a SAS), never echoing the query."""
    check_type(name, url, str, "an http(s) URL (a string)")
    assert isinstance(url, str)
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"{name} must be an http(s) URL, got {strip_url(url)!r}")
    try:
        parts = urlsplit(url)
        has_user = parts.username is not None
    except ValueError:
        raise ValueError(f"{name} is not a valid URL: {strip_url(url)!r}") from None
    if has_user or parts.fragment:
        raise ValueError(f"{name} must not carry user info or a fragment: {strip_url(url)!r}")
    return strip_url(url), parts.query or None


@dataclass(frozen=True)
class BlobAccount:
    """Another storage account whose ``blob:v2:`` tokens a store may read (cross-account reads).

    A v2 token names its account; by default a store reads only its own, as a
    token is data from the backend, not a permission. List an account here to
    read its payloads too, for example those of .NET workers writing to another
    account. Reads only: this store always writes to its own account.

    Attributes:
        account_url: The account's blob endpoint, e.g. ``https://other.blob.core.windows.net``
            or, path style, ``http://127.0.0.1:10000/otheraccount``. No query: give a SAS
            as ``credential``. Normalised to the form v2 tokens carry.
        credential: The credential for that account: an azure-identity credential,
            an ``AzureNamedKeyCredential``, or a SAS string. None (the default) uses
            the store's own credential, which only works across accounts for
            Microsoft Entra ID credentials (an account key or a SAS is valid for one
            account only).
        async_credential: The ``azure.identity.aio`` twin of ``credential``, for the
            async methods (as :attr:`BlobPayloadStoreOptions.async_credential`).
        containers: The containers of that account that may be read. Empty (the
            default) means the store's own ``container_name`` and ``allowed_containers``.

    """

    account_url: str
    credential: Any = field(default=None, repr=False)
    async_credential: Any = field(default=None, repr=False)
    containers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        url, query = _split_sas_url("BlobAccount.account_url", self.account_url)
        if query is not None:
            raise ValueError(
                f"BlobAccount.account_url must not carry a query ({url}?...): give a SAS as credential="
            )
        try:
            endpoint = account_endpoint(url)
        except ValueError as exc:
            raise ValueError(f"BlobAccount.account_url: {exc}") from None
        if self.async_credential is not None and self.credential is None:
            raise ValueError(
                f"BlobAccount({endpoint!r}): async_credential needs its sync twin as credential (the sync "
                "methods read too); leave both unset to use the store's own credentials"
            )
        object.__setattr__(self, "account_url", endpoint)
        object.__setattr__(self, "containers", _check_containers("BlobAccount.containers", self.containers))


def _accounts(value: object) -> tuple[BlobAccount, ...]:
    if isinstance(value, (str, BlobAccount)) or not isinstance(value, Iterable):
        raise type_error("allowed_accounts", "a collection of BlobAccount or account URLs", value)
    accounts: list[BlobAccount] = []
    for item in value:
        if isinstance(item, str):
            item = BlobAccount(item)
        elif not isinstance(item, BlobAccount):
            raise type_error("allowed_accounts items", "BlobAccount or account URLs (strings)", item)
        if any(known.account_url.lower() == item.account_url.lower() for known in accounts):
            raise ValueError(f"allowed_accounts lists {item.account_url} twice")
        accounts.append(item)
    return tuple(accounts)


@renamed_fields(connection_timeout_seconds="connect_timeout_seconds")
@dataclass(eq=True)
class BlobPayloadStoreOptions(RemoteStoreOptions):
    """Settings of :class:`~durabletask_payloads.BlobPayloadStore`.

    Give either ``connection_string`` or ``account_url`` (with ``credential``).
    Secrets (the connection string, the credential) are never shown by
    ``repr()`` and never logged.

    Size, compression and retry settings (``retry_total``, ``retry_backoff_seconds``)
    are those of :class:`~durabletask_payloads.RemoteStoreOptions`.

    Attributes:
        container_name: Where payloads are written (created, private, if missing).
            Default ``durabletask-payloads``, as in .NET and Java.
        connection_string: An Azure Storage connection string (account key or SAS),
            e.g. ``UseDevelopmentStorage=true`` style strings for Azurite.
        account_url: The blob endpoint, e.g. ``https://<account>.blob.core.windows.net``.
            A SAS in its query is moved to ``credential`` (so that it is never shown
            by ``repr()`` or kept in a URL).
        credential: For ``account_url``: any azure-identity credential (for example
            ``DefaultAzureCredential()``), an ``AzureNamedKeyCredential``, or a SAS string.
        async_credential: The ``azure.identity.aio`` twin of ``credential``, for the
            async methods. Without it, async methods of a store authenticated by a
            sync token credential run the sync client in a worker thread.
        api_version: Pin the Storage REST API version (some emulators lag behind).
        token_version: ``"v1"`` writes ``blob:v1:<container>:<name>`` (readable by
            every SDK); ``"v2"`` writes ``blob:v2:<blob URL>`` (for .NET 1.25+ tooling).
            Both are always read.
        allowed_containers: Further containers whose tokens may be read (for
            example the one .NET workers write to). A token naming any other
            container is refused before any request is made.
        allowed_accounts: Other storage accounts whose ``blob:v2:`` tokens may be
            read, each a :class:`BlobAccount` (with its credential) or an account URL
            (read with this store's own credential). A v2 token naming any other
            account is refused before any request is made. Default none.
        connect_timeout_seconds: Time allowed to connect. Default 10; at most 86,400.
            (Formerly ``connection_timeout_seconds``, still accepted with a
            :class:`DeprecationWarning`.)
        read_timeout_seconds: Time allowed between bytes of a response. Default 60;
            at most 86,400.
        encryption_scope: Encrypt the blobs this store writes with this
            encryption scope of the account (its key, Microsoft- or
            customer-managed, stays in Azure). Sent on every write; reads need
            nothing. None (the default) uses the container's or account's default.
        customer_provided_key: Encrypt with a key of your own (CPK): a 256-bit
            AES key, base64-encoded, sent with every write, read and
            properties request; Azure keeps only its hash. Blobs written with it
            cannot be read without it. Needs an https endpoint. Not shown by
            ``repr()``. Excludes ``encryption_scope``.
        direct_transfers: Send the sync uploads and downloads of payload blobs
            over the store's own kept-alive HTTP connections, signed by it, instead
            of through the SDK's pipeline: the same requests, about 2 ms less CPU
            per transfer (docs/performance.md). Only for an account key or a SAS
            with no proxy set for the endpoint; other requests, the async methods
            and Microsoft Entra ID credentials always use the SDK. Default True;
            False sends everything through the SDK (its logging policies, for one).

    """

    container_name: str = "durabletask-payloads"
    connection_string: str | None = field(default=None, repr=False)
    account_url: str | None = None
    credential: Any = field(default=None, repr=False)
    async_credential: Any = field(default=None, repr=False)
    api_version: str | None = None
    token_version: Literal["v1", "v2"] = "v1"  # noqa: S105 - a format version, not a secret
    allowed_containers: tuple[str, ...] = ()
    allowed_accounts: tuple[BlobAccount | str, ...] = ()
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    encryption_scope: str | None = None
    customer_provided_key: str | None = field(default=None, repr=False)
    direct_transfers: bool = True

    def _validate(self) -> None:
        super()._validate()
        _check_container("container_name", self.container_name)
        # Secrets: check_type names the type given, never the value.
        check_optional_str(self, "connection_string", "account_url", "api_version")
        object.__setattr__(
            self, "allowed_containers", _check_containers("allowed_containers", self.allowed_containers)
        )
        object.__setattr__(self, "allowed_accounts", _accounts(self.allowed_accounts))
        if (self.connection_string is None) == (self.account_url is None):
            raise ValueError("give exactly one of connection_string or account_url (with credential)")
        if self.account_url is not None:
            url, sas = _split_sas_url("account_url", self.account_url)
            if sas is not None:
                if self.credential is not None:
                    raise ValueError(
                        f"account_url carries a query (a SAS) and credential is given too: give one "
                        f"({url}?...)"
                    )
                # The SDK would put it back into every URL it builds; as a credential it stays out of repr().
                object.__setattr__(self, "credential", sas)
            object.__setattr__(self, "account_url", url)
        check_type("token_version", self.token_version, str, "'v1' or 'v2' (a string)")
        if self.token_version not in ("v1", "v2"):
            raise ValueError(f"token_version must be 'v1' or 'v2', got {self.token_version!r}")
        check_timeouts(self, "connect_timeout_seconds", "read_timeout_seconds")
        check_bool("direct_transfers", self.direct_transfers)
        self._validate_encryption()

    def _validate_encryption(self) -> None:
        check_optional_str(self, "encryption_scope", "customer_provided_key")
        scope = self.encryption_scope
        if scope is not None and _SCOPE_RE.fullmatch(scope) is None:
            raise ValueError(
                f"encryption_scope must be 3-63 lowercase letters, digits and inner dashes, got {scope!r}"
            )
        if self.customer_provided_key is not None:
            # The key is a secret: it is never quoted.
            if scope is not None:
                raise ValueError("give encryption_scope or customer_provided_key, not both")
            try:
                key = base64.b64decode(self.customer_provided_key, validate=True)
            except (binascii.Error, TypeError, ValueError):
                key = b""
            if len(key) != 32:
                raise ValueError("customer_provided_key must be a 256-bit (32-byte) AES key, base64-encoded")
            if self.account_url is not None and not self.account_url.lower().startswith("https://"):
                raise ValueError(
                    "customer_provided_key needs an https:// account_url (keys never go in clear)"
                )
