"""Code written for durabletask's built-in catches our oversize error exactly where it caught upstream's.

durabletask raises a ``ValueError`` when a value is above its store's
``max_stored_payload_bytes``; ours raises ``PayloadTooLargeError``, which is also
a ``ValueError``. The same caller code runs against every pairing of client and
store (durabletask's or ours, sync and async), on the real backend and Azurite,
and must report the refusal and schedule nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from durabletask import client as dt_client
from durabletask.extensions.azure_blob_payloads import BlobPayloadStore as BuiltInStore
from durabletask.extensions.azure_blob_payloads import BlobPayloadStoreOptions as BuiltInOptions
from durabletask.testing import create_test_backend

from durabletask_payloads import (
    AsyncTaskHubGrpcClient,
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    PayloadTooLargeError,
    TaskHubGrpcClient,
)

from ..helpers import free_port
from ..services import Azurite

pytestmark = pytest.mark.e2e

LIMIT = 64 * 1024
OVERSIZED = "x" * (LIMIT + 1)
SIZE = LIMIT + 3  # its JSON, quotes included


# -- caller code, as written against durabletask's built-in (it knows nothing of this package) --------


def start_or_refuse(client: Any, payload: str, instance_id: str) -> str:
    try:
        client.schedule_new_orchestration("anything", input=payload, instance_id=instance_id)
    except ValueError as exc:
        return f"refused: {exc}"
    return "scheduled"


async def start_or_refuse_async(client: Any, payload: str, instance_id: str) -> str:
    try:
        await client.schedule_new_orchestration("anything", input=payload, instance_id=instance_id)
    except ValueError as exc:
        return f"refused: {exc}"
    return "scheduled"


# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    port = free_port()
    backend = create_test_backend(port=port)
    yield f"localhost:{port}"
    backend.stop(grace=None)


def _stores(azurite: Azurite) -> dict[str, Any]:
    common = {"connection_string": azurite.connection_string, "threshold_bytes": 1024}
    return {
        "durabletask-store": BuiltInStore(BuiltInOptions(max_stored_payload_bytes=LIMIT, **common)),  # type: ignore[arg-type]
        "our-store": BlobPayloadStore(BlobPayloadStoreOptions(max_stored_payload_bytes=LIMIT, **common)),  # type: ignore[arg-type]
    }


CLIENTS = {
    "durabletask-client": dt_client.TaskHubGrpcClient,
    "our-client": TaskHubGrpcClient,
}
ASYNC_CLIENTS = {
    "durabletask-async-client": dt_client.AsyncTaskHubGrpcClient,
    "our-async-client": AsyncTaskHubGrpcClient,
}

#: Before the switch (durabletask's client and store), half-way (its client, our store) and after.
#: Our client needs a store of this package: it does not take durabletask's built-in store.
PAIRINGS = [
    ("durabletask-client", "durabletask-store"),
    ("durabletask-client", "our-store"),
    ("our-client", "our-store"),
]
ASYNC_PAIRINGS = [
    ("durabletask-async-client", "durabletask-store"),
    ("durabletask-async-client", "our-store"),
    ("our-async-client", "our-store"),
]


def _assert_nothing_scheduled(address: str, instance_id: str) -> None:
    with dt_client.TaskHubGrpcClient(host_address=address) as raw:
        assert raw.get_orchestration_state(instance_id) is None


class TestExceptValueErrorKeepsWorking:
    @pytest.mark.parametrize(("client_kind", "store_kind"), PAIRINGS)
    def test_sync_clients(self, azurite: Azurite, address: str, client_kind: str, store_kind: str) -> None:
        stores = _stores(azurite)
        instance_id = f"too-big-{uuid.uuid4().hex[:10]}"
        client = CLIENTS[client_kind](host_address=address, payload_store=stores[store_kind])
        try:
            outcome = start_or_refuse(client, OVERSIZED, instance_id)
            assert outcome.startswith("refused: ")
            assert f"{SIZE:,}" in outcome or str(SIZE) in outcome  # both name the size
            # A value under the limit goes through, so the refusal is about the size alone.
            assert start_or_refuse(client, "y" * 2048, instance_id + "-ok") == "scheduled"
        finally:
            client.close()
            for store in stores.values():
                store.close()
        _assert_nothing_scheduled(address, instance_id)

    @pytest.mark.parametrize(("client_kind", "store_kind"), ASYNC_PAIRINGS)
    def test_async_clients(self, azurite: Azurite, address: str, client_kind: str, store_kind: str) -> None:
        stores = _stores(azurite)
        instance_id = f"too-big-{uuid.uuid4().hex[:10]}"

        async def run() -> str:
            client = ASYNC_CLIENTS[client_kind](host_address=address, payload_store=stores[store_kind])
            try:
                return await start_or_refuse_async(client, OVERSIZED, instance_id)
            finally:
                await client.close()

        assert asyncio.run(run()).startswith("refused: ")
        for store in stores.values():
            store.close()
        _assert_nothing_scheduled(address, instance_id)

    def test_ours_is_the_richer_error_for_those_who_want_it(self, azurite: Azurite, address: str) -> None:
        store = _stores(azurite)["our-store"]
        with (
            TaskHubGrpcClient(host_address=address, payload_store=store) as client,
            pytest.raises(PayloadTooLargeError) as refused,
        ):
            client.schedule_new_orchestration("anything", input=OVERSIZED)
        assert isinstance(refused.value, ValueError)
        assert (refused.value.size, refused.value.limit) == (SIZE, LIMIT)
        store.close()
