"""RedisPayloadStore on a real redis-server: NX writes, TTL, expiry, integrity, refusals, secrets."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from durabletask_payloads import (
    InvalidPayloadTokenError,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadStoreRefusedError,
    RedisPayloadStore,
    RedisPayloadStoreOptions,
)

from ..faults import ConnectionCounter, assert_refused_before_any_io
from ..services import Redis


def _options(server: Redis, **values: object) -> RedisPayloadStoreOptions:
    arguments: dict[str, object] = {"url": server.url, "key_prefix": f"t-{uuid.uuid4().hex[:12]}:"}
    arguments.update(values)
    return RedisPayloadStoreOptions(**arguments)  # type: ignore[arg-type]


@pytest.fixture
def store(redis_server: Redis) -> Iterator[RedisPayloadStore]:
    with RedisPayloadStore(_options(redis_server)) as store:
        yield store


@pytest.fixture
def raw(redis_server: Redis) -> Iterator[redis.Redis]:
    """A plain client on the same server, to check and tamper."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def _key(token: str) -> str:
    return token.removeprefix("redis:v1:")


def _keys(raw: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(raw.scan_iter(match=prefix + "*"))


class TestWrites:
    def test_token_is_prefix_and_content_name(self, store: RedisPayloadStore) -> None:
        token = store.upload(b"x", instance_id="i")
        assert token.startswith("redis:v1:" + store.options.key_prefix)
        assert len(_key(token)) == len(store.options.key_prefix) + 32

    def test_value_is_a_header_line_then_the_body(self, store: RedisPayloadStore, raw: redis.Redis) -> None:
        token = store.upload(b"y" * 5000, instance_id="inst")
        header, _, body = raw.get(_key(token)).partition(b"\n")
        assert header.startswith(b"DTPAYLOAD1 {")
        assert gzip.decompress(body) == b"y" * 5000

    def test_a_second_upload_replaces_a_value_that_is_not_the_payload(
        self, store: RedisPayloadStore, raw: redis.Redis
    ) -> None:
        token = store.upload(b"original", instance_id="i")
        raw.set(_key(token), b"replaced by someone else")
        store.cache.clear()  # a fresh worker: nothing known, so the object is read and checked
        assert store.upload(b"original", instance_id="i") == token
        assert store.download(token) == b"original"

    @pytest.mark.parametrize(
        "planted", [b"no header at all", b"DTPAYLOAD1 {not json\n", bytes(3 * 1024 * 1024)]
    )
    def test_a_second_upload_replaces_a_value_it_cannot_read(
        self, redis_server: Redis, raw: redis.Redis, planted: bytes
    ) -> None:
        """A headerless, unreadable or oversized value is replaced, not taken for the payload."""
        options = _options(redis_server, max_stored_payload_bytes=1024 * 1024)
        with RedisPayloadStore(options) as store:
            token = store.upload(b"original", instance_id="i")
            raw.set(_key(token), planted)
            store.cache.clear()  # a fresh worker: nothing known, so the value is read and checked
            assert store.upload(b"original", instance_id="i") == token
            assert raw.get(_key(token)).startswith(b"DTPAYLOAD1 {")
            assert store.download(token) == b"original"

    def test_a_known_payload_is_confirmed_with_exists_and_not_sent(
        self, store: RedisPayloadStore, raw: redis.Redis
    ) -> None:
        [token] = store.upload_many([b"sent once"], instance_id="i")  # remembered in the cache
        before = raw.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
        exists = raw.info("commandstats").get("cmdstat_exists", {}).get("calls", 0)
        assert store.upload(b"sent once", instance_id="i") == token
        stats = raw.info("commandstats")
        assert stats.get("cmdstat_set", {}).get("calls", 0) == before  # no SET: the body was not sent
        assert stats["cmdstat_exists"]["calls"] == exists + 1


class TestTimeToLive:
    def test_without_ttl_keys_do_not_expire(self, store: RedisPayloadStore, raw: redis.Redis) -> None:
        token = store.upload(b"kept")
        assert raw.pttl(_key(token)) == -1

    def test_ttl_is_set_on_the_first_write(self, redis_server: Redis, raw: redis.Redis) -> None:
        with RedisPayloadStore(_options(redis_server, ttl_seconds=100)) as store:
            token = store.upload(b"short-lived")
            assert 90_000 < raw.pttl(_key(token)) <= 100_000

    def test_a_later_write_does_not_extend_it(self, redis_server: Redis, raw: redis.Redis) -> None:
        with RedisPayloadStore(_options(redis_server, ttl_seconds=100)) as store:
            token = store.upload(b"short-lived", instance_id="i")
            raw.pexpire(_key(token), 5_000)  # as if 95 s had passed
            assert store.upload(b"short-lived", instance_id="i") == token
            assert 0 < raw.pttl(_key(token)) <= 5_000

    def test_a_key_expires_after_ttl_seconds(self, redis_server: Redis, raw: redis.Redis) -> None:
        with RedisPayloadStore(_options(redis_server, ttl_seconds=0.2)) as store:
            token = store.upload(b"brief")
            assert store.download(token) == b"brief"
            deadline = time.monotonic() + 10
            while raw.pttl(_key(token)) != -2:  # -2: no such key (any read makes Redis expire it)
                assert time.monotonic() < deadline, "the key did not expire"
                time.sleep(0.02)  # polling the server's own clock, bounded by the deadline
            with pytest.raises(PayloadNotFoundError, match=r"expired \(ttl_seconds=0\.2\)"):
                store.download(token)

    def test_an_expired_key_says_so_and_names_ttl_seconds(
        self, redis_server: Redis, raw: redis.Redis
    ) -> None:
        with RedisPayloadStore(_options(redis_server, ttl_seconds=3600)) as store:
            token = store.upload(b"gone")
            raw.pexpireat(_key(token), 1)  # an expiry time in the past: Redis expires the key at once
            with pytest.raises(PayloadNotFoundError) as info:
                store.download(token)
        message = str(info.value)
        assert "expired (ttl_seconds=3600)" in message
        assert "evicted" in message and "maxmemory-policy" in message
        assert info.value.token == token

    def test_without_ttl_a_missing_key_blames_eviction(self, store: RedisPayloadStore) -> None:
        token = store.upload(b"evicted")
        store.delete(token)
        with pytest.raises(PayloadNotFoundError, match=r"evicted .*no ttl_seconds"):
            store.download(token)


class TestMetadataAndIntegrity:
    def test_inspect_and_list_read_only_the_header(self, store: RedisPayloadStore) -> None:
        token = store.upload(b"x" * 5000, instance_id="inst/ü 1")
        info = store.inspect(token)
        assert (info.size, info.instance_id, info.content_encoding) == (5000, "inst/ü 1", "gzip")
        assert 0 < info.stored_size < 5000
        assert info.created is not None
        assert [i.token for i in store.list_payloads()] == [token]

    def test_listing_keeps_to_the_prefix(self, store: RedisPayloadStore, raw: redis.Redis) -> None:
        prefix = store.options.key_prefix
        raw.set(prefix + "c" * 31, b"not a content name")
        raw.set(prefix + "x:" + "c" * 32, b"deeper")
        raw.set("other:" + "c" * 32, b"not ours")
        token = store.upload(b"ours")
        assert [info.token for info in store.list_payloads()] == [token]

    def test_a_glob_character_in_the_prefix_is_matched_literally(
        self, redis_server: Redis, raw: redis.Redis
    ) -> None:
        base = f"t-{uuid.uuid4().hex[:8]}"
        raw.set(f"{base}-anything:" + "d" * 32, b"would match an unescaped *")
        with RedisPayloadStore(_options(redis_server, key_prefix=f"{base}*:")) as store:
            token = store.upload(b"ours")
            assert [info.token for info in store.list_payloads()] == [token]

    def test_a_value_without_header_is_refused(self, store: RedisPayloadStore, raw: redis.Redis) -> None:
        token = store.upload(b"fine")
        raw.set(_key(token), b"just some bytes")
        with pytest.raises(PayloadIntegrityError, match="payload header"):
            store.download(token)
        with pytest.raises(PayloadIntegrityError, match="payload header"):
            store.inspect(token)

    def test_delete(self, store: RedisPayloadStore) -> None:
        token = store.upload(b"bye")
        assert store.delete(token) is True
        assert store.delete(token) is False
        with pytest.raises(PayloadNotFoundError):
            store.inspect(token)


class TestRefusals:
    @pytest.fixture
    def port(self) -> Iterator[ConnectionCounter]:
        with ConnectionCounter() as port:
            yield port

    @pytest.fixture
    def offline(self, port: ConnectionCounter) -> Iterator[RedisPayloadStore]:
        """A store whose "server" counts connections and answers none."""
        options = RedisPayloadStoreOptions(
            host="127.0.0.1", port=port.port, key_prefix="p:", retry_total=3, retry_backoff_seconds=0.01
        )
        with RedisPayloadStore(options) as store:
            yield store

    @pytest.mark.parametrize(
        "token",
        [
            "redis:v1:other:" + "0" * 32,
            "redis:v1:" + "0" * 32,
            "redis:v1:p:" + "0" * 31,
            "redis:v1:p:" + "A" * 32,
            "redis:v1:p:x:" + "0" * 32,
            "redis:v1:p: " + "0" * 32,
            "redis:v1:p:\r\n" + "0" * 32,
            "redis:v1:p:" + "a" * 5000 + "0" * 32,
        ],
    )
    def test_refused_before_any_command(
        self, offline: RedisPayloadStore, port: ConnectionCounter, token: str
    ) -> None:
        assert_refused_before_any_io(offline, token, port)

    def test_another_prefix_is_known_but_refused_naming_key_prefix(self, offline: RedisPayloadStore) -> None:
        token = "redis:v1:other:" + "0" * 32
        assert offline.is_known_token(token)  # a Redis token, of another store's prefix
        with pytest.raises(
            InvalidPayloadTokenError, match="does not start with this store's key_prefix 'p:'"
        ):
            offline.download(token)


class TestServerErrors:
    def test_a_full_server_refuses_writes_and_says_so(
        self, store: RedisPayloadStore, raw: redis.Redis
    ) -> None:
        """With maxmemory reached and noeviction, writes fail loudly instead of losing payloads."""
        kept = store.upload(b"written before the server filled up")
        raw.config_set("maxmemory", "1")
        try:
            with pytest.raises(PayloadStoreRefusedError, match="OutOfMemoryError") as info:
                store.upload(b"one payload too many")
            assert "used memory" not in str(info.value)  # the server's own text stays out
            assert store.download(kept) == b"written before the server filled up"
        finally:
            raw.config_set("maxmemory", "0")

    def test_a_key_of_another_type_is_a_server_error_not_data(
        self, store: RedisPayloadStore, raw: redis.Redis
    ) -> None:
        token = store.upload(b"fine")
        raw.delete(_key(token))
        raw.hset(_key(token), "field", "value")
        with pytest.raises(PayloadStoreRefusedError, match="ResponseError WRONGTYPE"):
            store.download(token)


class TestSecrets:
    def test_repr_of_options_hides_url_and_password(self) -> None:
        by_url = RedisPayloadStoreOptions(url="redis://:hunter2-secret@cache:6379/0")
        by_host = RedisPayloadStoreOptions(host="cache", password="hunter2-secret")
        for options in (by_url, by_host):
            assert "hunter2-secret" not in repr(options)
        assert "cache" in repr(by_host)

    def test_no_log_line_holds_the_password_or_payload_data(
        self, redis_server: Redis, raw: redis.Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        raw.config_set("requirepass", "hunter2-secret")
        try:
            url = f"redis://:hunter2-secret@127.0.0.1:{redis_server.port}/0"
            with (
                caplog.at_level(logging.DEBUG),
                RedisPayloadStore(_options(redis_server, url=url, enable_compression=False)) as store,
            ):
                token = store.upload(b"card 4111-1111-1111-1111 " * 100, instance_id="i")
                store.upload(b"card 4111-1111-1111-1111 " * 100, instance_id="i")
                assert store.download(token).startswith(b"card")
                with pytest.raises(PayloadNotFoundError):
                    store.download(token[:-32] + "0" * 32)
                wrong = dataclasses.replace(store.options, url=url.replace("hunter2", "wrong"))
                with RedisPayloadStore(wrong) as refused, pytest.raises(PayloadStoreRefusedError) as info:
                    refused.download(token)
        finally:
            authed = redis.Redis.from_url(f"redis://:hunter2-secret@127.0.0.1:{redis_server.port}/0")
            authed.config_set("requirepass", "")
            authed.close()
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "Stored 2500 bytes as Redis key" in text  # the store did log
        for secret in ("hunter2-secret", "4111-1111-1111-1111"):
            assert secret not in text
            assert secret not in str(info.value)
        assert "AuthenticationError" in str(info.value)


class TestAsync:
    def test_async_expiry_message(self, redis_server: Redis, raw: redis.Redis) -> None:
        async def scenario(store: RedisPayloadStore) -> None:
            token = await store.upload_async(b"gone soon")
            raw.pexpireat(_key(token), 1)
            try:
                with pytest.raises(PayloadNotFoundError, match=r"expired \(ttl_seconds=60\)"):
                    await store.download_async(token)
            finally:
                await store.aclose()

        asyncio.run(scenario(RedisPayloadStore(_options(redis_server, ttl_seconds=60))))

    def test_async_round_trip_replace_inspect_delete(self, redis_server: Redis, raw: redis.Redis) -> None:
        async def scenario(store: RedisPayloadStore) -> None:
            token = await store.upload_async(b"async" * 1000, instance_id="i")
            assert raw.pttl(_key(token)) > 0  # SET ... NX PX from the asyncio client too
            assert await store.download_async(token) == b"async" * 1000
            raw.set(_key(token), b"planted")
            store.cache.clear()
            assert await store.upload_async(b"async" * 1000, instance_id="i") == token
            assert await store.download_async(token) == b"async" * 1000
            assert store.inspect(token).size == 5000
            assert await store.delete_async(token) is True
            assert await store.delete_async(token) is False
            await store.aclose()

        asyncio.run(scenario(RedisPayloadStore(_options(redis_server, ttl_seconds=60))))


class TestOptions:
    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"url": "http://cache"}, "url must start with redis://"),
            ({"url": "redis://cache", "host": "cache"}, "give url or host"),
            ({"port": 0}, "port must be an integer from 1 to 65535"),
            ({"db": -1}, "db must be an integer"),
            ({"key_prefix": "a b:"}, "key_prefix 'a b:' cannot be used"),
            ({"key_prefix": "x" * 1000}, "cannot be used: it is longer than"),
            ({"ttl_seconds": 0}, "ttl_seconds must be a positive number"),
            ({"ttl_seconds": 0.0001}, "ttl_seconds must be from 0.001"),
            ({"retry_total": -1}, "retry_total must be an integer from 0 to 20"),
            ({"read_timeout_seconds": 0}, "read_timeout_seconds must be a positive number"),
        ],
    )
    def test_bad_values_name_the_field(self, values: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            RedisPayloadStoreOptions(**values)  # type: ignore[arg-type]

    def test_a_bad_url_is_not_quoted(self) -> None:
        with pytest.raises(ValueError, match="url must start with") as info:
            RedisPayloadStoreOptions(url="http://:hunter2-secret@cache")
        assert "hunter2-secret" not in str(info.value)

    def test_ttl_in_milliseconds(self) -> None:
        assert RedisPayloadStoreOptions(ttl_seconds=1.5).ttl_milliseconds == 1500
        assert RedisPayloadStoreOptions().ttl_milliseconds is None
