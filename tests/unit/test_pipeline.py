"""DriverPayloadStore: what the one pipeline does for every driver, seen from the driver's side.

A recording driver (a fake: this is a unit test) keeps objects in a dictionary
and logs every call the pipeline makes, so each test counts the calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from durabletask_payloads import (
    DriverCapabilities,
    DriverPayloadStore,
    InvalidPayloadTokenError,
    LargePayloadStorageOptions,
    ObjectMeta,
    PayloadNotFoundError,
    PayloadStore,
    PayloadStoreRefusedError,
    PayloadStoreUnavailableError,
    PutItem,
    RemoteStoreOptions,
    StorageDriver,
    StoredObject,
    UnsupportedOperationError,
    store_failure,
)

OPTIONS = LargePayloadStorageOptions(threshold_bytes=10)


class Recording(StorageDriver):
    """Objects in a dictionary; put, replace and get only (no head, delete or list)."""

    capabilities = DriverCapabilities(delete=False, list=False, head=False)

    def __init__(self, scheme: str = "rec", failures: Sequence[Exception] = ()) -> None:
        self.scheme = scheme
        self.objects: dict[str, tuple[bytes, ObjectMeta]] = {}
        self.calls: list[tuple[str, str]] = []
        self.failures = list(failures)

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def put_one(self, item: PutItem) -> bool:
        self.calls.append(("put", item.name))
        self._fail()
        if item.name in self.objects:
            return False
        self.objects[item.name] = (item.body, item.meta)
        return True

    def replace_one(self, item: PutItem, tag: object) -> bool:
        self.calls.append(("replace", item.name))
        self.objects[item.name] = (item.body, item.meta)
        return True

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        self.calls.append(("get", name))
        self._fail()
        if name not in self.objects:
            return None
        body, meta = self.objects[name]
        return StoredObject(name, meta, len(body), body if len(body) <= max_bytes else None)


def _ops(driver: Recording) -> list[str]:
    return [op for op, _ in driver.calls]


class TestWrites:
    def test_a_new_payload_is_one_put(self) -> None:
        driver = Recording()
        store = DriverPayloadStore(driver, OPTIONS)
        token = store.upload(b"payload", instance_id="i")
        assert token == driver.token_for(token[-32:])
        assert driver.calls == [("put", token[-32:])]
        assert isinstance(store, PayloadStore)

    def test_a_taken_name_is_read_back_and_verified_before_it_counts(self) -> None:
        driver = Recording()
        DriverPayloadStore(driver, OPTIONS).upload(b"payload")
        driver.calls.clear()
        DriverPayloadStore(driver, OPTIONS).upload(b"payload")  # a fresh store: nothing known
        assert _ops(driver) == ["put", "get"]

    def test_a_bad_copy_under_the_name_is_replaced(self) -> None:
        driver = Recording()
        token = DriverPayloadStore(driver, OPTIONS).upload(b"payload")
        name = token[-32:]
        driver.objects[name] = (b"planted", driver.objects[name][1])
        driver.calls.clear()
        store = DriverPayloadStore(driver, OPTIONS)
        assert store.upload(b"payload") == token
        assert _ops(driver) == ["put", "get", "replace"]
        assert store.download(token) == b"payload"

    def test_without_confirm_a_name_seen_stored_is_still_a_verified_write(self) -> None:
        """A driver that cannot confirm cheaply is never taken at its word: put, then read back."""
        driver = Recording()
        store = DriverPayloadStore(driver, OPTIONS)
        (token,) = store.upload_many([b"payload"], instance_id="i")
        assert token in store.cache
        driver.calls.clear()
        assert store.upload(b"payload", instance_id="i") == token
        assert driver.calls == [("put", token[-32:]), ("get", token[-32:])]


class TestReads:
    def test_reads_route_to_the_driver_whose_token_it_is(self) -> None:
        old, new = Recording("old"), Recording("new")
        old_token = DriverPayloadStore(old, OPTIONS).upload(b"from before")
        store = DriverPayloadStore(new, OPTIONS, readers=[old])
        assert store.token_prefixes == ("new:v1:", "old:v1:")
        assert store.download(old_token) == b"from before"
        assert store.upload(b"now").startswith("new:v1:")
        assert (_ops(old)[-1], _ops(new)) == ("get", ["put"])

    def test_a_token_no_driver_claims_is_invalid_naming_the_prefixes(self) -> None:
        store = DriverPayloadStore(Recording("a"), OPTIONS, readers=[Recording("b")])
        with pytest.raises(InvalidPayloadTokenError, match="'a:v1:' or 'b:v1:'"):
            store.download("a:v1:../../etc/passwd")
        assert not store.is_known_token("a:v1:" + "0" * 31)

    def test_the_read_limit_is_passed_to_the_driver(self) -> None:
        driver = Recording()
        options = LargePayloadStorageOptions(
            threshold_bytes=10, max_stored_payload_bytes=1000, max_read_payload_bytes=1000
        )
        store = DriverPayloadStore(driver, options)
        store.download(store.upload(b"x"))
        seen: list[int] = []
        driver.get_one = lambda name, max_bytes: seen.append(max_bytes)  # type: ignore[method-assign]
        with pytest.raises(PayloadNotFoundError):
            store.download(driver.token_for("0" * 32))
        assert seen == [1000 + 64 * 1024]  # the read limit, and room for a gzip body's overhead


class TestFailures:
    RETRYING = RemoteStoreOptions(threshold_bytes=10, retry_total=3, retry_backoff_seconds=0.001)

    def test_a_transient_failure_is_retried(self) -> None:
        outage = store_failure("download", "rec", "connection reset", transient=True)
        driver = Recording(failures=[outage, outage])
        store = DriverPayloadStore(driver, self.RETRYING)
        store.upload(b"payload")
        assert _ops(driver) == ["put", "put", "put"]

    def test_a_permanent_failure_is_raised_at_once(self) -> None:
        driver = Recording(failures=[store_failure("upload", "rec", "403 forbidden", transient=False)])
        store = DriverPayloadStore(driver, self.RETRYING)
        with pytest.raises(PayloadStoreRefusedError, match="403"):
            store.upload(b"payload")
        assert _ops(driver) == ["put"]

    def test_local_options_do_not_retry(self) -> None:
        outage = store_failure("upload", "rec", "disk full", transient=True)
        driver = Recording(failures=[outage])
        with pytest.raises(PayloadStoreUnavailableError):
            DriverPayloadStore(driver, OPTIONS).upload(b"payload")
        assert _ops(driver) == ["put"]

    @pytest.mark.parametrize("operation", ["delete", "inspect", "list_payloads"])
    def test_what_a_driver_lacks_is_unsupported(self, operation: str) -> None:
        store = DriverPayloadStore(Recording(), OPTIONS)
        token = store.upload(b"payload")

        def call() -> object:
            if operation == "list_payloads":
                return list(store.list_payloads())
            return getattr(store, operation)(token)

        with pytest.raises(UnsupportedOperationError) as info:
            call()
        assert isinstance(info.value, NotImplementedError)


class TestAsync:
    @pytest.mark.parametrize("native", [True, False], ids=["driver-async-twins", "flow-in-a-thread"])
    def test_the_async_twins_make_the_same_driver_calls(self, native: bool) -> None:
        """Awaiting the driver's twins, or running the sync flow in a thread: the same calls either way."""
        sync_driver, async_driver = Recording(), Recording()
        async_driver.capabilities = DriverCapabilities(
            delete=False, list=False, head=False, native_async=native
        )
        sync_store = DriverPayloadStore(sync_driver, OPTIONS)
        async_store = DriverPayloadStore(async_driver, OPTIONS)
        token = sync_store.upload(b"payload", instance_id="i")
        assert sync_store.download(token) == b"payload"

        async def scenario() -> None:
            assert await async_store.upload_async(b"payload", instance_id="i") == token
            assert await async_store.download_async(token) == b"payload"

        asyncio.run(scenario())
        assert async_driver.calls == sync_driver.calls == [("put", token[-32:]), ("get", token[-32:])]


class Gated(Recording):
    """Native async puts that wait at a gate, counting how many wait at once."""

    capabilities = DriverCapabilities(delete=False, list=False, head=False, native_async=True)

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0
        self.most = 0
        self.gate = asyncio.Event()
        self.arrived = asyncio.Event()  # set once `expected` puts wait at the gate
        self.expected = 0

    def reset(self, expected: int) -> None:
        """New gate and arrival events, for the running loop."""
        self.gate, self.arrived, self.expected = asyncio.Event(), asyncio.Event(), expected

    async def put_async(self, items: Sequence[PutItem]) -> list[bool]:
        self.waiting += 1
        self.most = max(self.most, self.waiting)
        if self.waiting >= self.expected:
            self.arrived.set()
        await self.gate.wait()
        self.waiting -= 1
        return [self.put_one(item) for item in items]


class TestAsyncBound:
    def test_separate_async_uploads_run_at_most_max_concurrency_at_once(self) -> None:
        """As a hundred gathered client calls make them: one payload each, so no batch bounds them."""
        driver = Gated()
        store = DriverPayloadStore(driver, LargePayloadStorageOptions(threshold_bytes=10, max_concurrency=3))

        async def scenario() -> list[str]:
            driver.reset(expected=3)
            uploads = asyncio.gather(
                *(store.upload_async(b"payload %d" % n, instance_id="i") for n in range(10))
            )
            await driver.arrived.wait()
            for _ in range(20):
                await asyncio.sleep(0)  # any fourth would have reached the gate by now
            waiting = driver.waiting
            driver.gate.set()
            tokens = await uploads
            assert waiting == 3
            return tokens

        tokens = asyncio.run(scenario())
        assert driver.most == 3
        assert len(set(tokens)) == 10 and len(driver.objects) == 10
        assert asyncio.run(_download_all(store, tokens)) == [b"payload %d" % n for n in range(10)]

    def test_each_event_loop_has_its_own_bound(self) -> None:
        """A semaphore belongs to one loop: a store used from two loops in turn must work in both."""
        driver = Gated()
        store = DriverPayloadStore(driver, LargePayloadStorageOptions(threshold_bytes=10, max_concurrency=1))

        async def two(n: int) -> list[str]:
            driver.reset(expected=1)
            uploads = asyncio.gather(
                *(store.upload_async(b"payload %d" % m, instance_id="i") for m in (n, n + 1))
            )
            await driver.arrived.wait()
            driver.gate.set()  # the second upload waited for the first's slot: the bound is this loop's
            return list(await uploads)

        assert len(set(asyncio.run(two(1)) + asyncio.run(two(3)))) == 4
        assert driver.most == 1


async def _download_all(store: PayloadStore, tokens: Sequence[str]) -> list[bytes]:
    return list(await asyncio.gather(*(store.download_async(token) for token in tokens)))
