"""Open a payload store from a short text spec, for the command line and configuration files.

Secrets never appear in a spec: connection strings and keys come from the
environment (or the usual credential chains), so they stay out of shell history
and process listings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ._options import LargePayloadStorageOptions
from ._store import PayloadStore
from .stores import FileSystemPayloadStore

__all__ = ["ACCEPTED_FORMS", "SPEC_HELP", "file_root", "open_store"]

AZURE_ENV = "AZURE_STORAGE_CONNECTION_STRING"
REDIS_ENV = "DURABLETASK_PAYLOADS_REDIS_URL"

SPEC_HELP = f"""\
store specs:
  file:PATH | PATH                   FileSystemPayloadStore rooted at PATH
  azure:[?container=NAME]            BlobPayloadStore; connection string from ${AZURE_ENV}
  azure:https://ACCOUNT.blob.core.windows.net[?container=NAME]
                                     BlobPayloadStore with DefaultAzureCredential (azure-identity)
  s3://BUCKET[/KEY_PREFIX][?region=R&endpoint=URL]
                                     S3PayloadStore.from_url; credentials from the usual AWS chain
  redis://HOST[:PORT][/DB][?prefix=P]  RedisPayloadStore.from_url (no password here: use redis: instead)
  redis:[?prefix=P]                  RedisPayloadStore; URL (with its password) from ${REDIS_ENV}
"""


#: The forms a spec takes, for one-line error messages.
ACCEPTED_FORMS = (
    "file:PATH or PATH (a directory), azure:, azure:https://ACCOUNT..., s3://BUCKET, redis://HOST or redis:"
)


def file_root(spec: str) -> Path | None:
    """Return the directory a filesystem spec names, or None for a spec of another store.

    Raises:
        ValueError: The spec is empty, or names no path (``file:``, ``file://``).

    """
    if not spec.strip():
        raise ValueError(f"the store spec is empty: give {ACCEPTED_FORMS}")
    if spec.startswith("file:"):
        path = spec[len("file://") :] if spec.startswith("file://") else spec[len("file:") :]
        if not path.strip():
            raise ValueError(
                f"the store spec {spec!r} names no directory: give file:PATH (file:/var/lib/payloads, "
                "file:./payloads or file:///var/lib/payloads)"
            )
        return Path(path)
    if spec.startswith(("azure:", "s3:", "redis:", "rediss:")):
        return None
    scheme = urlsplit(spec).scheme
    if scheme and len(scheme) > 1:  # one letter is a Windows drive
        return None
    return Path(spec)


def _query(spec: str) -> tuple[str, dict[str, str]]:
    base, _, query = spec.partition("?")
    return base, {key: values[-1] for key, values in parse_qs(query).items()}


def open_store(spec: str, options: LargePayloadStorageOptions | None = None) -> PayloadStore:
    """Open the store a spec names (see :data:`SPEC_HELP`).

    An empty spec, and ``file:`` or ``file://`` without a path, are refused:
    they would otherwise name the current directory.

    Raises:
        ValueError: The spec is empty or not understood, or a required setting
            is missing; the message says which and how to provide it.

    """
    root = file_root(spec)
    size_settings: dict[str, Any] = {}
    if options is not None:
        size_settings = {
            "threshold_bytes": options.threshold_bytes,
            "max_stored_payload_bytes": options.max_stored_payload_bytes,
        }
    if spec.startswith("azure:"):
        return _azure(spec[len("azure:") :], size_settings)
    if spec.startswith("s3://"):
        return _s3(spec, size_settings)
    if spec.startswith("redis:") or spec.startswith("rediss:"):
        return _redis(spec, size_settings)
    if root is None:
        raise ValueError(f"unknown store spec {spec!r}: give {ACCEPTED_FORMS}")
    if not spec.startswith("file:") and not root.is_dir():
        raise ValueError(
            f"{spec!r} is not a directory; to use a filesystem store give an existing directory "
            "(or file:PATH to create it)"
        )
    return FileSystemPayloadStore(root, options)


def _azure(rest: str, settings: dict[str, Any]) -> PayloadStore:
    from .stores._azure_blob import BlobPayloadStore

    base, query = _query(rest)
    if "container" in query:
        settings["container_name"] = query["container"]
    if not base:
        connection_string = os.environ.get(AZURE_ENV)
        if not connection_string:
            raise ValueError(f"azure: needs a connection string in the {AZURE_ENV} environment variable")
        return BlobPayloadStore.from_connection_string(connection_string, **settings)
    try:
        from azure.identity import DefaultAzureCredential  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise ValueError(
            "azure:<account URL> signs in with DefaultAzureCredential: pip install azure-identity"
        ) from exc
    return BlobPayloadStore.from_url(base, DefaultAzureCredential(), **settings)


def _s3(spec: str, settings: dict[str, Any]) -> PayloadStore:
    from .stores._s3 import S3PayloadStore

    return S3PayloadStore.from_url(spec, **settings)


def _redis(spec: str, settings: dict[str, Any]) -> PayloadStore:
    from .stores._redis import RedisPayloadStore

    base, query = _query(spec)
    if base in ("redis:", "rediss:"):
        url = os.environ.get(REDIS_ENV)
        if not url:
            raise ValueError(f"redis: needs a URL in the {REDIS_ENV} environment variable")
    else:
        if urlsplit(base).password:
            raise ValueError(
                f"keep passwords off the command line: put the URL in {REDIS_ENV} and use redis:"
            )
        url = base
    # The spec's own parameter: the store's URL calls it key_prefix (and passes the rest to redis-py).
    if "prefix" in query:
        settings["key_prefix"] = query.pop("prefix")
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
    return RedisPayloadStore.from_url(url, **settings)
