"""Fixtures shared by every test: the in-memory Durable Task backend, local servers and payload stores."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

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
    RedisPayloadStoreOptions,
    RoutingPayloadStore,
    S3PayloadStoreOptions,
    by_size,
)

from . import services
from .helpers import free_port
from .services import (
    MOTO_ACCESS_KEY,
    MOTO_SECRET_KEY,
    Azurite,
    MotoS3,
    Redis,
    Service,
    ServiceError,
    start_azurite,
    start_moto_s3,
    start_redis,
)

ServiceT = TypeVar("ServiceT", bound=Service)


@dataclass
class Backend:
    server: InMemoryOrchestrationBackend
    address: str


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    """The real gRPC in-memory backend shipped by durabletask.testing, for the whole session.

    The session-wide scenario workers (fixture ``env``) listen on it: a test that starts
    workers of its own must use ``own_backend``, or they would share its work items.
    """
    port = free_port()
    server = create_test_backend(port=port)
    yield Backend(server, f"localhost:{port}")
    server.stop(grace=None)


@pytest.fixture(scope="module")
def own_backend() -> Iterator[Backend]:
    """A backend for one module's own workers; nothing else listens on it."""
    port = free_port()
    server = create_test_backend(port=port)
    yield Backend(server, f"localhost:{port}")
    server.stop(grace=None)


def _serve(start: Callable[[Path], ServiceT], location: Path) -> Iterator[ServiceT]:
    """Start a server for the session; a test that needs it fails, never skips, when it cannot start."""
    try:
        server = start(location)
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A real Azurite blob server on 127.0.0.1 and a free port (make test installs it into ./node_modules)."""
    yield from _serve(start_azurite, tmp_path_factory.mktemp("azurite"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    """A real redis-server on 127.0.0.1 and a free port, without persistence (make test installs it)."""
    yield from _serve(start_redis, tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's real S3 server, as a subprocess on 127.0.0.1 and a free port (from the dev group)."""
    yield from _serve(start_moto_s3, tmp_path_factory.mktemp("moto-s3"))


#: Each fixture that starts a server, and the marker of that server. A test whose fixtures include
#: one is marked automatically, per test: a module, class or parametrisation never needs the marker
#: for its fixtures, and `-m "not azurite and not s3 and not redis"` keeps every test that needs none.
SERVER_FIXTURES = {
    "azurite": "azurite",
    "own_azurite": "azurite",  # tests/reliability/conftest.py: an Azurite the test stops
    "https_azurite": "azurite",  # tests/stores/test_encryption.py
    "oauth_azurite": "azurite",  # tests/azure/test_cross_account_identity.py
    "redis_server": "redis",
    "s3_server": "s3",
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so the markers added here count
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the server its fixtures start."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker in sorted({SERVER_FIXTURES[name] for name in fixtures & SERVER_FIXTURES.keys()}):
            if item.get_closest_marker(marker) is None:
                item.add_marker(marker)


#: The test being run, so a server that starts can tell whether that test carries its marker.
_running: list[pytest.Item] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


def _refuse_unmarked(server: Service) -> None:
    """A server started on behalf of a test without that server's marker is an error, not a surprise.

    Reached when a test gets a server some way the collection hook cannot see (``getfixturevalue``,
    a helper): without this, `-m "not redis"` would start redis-server anyway.
    """
    if _running and _running[-1].get_closest_marker(server.marker) is None:
        raise ServiceError(
            f"{_running[-1].nodeid} starts {server.name} without the {server.marker!r} marker: "
            f"mark the test, or its parametrisation, with pytest.mark.{server.marker}"
        )


def pytest_configure(config: pytest.Config) -> None:
    services.before_start.append(_refuse_unmarked)


def pytest_unconfigure(config: pytest.Config) -> None:
    services.before_start.remove(_refuse_unmarked)


def new_s3_bucket(server: MotoS3) -> str:
    """Create an empty bucket on *server* and return its name."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    client = server.client()
    client.create_bucket(Bucket=name)
    client.close()
    return name


def s3_options(server: MotoS3, bucket: str, **values: object) -> S3PayloadStoreOptions:
    """Options of an S3 store on the local *server*."""
    return S3PayloadStoreOptions(
        bucket=bucket,
        endpoint_url=server.endpoint,
        region="us-east-1",
        access_key_id=MOTO_ACCESS_KEY,
        secret_access_key=MOTO_SECRET_KEY,
        **values,  # type: ignore[arg-type]
    )


def make_store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, options: LargePayloadStorageOptions
) -> PayloadStore:
    """A fresh, empty store of *kind* with *options* (size and compression settings)."""
    if kind == "memory":
        return InMemoryPayloadStore(options)
    if kind == "filesystem":
        return FileSystemPayloadStore(tmp_path / f"fs-{uuid.uuid4().hex[:8]}", options)
    common = {f.name: getattr(options, f.name) for f in dataclasses.fields(LargePayloadStorageOptions)}
    if kind == "azure_blob":
        from durabletask_payloads import BlobPayloadStore

        azurite: Azurite = request.getfixturevalue("azurite")
        return BlobPayloadStore(
            BlobPayloadStoreOptions(
                connection_string=azurite.connection_string,
                container_name=f"t-{uuid.uuid4().hex[:20]}",
                **common,
            )
        )
    if kind == "s3":
        from durabletask_payloads import S3PayloadStore

        s3: MotoS3 = request.getfixturevalue("s3_server")
        return S3PayloadStore(s3_options(s3, new_s3_bucket(s3), **common))
    if kind == "redis":
        from durabletask_payloads import RedisPayloadStore

        redis: Redis = request.getfixturevalue("redis_server")
        # A fresh key prefix per store: the server is shared by the whole session.
        prefix = f"t-{uuid.uuid4().hex[:12]}:"
        return RedisPayloadStore(RedisPayloadStoreOptions(url=redis.url, key_prefix=prefix, **common))
    if kind == "routing":
        # The example: hot Redis for small payloads, S3 for large ones.
        hot = make_store("redis", request, tmp_path, options)
        cold = make_store("s3", request, tmp_path, options)
        return RoutingPayloadStore(
            [hot, cold], by_size(hot, cold, boundary=ROUTING_BOUNDARY), options=options
        )
    raise ValueError(kind)


#: Where the "routing" store kind switches from Redis to S3.
ROUTING_BOUNDARY = 16 * 1024


StoreFactory = Callable[[LargePayloadStorageOptions], PayloadStore]

#: Every store kind, with the marker of the server it needs.
STORE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("filesystem", id="filesystem"),
    pytest.param("azure_blob", id="azure_blob", marks=pytest.mark.azurite),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("routing", id="routing", marks=[pytest.mark.redis, pytest.mark.s3]),
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
