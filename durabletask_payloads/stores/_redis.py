"""Redis payload store: one string key per payload, optionally with a time to live."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from typing import Any

try:
    import redis
    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError, WatchError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "RedisPayloadStore needs the Redis extra: pip install 'durabletask-payloads[redis]'"
    ) from exc

from .._codec import (
    CREATED,
    MAX_RECORD_HEADER,
    REPLACED,
    Existing,
    decode_record,
    encode_payload,
    max_stored_record,
    parse_record_header,
    record_header,
    record_info,
    split_record,
    store_verified,
    store_verified_async,
)
from .._concurrency import PerLoop
from .._exceptions import InvalidPayloadTokenError, PayloadNotFoundError, PayloadReadLimitError
from .._options import read_limit
from .._retry import RetryPolicy, retrying, retrying_async
from .._store import PayloadInfo, PayloadStore
from .._token import REDIS_V1_PREFIX, format_redis_token, is_content_name, parse_redis_token
from ._redis_errors import failure
from ._redis_options import RedisPayloadStoreOptions
from ._store_urls import redis_url_settings

__all__ = ["RedisPayloadStore", "RedisPayloadStoreOptions"]

_log = logging.getLogger("durabletask_payloads.stores.redis")

_GLOB_SPECIAL_RE = re.compile(r"([*?\[\]\\])")


class RedisPayloadStore(PayloadStore):
    """Keeps payloads as Redis string keys, for fast shared storage between workers.

    Each distinct payload of an instance becomes one key, ``key_prefix`` + 32
    lowercase hex characters, and the token is ``redis:v1:<key>``. The value is
    a record: one line of JSON metadata (encoding, SHA-256, size, instance,
    creation time), then the body, gzip when compression is on. A key is
    written with ``SET ... NX``: only if absent, so writing a payload twice, or
    two workers racing, leaves one value, and a ``ttl_seconds`` is set on that
    first write only (``PX``), never extended.

    Reads verify the SHA-256. A token whose key does not start with
    ``key_prefix`` is refused before any command is sent. A key that is gone
    (expired, evicted or deleted) raises
    :class:`~durabletask_payloads.PayloadNotFoundError` saying so.

    Redis keeps everything in memory: make sure the server's
    ``maxmemory-policy`` cannot evict payload keys while an orchestration may
    still need them (``noeviction``, or a ``volatile-*`` policy with payloads
    written without TTL).

    Args:
        options: Connection, key, TTL and size settings.

    """

    def __init__(self, options: RedisPayloadStoreOptions) -> None:
        self._options = options
        self._retry = RetryPolicy.from_options(options)
        self._sync: redis.Redis = self._new_client(asynchronous=False)
        # asyncio connections belong to the event loop that opened them: one client per loop.
        self._aio_clients: PerLoop[redis.asyncio.Redis] = PerLoop(lambda: self._new_client(asynchronous=True))

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

    def _new_client(self, *, asynchronous: bool) -> Any:
        options = self._options
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": options.connect_timeout_seconds,
            "socket_timeout": options.read_timeout_seconds,
            # Retries are ours (_retry.py decides what is transient): redis-py's are off.
            "retry": (AsyncRetry if asynchronous else Retry)(NoBackoff(), 0),
        }
        client_type = redis.asyncio.Redis if asynchronous else redis.Redis
        if options.url is not None:
            return client_type.from_url(options.url, **kwargs)
        return client_type(
            host=options.host or "localhost",
            port=options.port,
            db=options.db,
            username=options.username,
            password=options.password,
            ssl=options.ssl,
            **kwargs,
        )

    @property
    def options(self) -> RedisPayloadStoreOptions:
        """The settings of this store."""
        return self._options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("redis:v1:",)``."""
        return (REDIS_V1_PREFIX,)

    # -- tokens -------------------------------------------------------------------------

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a well-formed ``redis:v1:`` token (of any key prefix)."""
        try:
            parse_redis_token(value)
        except InvalidPayloadTokenError:
            return False
        return True

    def _locate(self, token: str) -> str:
        """Return the key of a token this store may read; refuse others before any I/O."""
        parsed = parse_redis_token(token)
        if parsed.prefix != self._options.key_prefix:
            raise InvalidPayloadTokenError(
                token, f"its key does not start with this store's key_prefix {self._options.key_prefix!r}"
            )
        return parsed.key

    def _gone(self, token: str) -> PayloadNotFoundError:
        ttl = self._options.ttl_seconds
        if ttl is None:
            return PayloadNotFoundError(
                token,
                "the Redis key is gone: evicted by the server's maxmemory-policy, or deleted "
                "(this store sets no ttl_seconds, so it did not expire here)",
            )
        return PayloadNotFoundError(
            token,
            f"the Redis key is gone: it expired (ttl_seconds={ttl:g}) or was evicted by the server's "
            "maxmemory-policy, or was deleted; raise ttl_seconds above the longest orchestration",
        )

    # -- writing ------------------------------------------------------------------------

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* under its key (once per instance and content) and return its token.

        A payload this store has recently moved (it is in :attr:`cache`) is only
        checked with ``EXISTS``: if the key is still there, nothing is sent. A
        key that already exists counts as stored only once its value is
        verified to be this payload; anything else there is replaced, under
        ``WATCH`` and only if it is still the value that was checked.
        """
        encoded = encode_payload(data, self._options, instance_id)
        key = self._options.key_prefix + encoded.name
        token = format_redis_token(key)
        client = self._sync
        ttl = self._options.ttl_milliseconds

        def create() -> bool:
            value = record_header(encoded, instance_id) + encoded.body
            return bool(client.set(key, value, nx=True, px=ttl))

        def read() -> Existing | None:
            found = self._read(client, key)
            return self._existing(found, key, token)

        def replace(tag: object) -> bool:
            if tag is None:
                return create()
            value = record_header(encoded, instance_id) + encoded.body
            with client.pipeline(transaction=True) as pipe:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                # Under WATCH a pipeline runs commands at once: is it still the value checked?
                if pipe.getrange(key, 0, self._bound()) != tag:
                    return False
                pipe.multi()
                pipe.set(key, value, px=ttl)
                try:
                    pipe.execute()
                except WatchError:
                    return False
            return True

        def put() -> None:
            try:
                if token in self.cache and client.exists(key):
                    return
                outcome = store_verified(encoded, token, create=create, read=read, replace=replace)
            except RedisError as exc:
                raise failure(exc, "upload", token) from exc
            self._log_write(outcome, encoded.size, key, len(encoded.body))

        retrying(put, self._retry)
        return token

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload`."""
        encoded = encode_payload(data, self._options, instance_id)
        key = self._options.key_prefix + encoded.name
        token = format_redis_token(key)
        client = self._aio_client()
        ttl = self._options.ttl_milliseconds

        async def create() -> bool:
            value = record_header(encoded, instance_id) + encoded.body
            return bool(await client.set(key, value, nx=True, px=ttl))

        async def read() -> Existing | None:
            found = await self._read_async(client, key)
            return self._existing(found, key, token)

        async def replace(tag: object) -> bool:
            if tag is None:
                return await create()
            value = record_header(encoded, instance_id) + encoded.body
            async with client.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                if await pipe.getrange(key, 0, self._bound()) != tag:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, value, px=ttl)
                try:
                    await pipe.execute()
                except WatchError:
                    return False
            return True

        async def put() -> None:
            try:
                if token in self.cache and await client.exists(key):
                    return
                outcome = await store_verified_async(
                    encoded, token, create=create, read=read, replace=replace
                )
            except RedisError as exc:
                raise failure(exc, "upload", token) from exc
            self._log_write(outcome, encoded.size, key, len(encoded.body))

        await retrying_async(put, self._retry)
        return token

    def _existing(self, found: tuple[bool, int, bytes], key: str, token: str) -> Existing | None:
        # The value read (at most the read limit of it) is what a replace is conditional on.
        if not found[0]:
            return None
        return Existing(found[2], functools.partial(self._decode, found, key, token))

    @staticmethod
    def _log_write(outcome: str, size: int, key: str, stored: int) -> None:
        if outcome == CREATED:
            _log.info("Stored %d bytes as Redis key %s (%d stored)", size, key, stored)
        elif outcome == REPLACED:
            _log.warning("Redis key %s did not hold the payload its name certifies; replaced it", key)
        else:
            _log.debug("Redis key %s already holds this payload", key)

    # -- reading ------------------------------------------------------------------------

    def _read(self, client: Any, key: str) -> tuple[bool, int, bytes]:
        """Return whether *key* exists, its length and (at most the read limit of) its value.

        GETRANGE sends at most one byte more than the largest record this store
        reads, whatever is stored. Not a MULTI: Redis refuses MULTI when it is
        out of memory, and reads must go on then; the bound holds without it.
        """
        with client.pipeline(transaction=False) as pipe:
            pipe.strlen(key)
            pipe.getrange(key, 0, self._bound())
            length, head = pipe.execute()
        # Nothing read: a missing key, or an empty value (which is refused as not a record).
        return bool(head) or bool(client.exists(key)), int(length), head

    async def _read_async(self, client: Any, key: str) -> tuple[bool, int, bytes]:
        """Async twin of :meth:`_read`."""
        async with client.pipeline(transaction=False) as pipe:
            pipe.strlen(key)
            pipe.getrange(key, 0, self._bound())
            length, head = await pipe.execute()
        return bool(head) or bool(await client.exists(key)), int(length), head

    def _bound(self) -> int:
        return max_stored_record(self._options)

    def _decode(self, found: tuple[bool, int, bytes], key: str, token: str) -> bytes:
        exists, length, record = found
        if not exists:
            raise self._gone(token)
        assert isinstance(record, bytes)  # the clients are made without decode_responses
        if len(record) > self._bound():
            # Only the first bytes were sent: the value is refused without being read whole.
            raise PayloadReadLimitError(token, max(length, len(record)), read_limit(self._options))
        _log.info("Read Redis key %s (%d bytes stored)", key, length)
        header, body = split_record(record, token=token, where=f"Redis key {key}")
        name = key[-32:]
        return decode_record(header, body, token=token, name=name, options=self._options)

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, verified against its name and SHA-256.

        A value above the read limit (``max_read_payload_bytes``) is refused
        after at most that many bytes were sent.
        """
        key = self._locate(token)

        def get() -> tuple[bool, int, bytes]:
            try:
                return self._read(self._sync, key)
            except RedisError as exc:
                raise failure(exc, "download", token) from exc

        return self._decode(retrying(get, self._retry), key, token)

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download`."""
        key = self._locate(token)
        client = self._aio_client()

        async def get() -> tuple[bool, int, bytes]:
            try:
                return await self._read_async(client, key)
            except RedisError as exc:
                raise failure(exc, "download", token) from exc

        return self._decode(await retrying_async(get, self._retry), key, token)

    # -- lifecycle ----------------------------------------------------------------------

    def delete(self, token: str) -> bool:
        """Delete the key behind *token*; False if it was already gone."""
        key = self._locate(token)
        self._forget(token)

        def delete() -> bool:
            try:
                return bool(self._sync.delete(key))
            except RedisError as exc:
                raise failure(exc, "delete", token) from exc

        return retrying(delete, self._retry)

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the payload behind *token* from its header (the body is not read)."""
        key = self._locate(token)

        def read_header() -> tuple[bytes, int]:
            try:
                with self._sync.pipeline(transaction=True) as pipe:
                    pipe.getrange(key, 0, MAX_RECORD_HEADER - 1)
                    pipe.strlen(key)
                    start, length = pipe.execute()
            except RedisError as exc:
                raise failure(exc, "inspect", token) from exc
            return start, length

        head, length = retrying(read_header, self._retry)
        if not length:
            raise self._gone(token)
        line = head[: head.find(b"\n") + 1]
        header = parse_record_header(line, token=token, where=f"Redis key {key}")
        return record_info(token, header, int(length) - len(line))

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload key (``key_prefix`` + 32 hex), found with ``SCAN``."""
        prefix = self._options.key_prefix
        pattern = _GLOB_SPECIAL_RE.sub(r"\\\1", prefix) + "?" * 32
        try:
            for raw in self._sync.scan_iter(match=pattern, count=500):
                key = raw.decode("ascii", "replace")
                if not is_content_name(key[len(prefix) :]):
                    continue
                try:
                    yield self.inspect(format_redis_token(key))
                except PayloadNotFoundError:
                    continue  # expired or deleted since the scan saw it
        except RedisError as exc:
            raise failure(exc, "list", prefix) from exc

    def _aio_client(self) -> redis.asyncio.Redis:
        return self._aio_clients.get()

    def close(self) -> None:
        """Close the sync client's connections and the transfer threads."""
        self._sync.close()
        super().close()

    async def aclose(self) -> None:
        """Close the sync client and this event loop's async client."""
        client = self._aio_clients.pop()
        if client is not None:
            await client.aclose()
        self.close()
