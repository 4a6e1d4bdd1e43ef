"""Settings of the Azure Blob store (no Azure import: usable before the extra is installed)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from .._options import RemoteStoreOptions, check_seconds

__all__ = ["BlobPayloadStoreOptions"]

_CONTAINER_RE = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
#: Encryption scope names: 3-63 of lowercase letters, digits and single dashes between them.
_SCOPE_RE = re.compile(r"(?!-)(?!.*--)[a-z0-9-]{3,63}(?<!-)")


def _check_container(name: str, value: object) -> str:
    if not isinstance(value, str) or _CONTAINER_RE.fullmatch(value) is None:
        raise ValueError(
            f"{name} must be a valid Azure container name (3-63 characters: lowercase letters, digits and "
            f"single hyphens, starting and ending with a letter or digit), got {value!r}"
        )
    return value


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
        connection_timeout_seconds: Time allowed to connect. Default 10.
        read_timeout_seconds: Time allowed between bytes of a response. Default 60.
        encryption_scope: Encrypt the blobs this store writes with this
            encryption scope of the account (its key, Microsoft- or
            customer-managed, stays in Azure). Sent on every write; reads need
            nothing. None (the default) uses the container's or account's default.
        customer_provided_key: Encrypt with a key of your own (CPK): a 256-bit
            AES key, base64-encoded, sent with every write, read and
            properties request; Azure keeps only its hash. Blobs written with it
            cannot be read without it. Needs an https endpoint. Not shown by
            ``repr()``. Excludes ``encryption_scope``.

    """

    container_name: str = "durabletask-payloads"
    connection_string: str | None = field(default=None, repr=False)
    account_url: str | None = None
    credential: Any = field(default=None, repr=False)
    async_credential: Any = field(default=None, repr=False)
    api_version: str | None = None
    token_version: str = "v1"  # noqa: S105 - a format version, not a secret
    allowed_containers: tuple[str, ...] = ()
    connection_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    encryption_scope: str | None = None
    customer_provided_key: str | None = field(default=None, repr=False)

    def _validate(self) -> None:
        super()._validate()
        _check_container("container_name", self.container_name)
        if not isinstance(self.allowed_containers, (tuple, list, set, frozenset)):
            raise ValueError(
                f"allowed_containers must be a collection of container names, got {self.allowed_containers!r}"
            )
        names = tuple(_check_container("allowed_containers", name) for name in self.allowed_containers)
        object.__setattr__(self, "allowed_containers", names)
        if (self.connection_string is None) == (self.account_url is None):
            raise ValueError("give exactly one of connection_string or account_url (with credential)")
        if self.account_url is not None and not self.account_url.startswith(("https://", "http://")):
            raise ValueError(f"account_url must be an http(s) URL, got {self.account_url!r}")
        if self.token_version not in ("v1", "v2"):
            raise ValueError(f"token_version must be 'v1' or 'v2', got {self.token_version!r}")
        check_seconds(self, "connection_timeout_seconds", "read_timeout_seconds")
        self._validate_encryption()

    def _validate_encryption(self) -> None:
        scope = self.encryption_scope
        if scope is not None and (not isinstance(scope, str) or _SCOPE_RE.fullmatch(scope) is None):
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
