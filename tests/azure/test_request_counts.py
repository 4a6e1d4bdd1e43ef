"""How many requests each Blob operation makes, counted by a real proxy in front of Azurite.

Every figure here is a promise of the docs (docs/azure-blob.md): a fresh upload is one PUT (and one
container create the first time), a re-upload of a payload the store moved recently is one HEAD, a
download is one GET, an oversized blob costs one bounded GET and no more, and a name already taken
costs a GET to verify it (and a conditional PUT when it is not this payload). The sync methods and
the async ones (on the aio clients) make the same requests.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from durabletask_payloads import BlobPayloadStore, PayloadReadLimitError

from ..faults import FaultProxy
from ..services import Azurite
from .conftest import proxied_store

MIB = 1024 * 1024


@pytest.fixture
def container() -> str:
    return f"rc-{uuid.uuid4().hex[:16]}"


class Calls:
    """The store's methods, called as the test's mode says: sync, or async on the aio clients."""

    def __init__(self, store: BlobPayloadStore, mode: str) -> None:
        self.store = store
        self.mode = mode
        self._loop = asyncio.new_event_loop() if mode == "async" else None

    def upload(self, data: bytes) -> str:
        if self._loop is None:
            return self.store.upload(data, instance_id="counts")
        return self._loop.run_until_complete(self.store.upload_async(data, instance_id="counts"))

    def upload_many(self, data: bytes) -> str:
        # The batch methods are what fill the cache (as the interceptors call them).
        if self._loop is None:
            return self.store.upload_many([data], instance_id="counts")[0]
        return self._loop.run_until_complete(self.store.upload_many_async([data], instance_id="counts"))[0]

    def download(self, token: str) -> bytes:
        if self._loop is None:
            return self.store.download(token)
        return self._loop.run_until_complete(self.store.download_async(token))

    def close(self) -> None:
        if self._loop is None:
            self.store.close()
            return
        self._loop.run_until_complete(self.store.aclose())
        self._loop.close()


@pytest.fixture(params=["sync", "async"])
def calls(request: pytest.FixtureRequest) -> Iterator[Callable[[BlobPayloadStore], Calls]]:
    made: list[Calls] = []

    def make(store: BlobPayloadStore) -> Calls:
        made.append(Calls(store, request.param))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _requests(proxy: FaultProxy, action: Callable[[], object]) -> list[str]:
    """The requests *action* made, as ``METHOD kind`` (container or blob), in order."""
    before = len(proxy.requests)
    action()
    return [
        f"{method} {'container' if 'restype=container' in path else 'blob'}"
        for method, path in proxy.requests[before:]
    ]


def _plant(azurite: Azurite, container: str, token: str, body: bytes) -> None:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.get_blob_client(container, token.rsplit(":", 1)[1]).upload_blob(body, overwrite=True)


def test_a_fresh_upload_is_one_put_and_one_container_create_the_first_time(
    proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    store = calls(proxied_store(proxy, container))
    assert _requests(proxy, lambda: store.upload(b"first" * 1000)) == ["PUT container", "PUT blob"]
    assert _requests(proxy, lambda: store.upload(b"second" * 1000)) == ["PUT blob"]


def test_a_re_upload_of_a_payload_moved_recently_is_one_head(
    proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    store = calls(proxied_store(proxy, container))
    store.upload_many(b"again" * 1000)
    assert _requests(proxy, lambda: store.upload_many(b"again" * 1000)) == ["HEAD blob"]


def test_a_download_is_one_get(
    proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    writer = calls(proxied_store(proxy, container))
    token = writer.upload(b"read me" * 1000)
    reader = calls(proxied_store(proxy, container))  # nothing cached
    assert _requests(proxy, lambda: reader.download(token)) == ["GET blob"]


def test_an_oversized_blob_costs_one_bounded_get_and_no_more(
    proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    # Larger than the SDK's first (bounded) GET of 4 MiB: reading it whole would take a second GET.
    data = os.urandom(6 * MIB)
    with proxied_store(
        proxy, container, enable_compression=False
    ) as writer:  # sync: aiohttp warns of big bodies
        token = writer.upload(data)
    reader = calls(proxied_store(proxy, container, max_stored_payload_bytes=MIB))

    def refused() -> None:
        with pytest.raises(PayloadReadLimitError):
            reader.download(token)

    assert _requests(proxy, refused) == ["GET blob"]


def test_a_taken_name_holding_this_payload_is_put_then_get(
    proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    first = calls(proxied_store(proxy, container))
    token = first.upload(b"shared" * 1000)
    second = calls(proxied_store(proxy, container))
    second.upload(b"warm-up")  # its container create, out of the count
    assert _requests(proxy, lambda: second.upload(b"shared" * 1000)) == ["PUT blob", "GET blob"]
    assert second.download(token) == b"shared" * 1000


def test_a_taken_name_holding_a_bad_copy_is_put_get_then_conditional_put(
    azurite: Azurite, proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    first = calls(proxied_store(proxy, container))
    token = first.upload(b"genuine" * 1000)
    _plant(azurite, container, token, b"planted")
    second = calls(proxied_store(proxy, container))
    second.upload(b"warm-up")
    assert _requests(proxy, lambda: second.upload(b"genuine" * 1000)) == ["PUT blob", "GET blob", "PUT blob"]
    assert second.download(token) == b"genuine" * 1000


def test_a_failed_head_falls_back_to_the_verified_write(
    proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    store = calls(proxied_store(proxy, container))
    store.upload_many(b"cached" * 1000)
    proxy.inject("HEAD", status=500)
    # Never "already there" unverified: the taken name is read back and checked.
    assert _requests(proxy, lambda: store.upload_many(b"cached" * 1000)) == [
        "HEAD blob",
        "PUT blob",
        "GET blob",
    ]
    assert proxy.count("HEAD") == 1  # the injected failure was hit, and the check not retried


def test_a_head_that_finds_nothing_writes_it_again(
    azurite: Azurite, proxy: FaultProxy, container: str, calls: Callable[[BlobPayloadStore], Calls]
) -> None:
    store = calls(proxied_store(proxy, container))
    token = store.upload_many(b"cached" * 1000)
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        service.get_blob_client(container, token.rsplit(":", 1)[1]).delete_blob()
    assert _requests(proxy, lambda: store.upload_many(b"cached" * 1000)) == ["HEAD blob", "PUT blob"]
    assert store.download(token) == b"cached" * 1000


def test_the_async_methods_run_on_the_aio_clients_not_in_threads(
    proxy: FaultProxy, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durabletask_payloads import _pipeline
    from durabletask_payloads.stores import _azure_driver

    store = proxied_store(proxy, container)
    assert store.driver.capabilities.native_async  # a shared key serves the aio client

    def no_sync_runner(*args: object, **kwargs: object) -> None:
        raise AssertionError("an async method of a native-async store ran the sync flow")

    # The sync flows run only through these two names: the async methods must need neither.
    monkeypatch.setattr(_pipeline, "run", no_sync_runner)
    monkeypatch.setattr(_azure_driver, "run", no_sync_runner)

    async def scenario() -> bytes:
        try:
            token = await store.upload_async(b"native" * 1000)
            await store.upload_many_async([b"native" * 1000])
            return await store.download_async(token)
        finally:
            await store.aclose()

    assert asyncio.run(scenario()) == b"native" * 1000
    monkeypatch.undo()
    store.close()
