"""Fixtures shared by every test: the in-memory Durable Task backend, Azurite and payload stores."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Imported here, at a shallow stack, on purpose: hypothesis's pytest plugin otherwise imports it at
# the end of the session, where CPython 3.11.7's AST validator can fail with "AST constructor
# recursion depth mismatch" (a CPython bug fixed in later releases) and crash the run.
import hypothesis  # noqa: F401
import pytest
from durabletask.testing import InMemoryOrchestrationBackend, create_test_backend

from durabletask_payloads import (
    BlobPayloadStoreOptions,
    FileSystemPayloadStore,
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadStore,
)

from .helpers import free_port
from .services import Azurite, ServiceError, start_azurite


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


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A real Azurite blob server on 127.0.0.1 and a free port, for the whole session.

    make test installs it into ./node_modules; a test that needs it fails, never skips,
    when it cannot be started.
    """
    try:
        server = start_azurite(tmp_path_factory.mktemp("azurite"))
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses Azurite must say so with the azurite marker (so `-m "not azurite"` is honest)."""
    for item in items:
        uses = "azurite" in getattr(item, "fixturenames", ())
        if uses and item.get_closest_marker("azurite") is None:
            raise pytest.UsageError(f"{item.nodeid} uses the azurite fixture without the azurite marker")


def make_store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, options: LargePayloadStorageOptions
) -> PayloadStore:
    """A fresh, empty store of *kind* with *options* (size and compression settings)."""
    if kind == "memory":
        return InMemoryPayloadStore(options)
    if kind == "filesystem":
        return FileSystemPayloadStore(tmp_path / f"fs-{uuid.uuid4().hex[:8]}", options)
    if kind == "azure_blob":
        from durabletask_payloads import BlobPayloadStore

        server: Azurite = request.getfixturevalue("azurite")
        return BlobPayloadStore(
            BlobPayloadStoreOptions(
                connection_string=server.connection_string,
                container_name=f"t-{uuid.uuid4().hex[:20]}",
                **{f.name: getattr(options, f.name) for f in dataclasses.fields(LargePayloadStorageOptions)},
            )
        )
    raise ValueError(kind)


StoreFactory = Callable[[LargePayloadStorageOptions], PayloadStore]

#: Every store kind, with the marker of the server it needs.
STORE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("filesystem", id="filesystem"),
    pytest.param("azure_blob", id="azure_blob", marks=pytest.mark.azurite),
]


@pytest.fixture(params=STORE_KINDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds fresh stores of each kind from options; closes them afterwards."""
    made: list[PayloadStore] = []

    def factory(options: LargePayloadStorageOptions) -> PayloadStore:
        store = make_store(request.param, request, tmp_path, options)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()
