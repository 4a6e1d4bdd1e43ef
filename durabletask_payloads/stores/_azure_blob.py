"""Azure Blob Storage payload store, wire-compatible with the .NET and Java SDKs.

The one pipeline (:class:`~durabletask_payloads.DriverPayloadStore`) over a
:class:`~._azure_driver.BlobDriver` per (account, container) the store may read.
This module holds the accounts, their clients and the refusals of tokens this
store may not read; the blob requests are the driver's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

try:
    import azure.storage.blob  # noqa: F401 - the extra's check, before the helpers below import it
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "BlobPayloadStore needs the Azure extra: pip install 'durabletask-payloads[azure]'"
    ) from exc

from .._concurrency import PerLoop
from .._driver import StorageDriver
from .._exceptions import InvalidPayloadTokenError
from .._pipeline import DriverPayloadStore
from .._redact import install_log_redaction, register_secrets
from .._store import PayloadInfo
from .._token import BLOB_V1_PREFIX, BLOB_V2_PREFIX, parse_blob_token
from ._azure_accounts import (
    Account,
    Location,
    aio_native,
    new_account,
    new_service_client,
    other_account,
    own_endpoint,
    release_connections,
    secrets_of,
)
from ._azure_driver import BlobDriver
from ._azure_options import BlobAccount, BlobPayloadStoreOptions

__all__ = ["BlobAccount", "BlobPayloadStore", "BlobPayloadStoreOptions"]


class BlobPayloadStore(DriverPayloadStore):
    """Stores payloads as blobs in Azure Blob Storage, as the .NET and Java SDKs do.

    Writes go to ``options.container_name``, one blob per distinct payload of an
    instance, named by 32 lowercase hex characters at the container root. A blob
    is created only if absent (``If-None-Match: *``), so writing a payload twice,
    or two workers racing, leaves one blob. Compressed blobs carry
    ``Content-Encoding: gzip``; every blob carries the payload's SHA-256 and
    instance as metadata, which other SDKs ignore.

    Reads accept ``blob:v1:`` and ``blob:v2:`` tokens, inflate only when the blob
    says ``gzip`` (whatever this store's compression setting) and verify the
    SHA-256 when the blob has one. A token for another storage account (unless
    listed in ``allowed_accounts``), or for a container not configured
    (``container_name`` or ``allowed_containers``), is refused before any request
    is made: a token is data, not a permission.

    No SAS, key or connection string ever reaches a token, :attr:`account_url`,
    an error message or a log line: the store masks them in the SDK's loggers
    and in the SDK errors it chains (see docs/azure-blob.md).

    Args:
        options: Connection, container and size settings.

    """

    def __init__(self, options: BlobPayloadStoreOptions) -> None:
        self._blob_options = options
        install_log_redaction()
        register_secrets(secrets_of(options.connection_string, options.credential))
        self._sync = new_service_client(options, asynchronous=False)
        register_secrets(secrets_of(None, getattr(self._sync, "credential", None)))
        self._account_url = own_endpoint(self._sync, options)
        self._readable = frozenset((options.container_name, *options.allowed_containers))
        # aiohttp sessions belong to one event loop: keep one client per loop.
        aio_clients: PerLoop[Any] = PerLoop(lambda: new_service_client(options, asynchronous=True))
        # A sync token credential cannot serve the aio client: fall back to threads.
        self._aio_native = aio_native(options.credential, options.async_credential)
        self._own = new_account(
            self._account_url, self._readable, self._sync, aio_clients, self._aio_native, options
        )
        self._accounts = {self._account_url.lower(): self._own}
        for account in options.allowed_accounts:
            assert isinstance(account, BlobAccount)  # normalised by the options
            key = account.account_url.lower()
            if key in self._accounts:
                raise ValueError(f"allowed_accounts lists this store's own account ({account.account_url})")
            register_secrets(secrets_of(None, account.credential))
            self._accounts[key] = other_account(account, options, self._sync, self._readable)
        # One driver per (account, container) this store may read; the first writes.
        self._drivers_at: dict[tuple[str, str], BlobDriver] = {}
        for key, readable in self._accounts.items():
            containers = sorted(readable.readable)
            if readable is self._own:  # the written container first: it is the pipeline's driver
                containers.remove(options.container_name)
                containers.insert(0, options.container_name)
            for container in containers:
                self._drivers_at[key, container] = BlobDriver(readable, container, options, self._account_url)
        drivers = list(self._drivers_at.values())
        super().__init__(drivers[0], options, readers=drivers[1:])

    @classmethod
    def from_connection_string(cls, connection_string: str, **options: Any) -> BlobPayloadStore:
        """Build a store from a connection string; *options* are other ``BlobPayloadStoreOptions`` fields."""
        return cls(BlobPayloadStoreOptions(connection_string=connection_string, **options))

    @classmethod
    def from_url(cls, account_url: str, credential: Any = None, **options: Any) -> BlobPayloadStore:
        """Build a store from an account URL and a credential.

        Args:
            account_url: The blob endpoint, e.g. ``https://<account>.blob.core.windows.net``.
                A SAS URL (``...?sv=...&sig=...``) works too: its query becomes the credential.
            credential: An azure-identity credential, an ``AzureNamedKeyCredential`` or a SAS string.
            **options: Further :class:`BlobPayloadStoreOptions` fields.

        """
        return cls(BlobPayloadStoreOptions(account_url=account_url, credential=credential, **options))

    @property
    def options(self) -> BlobPayloadStoreOptions:
        """The settings of this store."""
        return self._blob_options

    @property
    def account_url(self) -> str:
        """The blob endpoint of the account (for path-style URLs, including the account name).

        Never carries a query: a SAS stays in the client's credentials.
        """
        return self._account_url

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("blob:v1:", "blob:v2:")``."""
        return (BLOB_V1_PREFIX, BLOB_V2_PREFIX)

    # -- tokens -------------------------------------------------------------------------

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a well-formed ``blob:v1:`` or ``blob:v2:`` token.

        A malformed value with a blob prefix is not a token: it stays data, and
        nothing is fetched for it. A well-formed token naming an account or
        container this store may not read is a token, refused when resolved.
        """
        try:
            parse_blob_token(value)
        except InvalidPayloadTokenError:
            return False
        return True

    def _locate(self, token: str) -> Location:
        """Where the payload of a token this store may read is; refuse other tokens before any I/O."""
        parsed = parse_blob_token(token)
        account = self._own
        if parsed.account_url is not None:
            found = self._accounts.get(parsed.account_url.lower())
            if found is None:
                raise InvalidPayloadTokenError(
                    token,
                    f"it names another storage account ({parsed.account_url}) than this store's "
                    f"({self._account_url}); list it in allowed_accounts to read its payloads",
                )
            account = found
        if parsed.container not in account.readable:
            where = (
                "this store's container_name or in allowed_containers"
                if account is self._own
                else f"in the BlobAccount.containers of {account.endpoint} (empty: this store's "
                "container_name and allowed_containers)"
            )
            raise InvalidPayloadTokenError(token, f"container {parsed.container!r} is not {where}")
        return Location(parsed.container, parsed.blob_name, account)

    def _route(self, token: str) -> tuple[StorageDriver, str]:
        """Pick the driver of a token this store may read; refuse others, saying why, before any I/O."""
        container, name, account = self._locate(token)
        return self._drivers_at[account.endpoint.lower(), container], name

    # -- what the pipeline does not say the Blob way --------------------------------------

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the blob behind *token* from its properties (one HEAD, no download)."""
        # The pipeline names the blob in the store's token version; the caller's token is the answer.
        return dataclasses.replace(super().inspect(token), token=token)

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """End the store: close its clients. Later calls raise ``PayloadStoreClosedError``.

        From an event loop that used the async methods, call :meth:`aclose` first
        (or use ``async with``): that loop's async clients are bound to it.
        """
        for account in self._accounts.values():
            account.sync.close()
            if account.direct is not None:
                account.direct.close()
        super().close()

    async def aclose(self) -> None:
        """Close this event loop's async clients and the idle sync connections.

        Unlike :meth:`close`, the store stays usable: another event loop, or a
        later sync call, opens connections again. aiohttp sessions belong to
        the loop that made them, so each loop that used the store calls this
        before it ends.
        """
        for account in self._accounts.values():
            await _close_aio(account)
            release_connections(account.sync)
            if account.direct is not None:
                account.direct.close()
        await super().aclose()  # the drivers' (they hold nothing per loop) and the transfer threads


async def _close_aio(account: Account) -> None:
    account.aio_containers.pop()  # they belong to the client closed here
    client = account.aio_clients.pop()
    if client is not None:
        await client.close()
