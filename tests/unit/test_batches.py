"""Batch transfers: bounded concurrency, failing fast, and the payload cache."""

from __future__ import annotations

import asyncio
import threading

import pytest

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
)
from durabletask_payloads._cache import PayloadCache


class Recording(InMemoryPayloadStore):
    """An in-memory store that records how many transfers run at once."""

    def __init__(self, options: LargePayloadStorageOptions) -> None:
        super().__init__(options)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.fetches = 0
        self.barrier: threading.Barrier | None = None

    def _enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        self._enter()
        try:
            return super().upload(data, instance_id=instance_id)
        finally:
            self._leave()

    def download(self, token: str) -> bytes:
        self._enter()
        try:
            self.fetches += 1
            return super().download(token)
        finally:
            self._leave()


def _options(**overrides: int) -> LargePayloadStorageOptions:
    return LargePayloadStorageOptions(threshold_bytes=1, **overrides)  # type: ignore[arg-type]


class TestConcurrency:
    def test_uploads_run_side_by_side_up_to_the_limit(self) -> None:
        store = Recording(_options(max_concurrency=4))
        store.barrier = threading.Barrier(4)  # times out unless 4 uploads run at once
        tokens = store.upload_many([f"p{i}".encode() for i in range(12)], instance_id="i")
        assert store.peak == 4
        assert store.download_many(tokens) == [f"p{i}".encode() for i in range(12)]

    def test_downloads_run_side_by_side_up_to_the_limit(self) -> None:
        writer = InMemoryPayloadStore(_options())
        store = Recording(_options(max_concurrency=3))
        store._objects = writer._objects  # same data, cold cache
        tokens = [writer.upload(f"d{i}".encode()) for i in range(9)]
        store.barrier = threading.Barrier(3)
        assert store.download_many(tokens) == [f"d{i}".encode() for i in range(9)]
        assert store.peak == 3

    def test_a_single_value_runs_on_the_calling_thread(self) -> None:
        store = Recording(_options())
        seen: list[str] = []
        original = store.upload

        def upload(data: bytes, *, instance_id: str | None = None) -> str:
            seen.append(threading.current_thread().name)
            return original(data, instance_id=instance_id)

        store.upload = upload  # type: ignore[method-assign]
        store.upload_many([b"one"])
        assert seen == [threading.current_thread().name]

    def test_the_first_failure_is_raised_and_unstarted_transfers_are_cancelled(self) -> None:
        store = Recording(_options(max_concurrency=1))
        release = threading.Event()
        calls: list[bytes] = []

        def upload(data: bytes, *, instance_id: str | None = None) -> str:
            calls.append(data)
            if data == b"bad":
                raise PayloadStoreUnavailableError("upload", "x", "HTTP 503")
            release.wait(timeout=10)
            return "memory:v1:" + "0" * 32

        store.upload = upload  # type: ignore[method-assign]
        with pytest.raises(PayloadStoreUnavailableError):
            store.upload_many([b"bad", b"a", b"b", b"c", b"d"])
        release.set()
        store.close()
        assert calls[0] == b"bad"
        assert len(calls) <= 2  # at most the one already picked up by the single thread

    def test_async_failure_cancels_the_others(self) -> None:
        store = InMemoryPayloadStore(_options(max_concurrency=8))
        cancelled: list[bytes] = []

        async def upload_async(data: bytes, *, instance_id: str | None = None) -> str:
            if data == b"bad":
                await asyncio.sleep(0)
                raise PayloadStoreUnavailableError("upload", "x", "HTTP 503")
            try:
                await asyncio.Event().wait()  # never set: only cancellation ends it
            except asyncio.CancelledError:
                cancelled.append(data)
                raise
            return ""

        store.upload_async = upload_async  # type: ignore[method-assign]

        async def scenario() -> None:
            with pytest.raises(PayloadStoreUnavailableError):
                await store.upload_many_async([b"a", b"bad", b"b", b"c"])

        asyncio.run(scenario())
        assert sorted(cancelled) == [b"a", b"b", b"c"]

    def test_async_transfers_are_bounded(self) -> None:
        store = InMemoryPayloadStore(_options(max_concurrency=2))
        state = {"now": 0, "peak": 0}

        async def upload_async(data: bytes, *, instance_id: str | None = None) -> str:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            state["now"] -= 1
            return InMemoryPayloadStore.upload(store, data, instance_id=instance_id)

        store.upload_async = upload_async  # type: ignore[method-assign]
        tokens = asyncio.run(store.upload_many_async([f"v{i}".encode() for i in range(10)]))
        assert len(tokens) == 10
        assert state["peak"] == 2


class TestCache:
    def test_what_was_uploaded_is_not_downloaded(self) -> None:
        store = Recording(_options())
        tokens = store.upload_many([b"x" * 100, b"y" * 100])
        assert store.download_many(tokens) == [b"x" * 100, b"y" * 100]
        assert store.fetches == 0

    def test_what_was_downloaded_once_is_not_downloaded_again(self) -> None:
        writer = InMemoryPayloadStore(_options())
        token = writer.upload(b"z" * 100)
        store = Recording(_options())
        store._objects = writer._objects
        for _ in range(5):
            assert store.download_many([token]) == [b"z" * 100]
        assert store.fetches == 1
        assert asyncio.run(store.download_many_async([token])) == [b"z" * 100]
        assert store.fetches == 1

    def test_delete_forgets_the_cached_payload(self) -> None:
        store = Recording(_options())
        (token,) = store.upload_many([b"gone"])
        assert store.delete(token)
        with pytest.raises(PayloadNotFoundError):
            store.download_many([token])

    def test_a_zero_size_cache_caches_nothing(self) -> None:
        store = Recording(_options(cache_max_bytes=0))
        tokens = store.upload_many([b"a" * 10])
        store.download_many(tokens)
        store.download_many(tokens)
        assert store.fetches == 2


class TestPayloadCache:
    def test_least_recently_used_payloads_are_evicted_by_size(self) -> None:
        cache = PayloadCache(max_bytes=100)
        cache.put("a", b"1" * 40)
        cache.put("b", b"2" * 40)
        assert cache.get("a") == b"1" * 40  # a is now the most recent
        cache.put("c", b"3" * 40)
        assert cache.get("b") is None
        assert cache.get("a") is not None and cache.get("c") is not None
        assert cache.size == 80

    def test_a_payload_over_half_the_capacity_is_not_cached(self) -> None:
        cache = PayloadCache(max_bytes=100)
        cache.put("big", b"x" * 51)
        assert cache.get("big") is None
        assert len(cache) == 0

    def test_replacing_an_entry_keeps_the_size_right(self) -> None:
        cache = PayloadCache(max_bytes=100)
        cache.put("a", b"1" * 30)
        cache.put("a", b"1" * 30)
        assert cache.size == 30
        cache.discard("a")
        assert cache.size == 0


class TestStoresWrittenForDurabletasksOptions:
    def test_a_store_with_durabletasks_own_options_class_gets_the_default_settings(self) -> None:
        """A store written for durabletask's PayloadStore returns its options class, lacking our fields."""
        from durabletask.payload import LargePayloadStorageOptions as UpstreamOptions

        class Legacy(InMemoryPayloadStore):
            @property
            def options(self) -> LargePayloadStorageOptions:
                return UpstreamOptions(threshold_bytes=1)  # type: ignore[return-value]

        store = Legacy()
        tokens = store.upload_many([b"a", b"b"])
        assert store.download_many(tokens) == [b"a", b"b"]
        assert store.cache.get(tokens[0]) == b"a"
