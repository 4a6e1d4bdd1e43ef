"""What the Azure tests that go through a recording proxy share: the proxy, and a store behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from durabletask_payloads import BlobPayloadStore, BlobPayloadStoreOptions

from ..faults import FaultProxy
from ..services import Azurite, dev_connection_string


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    """A real HTTP proxy in front of the suite's Azurite, recording every request."""
    with FaultProxy(azurite.port) as server:
        yield server


def proxied_store(proxy: FaultProxy, container: str, **options: Any) -> BlobPayloadStore:
    """A store on the development account, reached through *proxy*."""
    return BlobPayloadStore(
        BlobPayloadStoreOptions(
            connection_string=dev_connection_string(f"http://127.0.0.1:{proxy.port}"),
            container_name=container,
            **options,
        )
    )
