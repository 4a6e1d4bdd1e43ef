"""The Redis storage driver: one string key per payload (a record), SET NX writes, bounded reads."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, WatchError
from redis.retry import Retry

from .._codec import MAX_RECORD_HEADER, parse_record_header, record_header, record_info, split_record
from .._concurrency import PerLoop
from .._driver import DriverCapabilities, ObjectInfo, ObjectMeta, PutItem, StorageDriver, StoredObject
from .._exceptions import InvalidPayloadTokenError, PayloadError, PayloadIntegrityError
from .._token import REDIS_V1_PREFIX, format_redis_token, is_content_name, parse_redis_token
from ._redis_errors import failure
from ._redis_options import RedisPayloadStoreOptions

__all__ = ["RedisDriver"]

_log = logging.getLogger("durabletask_payloads.stores.redis")

_GLOB_SPECIAL_RE = re.compile(r"([*?\[\]\\])")


def new_client(options: RedisPayloadStoreOptions, *, asynchronous: bool) -> Any:
    """Open a redis-py client (sync or asyncio) for *options*, with redis-py's own retries off."""
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


class RedisDriver(StorageDriver):
    """Records (a JSON header line, then the body) as string keys ``key_prefix`` + name.

    Sync calls go through one client; async calls through one client per event
    loop (asyncio connections belong to the loop that opened them). The async
    twins are the asyncio client's own; they share everything but the commands
    with the sync methods.
    """

    capabilities = DriverCapabilities(native_async=True, confirm=True)

    def __init__(self, options: RedisPayloadStoreOptions) -> None:
        self._options = options
        self._prefix = options.key_prefix
        self._ttl = options.ttl_milliseconds
        self.sync: redis.Redis = new_client(options, asynchronous=False)
        self._aio_clients: PerLoop[redis.asyncio.Redis] = PerLoop(
            lambda: new_client(options, asynchronous=True)
        )

    # -- tokens ---------------------------------------------------------------------------

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        return (REDIS_V1_PREFIX,)

    def token_for(self, name: str) -> str:
        return format_redis_token(self._prefix + name)

    def name_of(self, token: str) -> str | None:
        # Only keys under this store's prefix: any other key of the server is not for tokens to reach.
        try:
            parsed = parse_redis_token(token)
        except InvalidPayloadTokenError:
            return None
        return parsed.name if parsed.prefix == self._prefix else None

    def refusal(self, token: str) -> str | None:
        if not isinstance(token, str) or not token.startswith(REDIS_V1_PREFIX):
            return None
        try:
            parse_redis_token(token)
        except InvalidPayloadTokenError as exc:
            return exc.reason
        return f"its key does not start with this store's key_prefix {self._prefix!r}"

    def describe(self) -> str:
        return f"the Redis keys under {self._prefix!r}"

    def missing(self, name: str) -> str:
        ttl = self._options.ttl_seconds
        if ttl is None:
            return (
                "the Redis key is gone: evicted by the server's maxmemory-policy, or deleted "
                "(this store sets no ttl_seconds, so it did not expire here)"
            )
        return (
            f"the Redis key is gone: it expired (ttl_seconds={ttl:g}) or was evicted by the server's "
            "maxmemory-policy, or was deleted; raise ttl_seconds above the longest orchestration"
        )

    def key(self, name: str) -> str:
        """Return the Redis key of the object *name*."""
        return self._prefix + name

    # -- what the sync and async I/O share ------------------------------------------------

    @staticmethod
    def _value(item: PutItem) -> bytes:
        return record_header(item.payload, item.instance_id) + item.body

    def _stored(self, item: PutItem, written: bool) -> bool:
        if written:
            _log.info(
                "Stored %d bytes as Redis key %s (%d stored)",
                item.payload.size,
                self.key(item.name),
                len(item.body),
            )
        return written

    def _found(self, name: str, length: int, head: bytes, present: bool, bound: int) -> StoredObject | None:
        """Make what STRLEN and GETRANGE(0, *bound*) gave into an object (None if there is none)."""
        if not present:
            return None
        assert isinstance(head, bytes)  # the clients are made without decode_responses
        # The value read (at most bound + 1 bytes of it) is what a replace is conditional on.
        tag = (bound, head)
        if len(head) > bound:
            # Only the first bytes were sent: the value is refused without being read whole.
            return StoredObject(name, ObjectMeta(), max(length, len(head)), None, tag)
        key = self.key(name)
        token = format_redis_token(key)
        try:
            header, body = split_record(head, token=token, where=f"Redis key {key}")
        except PayloadIntegrityError as exc:
            return StoredObject(name, ObjectMeta(), length, b"", tag, damage=exc)
        _log.info("Read Redis key %s (%d bytes stored)", key, length)
        return StoredObject(name, _meta(token, header, len(body)), len(body), body, tag)

    def _info(self, name: str, head: bytes, length: int) -> ObjectInfo | None:
        if not length:
            return None
        key = self.key(name)
        line = head[: head.find(b"\n") + 1]
        header = parse_record_header(line, token=format_redis_token(key), where=f"Redis key {key}")
        stored = int(length) - len(line)
        return ObjectInfo(name, _meta(format_redis_token(key), header, stored), stored)

    def _failure(self, exc: RedisError, operation: str, name: str) -> PayloadError:
        return failure(exc, operation, self.token_for(name))

    # -- sync I/O ---------------------------------------------------------------------------

    def put_one(self, item: PutItem) -> bool:
        key = self.key(item.name)
        client = self.sync
        try:
            return self._stored(item, bool(client.set(key, self._value(item), nx=True, px=self._ttl)))
        except RedisError as exc:
            raise self._failure(exc, "upload", item.name) from exc

    def replace_one(self, item: PutItem, tag: object) -> bool:
        if tag is None:
            return self.put_one(item)
        bound, seen = _tag(tag)
        key = self.key(item.name)
        try:
            with self.sync.pipeline(transaction=True) as pipe:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                # Under WATCH a pipeline runs commands at once: is it still the value checked?
                if pipe.getrange(key, 0, bound) != seen:
                    return False
                pipe.multi()
                pipe.set(key, self._value(item), px=self._ttl)
                try:
                    pipe.execute()
                except WatchError:
                    return False
        except RedisError as exc:
            raise self._failure(exc, "upload", item.name) from exc
        return self._stored(item, True)

    def confirm_one(self, name: str) -> bool:
        # One EXISTS; a failed check is a "no": the pipeline's verified write then decides.
        try:
            return bool(self.sync.exists(self.key(name)))
        except RedisError:
            return False

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        """Read at most the largest record this store reads, plus one byte.

        Not a MULTI: Redis refuses MULTI when it is out of memory, and reads must
        go on then; the bound holds without it.
        """
        key, bound = self.key(name), MAX_RECORD_HEADER + max_bytes
        try:
            with self.sync.pipeline(transaction=False) as pipe:
                pipe.strlen(key)
                pipe.getrange(key, 0, bound)
                length, head = pipe.execute()
            # Nothing read: a missing key, or an empty value (which is refused as not a record).
            present = bool(head) or bool(self.sync.exists(key))
        except RedisError as exc:
            raise self._failure(exc, "download", name) from exc
        return self._found(name, int(length), head, present, bound)

    def head_one(self, name: str) -> ObjectInfo | None:
        key = self.key(name)
        try:
            with self.sync.pipeline(transaction=True) as pipe:
                pipe.getrange(key, 0, MAX_RECORD_HEADER - 1)
                pipe.strlen(key)
                head, length = pipe.execute()
        except RedisError as exc:
            raise self._failure(exc, "inspect", name) from exc
        return self._info(name, head, int(length))

    def delete_one(self, name: str) -> bool:
        try:
            return bool(self.sync.delete(self.key(name)))
        except RedisError as exc:
            raise self._failure(exc, "delete", name) from exc

    def list_objects(self) -> Iterator[ObjectInfo]:
        """Yield every payload key (``key_prefix`` + 32 hex), found with ``SCAN``."""
        prefix = self._prefix
        pattern = _GLOB_SPECIAL_RE.sub(r"\\\1", prefix) + "?" * 32
        try:
            for raw in self.sync.scan_iter(match=pattern, count=500):
                name = raw.decode("ascii", "replace")[len(prefix) :]
                if not is_content_name(name):
                    continue
                info = self.head_one(name)
                if info is not None:  # else expired or deleted since the scan saw it
                    yield info
        except RedisError as exc:
            raise failure(exc, "list", prefix) from exc

    def close(self) -> None:
        self.sync.close()

    # -- async I/O: the same commands on this event loop's client -------------------------

    async def _put_one_async(self, item: PutItem) -> bool:
        key = self.key(item.name)
        client = self._aio_clients.get()
        try:
            written = await client.set(key, self._value(item), nx=True, px=self._ttl)
        except RedisError as exc:
            raise self._failure(exc, "upload", item.name) from exc
        return self._stored(item, bool(written))

    async def _replace_one_async(self, item: PutItem, tag: object) -> bool:
        if tag is None:
            return await self._put_one_async(item)
        bound, seen = _tag(tag)
        key = self.key(item.name)
        try:
            async with self._aio_clients.get().pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                if await pipe.getrange(key, 0, bound) != seen:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, self._value(item), px=self._ttl)
                try:
                    await pipe.execute()
                except WatchError:
                    return False
        except RedisError as exc:
            raise self._failure(exc, "upload", item.name) from exc
        return self._stored(item, True)

    async def _confirm_one_async(self, name: str) -> bool:
        try:
            return bool(await self._aio_clients.get().exists(self.key(name)))
        except RedisError:
            return False

    async def _get_one_async(self, name: str, max_bytes: int) -> StoredObject | None:
        key, bound = self.key(name), MAX_RECORD_HEADER + max_bytes
        client = self._aio_clients.get()
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.strlen(key)
                pipe.getrange(key, 0, bound)
                length, head = await pipe.execute()
            present = bool(head) or bool(await client.exists(key))
        except RedisError as exc:
            raise self._failure(exc, "download", name) from exc
        return self._found(name, int(length), head, present, bound)

    async def _head_one_async(self, name: str) -> ObjectInfo | None:
        key = self.key(name)
        try:
            async with self._aio_clients.get().pipeline(transaction=True) as pipe:
                pipe.getrange(key, 0, MAX_RECORD_HEADER - 1)
                pipe.strlen(key)
                head, length = await pipe.execute()
        except RedisError as exc:
            raise self._failure(exc, "inspect", name) from exc
        return self._info(name, head, int(length))

    async def _delete_one_async(self, name: str) -> bool:
        try:
            return bool(await self._aio_clients.get().delete(self.key(name)))
        except RedisError as exc:
            raise self._failure(exc, "delete", name) from exc

    async def put_async(self, items: Sequence[PutItem]) -> list[bool]:
        return [await self._put_one_async(item) for item in items]

    async def replace_async(self, items: Sequence[tuple[PutItem, object]]) -> list[bool]:
        return [await self._replace_one_async(item, tag) for item, tag in items]

    async def get_async(self, names: Sequence[str], max_bytes: int) -> list[StoredObject | None]:
        return [await self._get_one_async(name, max_bytes) for name in names]

    async def head_async(self, names: Sequence[str]) -> list[ObjectInfo | None]:
        return [await self._head_one_async(name) for name in names]

    async def confirm_async(self, names: Sequence[str]) -> list[bool]:
        return [await self._confirm_one_async(name) for name in names]

    async def delete_async(self, names: Sequence[str]) -> list[bool]:
        return [await self._delete_one_async(name) for name in names]

    async def aclose(self) -> None:
        """Close this event loop's async client, then the sync one."""
        client = self._aio_clients.pop()
        if client is not None:
            await client.aclose()
        self.close()


def _meta(token: str, header: dict[str, Any], stored_size: int) -> ObjectMeta:
    info = record_info(token, header, stored_size)
    return ObjectMeta(info.content_encoding, info.sha256, info.size, info.instance_id, info.created)


def _tag(tag: object) -> tuple[int, bytes]:
    # Made by _found: (the GETRANGE bound, the value read).
    assert isinstance(tag, tuple)
    bound, seen = tag
    return int(bound), bytes(seen)
