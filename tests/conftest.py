"""Fixtures shared by every test: the in-memory Durable Task backend and payload stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from durabletask.testing import InMemoryOrchestrationBackend, create_test_backend

from durabletask_payloads import (
    FileSystemPayloadStore,
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadStore,
)

from .helpers import free_port

StoreFactory = Callable[[LargePayloadStorageOptions], PayloadStore]


@dataclass
class Backend:
    server: InMemoryOrchestrationBackend
    address: str


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    """The real gRPC in-memory backend shipped by durabletask.testing, for the whole session."""
    port = free_port()
    server = create_test_backend(port=port)
    yield Backend(server, f"localhost:{port}")
    server.stop(grace=None)


def _memory(tmp: Path) -> StoreFactory:
    return lambda options: InMemoryPayloadStore(options)


def _filesystem(tmp: Path) -> StoreFactory:
    counter = iter(range(1_000_000))
    return lambda options: FileSystemPayloadStore(tmp / f"fs{next(counter)}", options)


LOCAL_STORES: dict[str, Callable[[Path], StoreFactory]] = {"memory": _memory, "filesystem": _filesystem}


@pytest.fixture(params=sorted(LOCAL_STORES))
def local_store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Builds a fresh store of each local kind (memory, filesystem) from options."""
    return LOCAL_STORES[request.param](tmp_path)
