"""The contract every payload store keeps, run against each store implementation."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from durabletask_payloads import (
    DriverPayloadStore,
    InvalidPayloadTokenError,
    LargePayloadStorageOptions,
    PayloadNotFoundError,
    PayloadStore,
    PayloadStoreClosedError,
    PayloadTooLargeError,
    StorageDriver,
)

from ..conftest import STORE_KINDS, StoreFactory, make_store
from ..helpers import open_connections, orders
from .docs_example import sqlite_driver

SMALL = LargePayloadStorageOptions(threshold_bytes=1024, max_stored_payload_bytes=64 * 1024 * 1024)


@pytest.fixture(params=[*STORE_KINDS, pytest.param("sqlite-driver", id="sqlite-driver")])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Every store kind of conftest, and the SQLite driver of docs/stores.md under the pipeline."""
    made: list[PayloadStore] = []

    def factory(options: LargePayloadStorageOptions) -> PayloadStore:
        if request.param == "sqlite-driver":
            path = tmp_path / f"sqlite-{len(made)}.db"
            store: PayloadStore = DriverPayloadStore(sqlite_driver()(str(path)), options)
        else:
            store = make_store(request.param, request, tmp_path, options)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> PayloadStore:
    return store_factory(SMALL)


def _drivers(store: PayloadStore) -> list[StorageDriver]:
    """The drivers under *store* (under each of a routing store's stores)."""
    if isinstance(store, DriverPayloadStore):
        return [store.driver]
    return [driver for inner in getattr(store, "stores", ()) for driver in _drivers(inner)]


class TestRoundTrip:
    @pytest.mark.parametrize("size", [0, 1, 1024, 300_000, 5 * 1024 * 1024])
    def test_bytes_come_back_identical(self, store: PayloadStore, size: int) -> None:
        data = json.dumps(orders(max(1, size // 150))).encode()[:size]
        token = store.upload(data, instance_id="inst")
        assert store.is_known_token(token)
        assert store.download(token) == data

    def test_maximum_size_payload_round_trips(self, store_factory: StoreFactory) -> None:
        store = store_factory(
            LargePayloadStorageOptions(threshold_bytes=10, max_stored_payload_bytes=100_000)
        )
        data = b"m" * 100_000
        assert store.download(store.upload(data)) == data

    @pytest.mark.parametrize("compression", [True, False])
    def test_with_and_without_compression(self, store_factory: StoreFactory, compression: bool) -> None:
        store = store_factory(LargePayloadStorageOptions(threshold_bytes=10, enable_compression=compression))
        data = json.dumps(orders(100)).encode()
        token = store.upload(data)
        assert store.download(token) == data
        info = store.inspect(token)
        assert info.content_encoding == ("gzip" if compression else "identity")
        assert info.size == len(data)
        assert (info.stored_size < len(data)) is compression

    def test_async_twins_behave_the_same(self, store: PayloadStore) -> None:
        async def scenario() -> None:
            token = await store.upload_async(b"async payload", instance_id="i")
            assert token == store.upload(b"async payload", instance_id="i")
            assert await store.download_async(token) == b"async payload"
            tokens = await store.upload_many_async([b"a", b"b"], instance_id="i")
            assert await store.download_many_async(tokens) == [b"a", b"b"]

        asyncio.run(scenario())

    def test_many_keeps_order(self, store: PayloadStore) -> None:
        payloads = [f"payload {i}".encode() for i in range(20)]
        tokens = store.upload_many(payloads, instance_id="i")
        assert store.download_many(tokens) == payloads


class TestNaming:
    def test_identical_payloads_of_one_instance_share_a_token(self, store: PayloadStore) -> None:
        assert store.upload(b"same", instance_id="a") == store.upload(b"same", instance_id="a")

    def test_a_payload_moved_recently_is_confirmed_not_sent_or_read_again(
        self, store: PayloadStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every built-in driver can confirm cheaply: a re-upload from the cache writes and reads nothing."""
        data = json.dumps(orders(40)).encode()
        (token,) = store.upload_many([data], instance_id="a")  # the batch methods fill the cache
        calls: list[str] = []
        for driver in _drivers(store):
            assert driver.capabilities.confirm, driver
            for name in ("put", "replace", "get"):
                method = getattr(driver, name)
                monkeypatch.setattr(driver, name, lambda *a, _n=name, _m=method: calls.append(_n) or _m(*a))
        assert store.upload(data, instance_id="a") == token
        assert calls == []

    def test_other_instances_get_their_own(self, store: PayloadStore) -> None:
        assert store.upload(b"same", instance_id="a") != store.upload(b"same", instance_id="b")

    def test_token_ends_in_32_hex(self, store: PayloadStore) -> None:
        token = store.upload(b"x")
        # The content name is the whole last segment of the key (after ":" or, for S3 keys, "/").
        assert re.search(r"[:/][0-9a-f]{32}$", token)
        assert token.startswith(store.token_prefixes)


class TestRefusals:
    def test_above_the_maximum_is_refused_naming_size_and_limit(self, store_factory: StoreFactory) -> None:
        store = store_factory(LargePayloadStorageOptions(threshold_bytes=10, max_stored_payload_bytes=100))
        with pytest.raises(PayloadTooLargeError, match=r"101 bytes exceeds the limit of 100 bytes"):
            store.upload(b"x" * 101)

    def test_unknown_token_is_not_found(self, store: PayloadStore) -> None:
        token = store.upload(b"x")
        missing = token[:-32] + "0" * 32
        with pytest.raises(PayloadNotFoundError) as info:
            store.download(missing)
        assert info.value.token == missing

    @pytest.mark.parametrize(
        "value", ["", "hello", "blob:v1:c:n", '{"a": 1}', "file:v1:xyz", "memory:v1:xyz"]
    )
    def test_other_strings_are_not_tokens(self, store: PayloadStore, value: str) -> None:
        assert not store.is_known_token(value)
        with pytest.raises(InvalidPayloadTokenError):
            store.download(value)


class TestLifecycle:
    def test_delete_then_not_found(self, store: PayloadStore) -> None:
        token = store.upload(b"bye")
        assert store.delete(token) is True
        assert store.delete(token) is False
        with pytest.raises(PayloadNotFoundError):
            store.download(token)

    def test_inspect_and_list(self, store: PayloadStore) -> None:
        data = b"hello" * 100
        token = store.upload(data, instance_id="inst-7")
        info = store.inspect(token)
        assert (info.token, info.size, info.instance_id) == (token, len(data), "inst-7")
        assert info.created is not None
        import hashlib

        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert token in {i.token for i in store.list_payloads()}

    def test_context_managers_return_the_store(self, store: PayloadStore) -> None:
        with store as entered:
            assert entered is store

        async def scenario() -> None:
            async with store as entered:
                assert entered is store

        asyncio.run(scenario())

    def test_a_closed_store_refuses_every_call_naming_the_fix(self, store: PayloadStore) -> None:
        token = store.upload(b"kept" * 500, instance_id="i")
        store.close()
        store.close()  # twice is harmless
        calls = {
            "upload": lambda: store.upload(b"more" * 500, instance_id="i"),
            "download": lambda: store.download(token),
            "download_many": lambda: store.download_many([token]),
            "delete": lambda: store.delete(token),
            "inspect": lambda: store.inspect(token),
            "list": lambda: list(store.list_payloads()),
            "upload_async": lambda: asyncio.run(store.upload_async(b"more" * 500)),
            "download_async": lambda: asyncio.run(store.download_async(token)),
        }
        for operation, call in calls.items():
            with pytest.raises(PayloadStoreClosedError, match=r"was closed.*Create a new store") as raised:
                call()
            assert not raised.value.transient, operation

    def test_the_store_stays_usable_after_aclose(self, store: PayloadStore) -> None:
        """aclose() releases one event loop's connections; the next loop, or a sync call, goes on."""
        data = b"kept" * 500
        token = store.upload(data, instance_id="i")

        async def scenario() -> None:
            assert await store.download_async(token) == data
            await store.aclose()

        asyncio.run(scenario())
        store.cache.clear()  # from the store itself, not the cache
        assert store.download(token) == data
        assert asyncio.run(store.download_async(token)) == data

    def test_close_ends_the_transfer_threads(self, store: PayloadStore) -> None:
        before = set(threading.enumerate())
        store.upload_many([b"one" * 500, b"two" * 500], instance_id="i")  # starts the transfer threads
        started = [t for t in threading.enumerate() if t not in before and t.name.startswith(POOL_THREADS)]
        assert started, "the batch ran on no transfer thread: this test no longer sees them"
        store.close()
        deadline = time.monotonic() + 1  # a closed pool's idle threads end at once: one second is ample
        for thread in started:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not [t.name for t in started if t.is_alive()]


#: The transfer threads' names start with this (PayloadStore's thread pool).
POOL_THREADS = "durabletask-payloads"

#: The servers each remote store kind talks to (fixture names; see conftest.make_store).
SERVERS = {
    "azure_blob": ("azurite",),
    "redis": ("redis_server",),
    "routing": ("redis_server", "s3_server"),
}
# S3 is not here: moto's server closes each connection after its response, so an S3 store holds
# none between calls and there would be nothing for close() to release, nor for a test to see.
REMOTE_KINDS = [
    pytest.param("azure_blob", marks=pytest.mark.azurite),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("routing", marks=[pytest.mark.redis, pytest.mark.s3]),
]


@pytest.mark.parametrize("kind", REMOTE_KINDS)
class TestClosingReleasesConnections:
    """What close() and aclose() release, counted in the kernel's table of this process's sockets."""

    @pytest.fixture
    def ports(self, kind: str, request: pytest.FixtureRequest) -> set[int]:
        return {request.getfixturevalue(name).port for name in SERVERS[kind]}

    def test_leaving_with_closes_the_sync_connections(
        self, kind: str, ports: set[int], request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        before = open_connections(ports)
        with make_store(kind, request, tmp_path, SMALL) as store:
            token = store.upload(b"held" * 500, instance_id="i")
            assert store.download_many([token, token]) == [b"held" * 500] * 2
            assert open_connections(ports) - before, "the store holds no connection: nothing to check"
        assert open_connections(ports) - before == set()

    def test_leaving_async_with_closes_this_loops_connections(
        self, kind: str, ports: set[int], request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        before = open_connections(ports)

        async def scenario() -> None:
            async with make_store(kind, request, tmp_path, SMALL) as store:
                token = await store.upload_async(b"held" * 500, instance_id="i")
                assert await store.download_many_async([token, token]) == [b"held" * 500] * 2
                assert open_connections(ports) - before, "the store holds no connection: nothing to check"
            assert open_connections(ports) - before == set()

        asyncio.run(scenario())
