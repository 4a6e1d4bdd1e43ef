"""Settings of the Redis store (no redis import: usable before the extra is installed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._deprecation import renamed_fields
from .._options import (
    RemoteStoreOptions,
    check_bool,
    check_key_prefix,
    check_optional_str,
    check_seconds,
    check_timeouts,
    check_type,
)

__all__ = ["RedisPayloadStoreOptions"]

#: The longest TTL: a century (``SET ... PX`` takes milliseconds; None keeps keys for ever).
MAX_TTL_SECONDS = 100 * 365 * 86_400


@renamed_fields(timeout_seconds="read_timeout_seconds")
@dataclass(eq=True)
class RedisPayloadStoreOptions(RemoteStoreOptions):
    """Settings of :class:`~durabletask_payloads.RedisPayloadStore`.

    Give ``url``, or ``host`` (with ``port``, ``db``, ``username``,
    ``password``, ``ssl``), not both; with neither, ``localhost:6379`` is used.
    The URL and the password are never shown by ``repr()`` and never logged.

    Size, compression and retry settings (``retry_total``, ``retry_backoff_seconds``)
    are those of :class:`~durabletask_payloads.RemoteStoreOptions`.

    Attributes:
        url: A redis-py URL such as ``redis://:password@host:6379/0`` or
            ``rediss://`` for TLS.
        host: The server's host name or address.
        port: Its port. Default 6379.
        db: The database number. Default 0.
        username: For Redis ACLs (6.0+); None for the default user.
        password: The password, if the server requires one.
        ssl: Connect to ``host`` with TLS.
        key_prefix: Put in front of each key's 32-hex name; default
            ``durabletask-payloads:``. Letters, digits and ``! - _ . * ' ( ) : /``.
            Tokens record the whole key, and a token is read only if its key
            starts with this prefix: changing it makes older tokens unreadable.
        ttl_seconds: Give each payload key this time to live, set when the key
            is created and never extended (a later write of the same payload
            leaves it as it is). A payload read after it expired fails with
            :class:`~durabletask_payloads.PayloadNotFoundError`, so the TTL must
            outlast every orchestration that can still read it, replays
            included. None (the default) keeps payloads until deleted. From
            0.001 to 3,153,600,000 (a century).
        connect_timeout_seconds: Time allowed to connect. Default 5; at most 86,400.
        read_timeout_seconds: Time allowed for a command's answer (redis-py's
            ``socket_timeout``: each wait on the socket). Default 30; at most 86,400.
            (Formerly ``timeout_seconds``, still accepted with a :class:`DeprecationWarning`.)

    """

    url: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    key_prefix: str = "durabletask-payloads:"
    ttl_seconds: float | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0

    def _validate(self) -> None:
        super()._validate()
        # The URL and the password are secrets: check_type names the type given, never the value.
        check_optional_str(self, "url", "host", "username", "password")
        if self.url is not None:
            if not self.url.startswith(("redis://", "rediss://", "unix://")):
                # The URL may hold a password: it is not quoted.
                raise ValueError("url must start with redis://, rediss:// or unix://")
            if self.host is not None or self.password is not None or self.username is not None:
                raise ValueError("give url or host (with username/password), not both")
        for name, low, high in (("port", 1, 65535), ("db", 0, 1_000_000)):
            value = getattr(self, name)
            check_type(name, value, int, "an int")
            if not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        check_bool("ssl", self.ssl)
        check_key_prefix(self.key_prefix)
        if self.ttl_seconds is not None:
            check_seconds(self, "ttl_seconds")
            if not 0.001 <= self.ttl_seconds <= MAX_TTL_SECONDS:
                raise ValueError(
                    f"ttl_seconds must be from 0.001 (1 ms) to {MAX_TTL_SECONDS:,} (a century; None keeps "
                    f"keys for ever), got {self.ttl_seconds!r}"
                )
        check_timeouts(self, "connect_timeout_seconds", "read_timeout_seconds")

    @property
    def ttl_milliseconds(self) -> int | None:
        """``ttl_seconds`` in whole milliseconds (what ``SET ... PX`` takes), or None."""
        return None if self.ttl_seconds is None else max(1, round(self.ttl_seconds * 1000))
