"""RedisPayloadStore.from_url on the real redis-server: round trips; the password in the URL stays secret."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import redis

from durabletask_payloads import (
    PayloadStoreRefusedError,
    RedisPayloadStore,
    RedisPayloadStoreOptions,
    open_store,
)

from ..services import Redis

pytestmark = pytest.mark.redis

PASSWORD = "url-pass-" + uuid.uuid4().hex


@pytest.fixture
def user(redis_server: Redis) -> Iterator[str]:
    """An ACL user signing in with PASSWORD, so that the URL's credentials are what let the store in."""
    name = f"dtp-{uuid.uuid4().hex[:8]}"
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser(name, enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], commands=["+@all"])
    yield name
    admin.acl_deluser(name)
    admin.close()


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}:"


class TestFromUrl:
    def test_round_trip_with_key_prefix_in_the_url(self, redis_server: Redis) -> None:
        prefix = _prefix()
        with RedisPayloadStore.from_url(f"{redis_server.url}?key_prefix={prefix}") as store:
            token = store.upload(b"from a url " * 100, instance_id="i")
            assert token.startswith(f"redis:v1:{prefix}")
            assert store.options.key_prefix == prefix
            assert store.options.url == redis_server.url
        # Written through from_url, read through explicit options: the same store.
        with RedisPayloadStore(RedisPayloadStoreOptions(url=redis_server.url, key_prefix=prefix)) as same:
            assert same.download(token) == b"from a url " * 100

    def test_keywords_set_the_other_options(self, redis_server: Redis) -> None:
        with RedisPayloadStore.from_url(
            redis_server.url, key_prefix=_prefix(), ttl_seconds=60, read_timeout_seconds=2
        ) as store:
            assert (store.options.ttl_seconds, store.options.read_timeout_seconds) == (60, 2)
            assert store.download(store.upload(b"k" * 10)) == b"k" * 10

    def test_the_store_spec_goes_through_from_url(self, redis_server: Redis) -> None:
        prefix = _prefix()
        store = open_store(f"{redis_server.url}?prefix={prefix}")
        try:
            assert isinstance(store, RedisPayloadStore)
            assert store.options.key_prefix == prefix
            assert store.download(store.upload(b"spec")) == b"spec"
        finally:
            store.close()

    def test_the_password_signs_in_and_never_shows(
        self, redis_server: Redis, user: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        url = f"redis://{user}:{PASSWORD}@127.0.0.1:{redis_server.port}/0?key_prefix={_prefix()}"
        with caplog.at_level(logging.DEBUG), RedisPayloadStore.from_url(url) as store:
            token = store.upload(b"signed in " * 100, instance_id="i")
            assert store.download(token) == b"signed in " * 100
            shown = repr(store.options)
        wrong = url.replace(PASSWORD, "not-the-password")
        with (
            RedisPayloadStore.from_url(wrong, retry_total=0) as refused,
            pytest.raises(PayloadStoreRefusedError) as info,
        ):
            refused.download(token)
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "Stored" in text  # the store did log
        for secret in (PASSWORD, "not-the-password"):
            assert secret not in text
            assert secret not in shown
            assert secret not in str(info.value)
