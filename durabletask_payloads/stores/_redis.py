"""Redis payload store: one string key per payload, optionally with a time to live."""

from __future__ import annotations

from typing import Any

try:
    import redis  # noqa: F401 - checked here, so that the error names the extra
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "RedisPayloadStore needs the Redis extra: pip install 'durabletask-payloads[redis]'"
    ) from exc

from .._exceptions import InvalidPayloadTokenError
from .._pipeline import DriverPayloadStore
from .._token import parse_redis_token
from ._redis_driver import RedisDriver
from ._redis_options import RedisPayloadStoreOptions
from ._store_urls import redis_url_settings

__all__ = ["RedisPayloadStore", "RedisPayloadStoreOptions"]


class RedisPayloadStore(DriverPayloadStore):
    """Keeps payloads as Redis string keys, for fast shared storage between workers.

    Each distinct payload of an instance becomes one key, ``key_prefix`` + 32
    lowercase hex characters, and the token is ``redis:v1:<key>``. The value is
    a record: one line of JSON metadata (encoding, SHA-256, size, instance,
    creation time), then the body, gzip when compression is on. A key is
    written with ``SET ... NX``: only if absent, so writing a payload twice, or
    two workers racing, leaves one value, and a ``ttl_seconds`` is set on that
    first write only (``PX``), never extended. A payload this store has recently
    moved (it is in :attr:`cache`) is only checked with ``EXISTS``: if the key is
    still there, nothing is sent. A key that already exists counts as stored
    only once its value is verified to be this payload; anything else there is
    replaced, under ``WATCH`` and only if it is still the value that was checked.

    Reads verify the SHA-256, and a value above the read limit
    (``max_read_payload_bytes``) is refused after at most that many bytes were
    sent (``STRLEN`` and a bounded ``GETRANGE``). A token whose key does not
    start with ``key_prefix`` is refused before any command is sent. A key that
    is gone (expired, evicted or deleted) raises
    :class:`~durabletask_payloads.PayloadNotFoundError` saying so.

    Redis keeps everything in memory: make sure the server's
    ``maxmemory-policy`` cannot evict payload keys while an orchestration may
    still need them (``noeviction``, or a ``volatile-*`` policy with payloads
    written without TTL).

    All of that but the Redis commands is the shared pipeline
    (:class:`~durabletask_payloads.DriverPayloadStore`).

    Args:
        options: Connection, key, TTL and size settings.

    """

    def __init__(self, options: RedisPayloadStoreOptions) -> None:
        self._redis = RedisDriver(options)
        super().__init__(self._redis, options)
        self._redis_options = options

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisPayloadStore:
        """Build a store from a ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL.

        ``redis://:PASSWORD@HOST:6379/0?key_prefix=payloads:``: ``key_prefix`` is
        this store's parameter, the rest goes to redis-py as it is; *options* are
        further :class:`RedisPayloadStoreOptions` fields (not ones the URL sets).
        The URL is never shown by ``repr()``, logs or errors. Raises
        :class:`TypeError` for a wrong type, :class:`ValueError` for a wrong value.
        """
        return cls(RedisPayloadStoreOptions(**redis_url_settings(url, options)))

    @property
    def options(self) -> RedisPayloadStoreOptions:
        """The settings of this store."""
        return self._redis_options

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a well-formed ``redis:v1:`` token (of any key prefix)."""
        try:
            parse_redis_token(value)
        except InvalidPayloadTokenError:
            return False
        return True
