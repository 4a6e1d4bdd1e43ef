"""Servers and worker set-ups for the end-to-end benchmarks: inline, built-in durabletask and ours.

All sides run the same orchestrations on durabletask's in-memory backend (real gRPC);
only the externalization differs: *inline* is plain durabletask with the gRPC message
limits raised on the backend, the worker and the client and no store at all (the floor
a user compares with); *builtin* is durabletask's worker and client with ``payload_store=``
durabletask's own ``BlobPayloadStore``; *ours* is this package's worker and client with
its ``BlobPayloadStore``. Both stores use the same Azurite and count the uploads and
downloads they actually send.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common  # noqa: F401 - puts the repository on sys.path
from durabletask import client as dt_client
from durabletask import worker as dt_worker
from durabletask.extensions.azure_blob_payloads import BlobPayloadStore as BuiltInStore
from durabletask.extensions.azure_blob_payloads import BlobPayloadStoreOptions as BuiltInOptions
from durabletask.grpc_options import GrpcChannelOptions
from durabletask.testing.in_memory_backend import InMemoryOrchestrationBackend

import durabletask_payloads as dtp
from tests.helpers import free_port
from tests.services import Azurite

QUIET = logging.getLogger("benchmark.quiet")
QUIET.setLevel(logging.CRITICAL)


@dataclass
class Counts:
    uploads: int = 0
    downloads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *, up: int = 0, down: int = 0) -> None:
        with self.lock:
            self.uploads += up
            self.downloads += down


class _Counting:
    """Counts the uploads and downloads a store sends (mixed in before the store class)."""

    counts: Counts

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        self.counts.add(up=1)
        return super().upload(data, instance_id=instance_id)  # type: ignore[misc, no-any-return]

    def download(self, token: str) -> bytes:
        self.counts.add(down=1)
        return super().download(token)  # type: ignore[misc, no-any-return]


class CountingBuiltIn(_Counting, BuiltInStore):
    def __init__(self, options: BuiltInOptions, counts: Counts) -> None:
        super().__init__(options)
        self.counts = counts


class CountingOurs(_Counting, dtp.BlobPayloadStore):
    def __init__(self, options: dtp.BlobPayloadStoreOptions, counts: Counts) -> None:
        super().__init__(options)
        self.counts = counts


# The gRPC message limit of the inline side (and of the backend, for every side): far above
# any history the benchmarks build, so inline never fails for size.
GRPC_LIMIT = 1024 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", GRPC_LIMIT),
    ("grpc.max_send_message_length", GRPC_LIMIT),
]


def inline_channel() -> GrpcChannelOptions:
    """Channel options for an inline worker or client: both message limits raised."""
    return GrpcChannelOptions(max_receive_message_length=GRPC_LIMIT, max_send_message_length=GRPC_LIMIT)


class RaisedLimitsBackend(InMemoryOrchestrationBackend):
    """The in-memory backend with its server's message limits raised (it sets none itself)."""

    def start(self) -> str:
        import grpc

        real_server = grpc.server

        def server(executor: Any, **kwargs: Any) -> Any:
            return real_server(executor, options=GRPC_OPTIONS, **kwargs)

        # The backend builds its server with grpc.server(executor) and no options; add them there.
        grpc.server = server  # type: ignore[assignment]
        try:
            return super().start()
        finally:
            grpc.server = real_server


@dataclass
class Servers:
    azurite: Azurite
    address: str
    backend: InMemoryOrchestrationBackend


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """Azurite and the in-memory backend (message limits raised), for one benchmark run."""
    with tempfile.TemporaryDirectory(prefix="dtp-bench-") as tmp:
        azurite = Azurite(Path(tmp))
        azurite.start()
        port = free_port()
        backend = RaisedLimitsBackend(port=port)
        backend.start()
        logging.getLogger("durabletask.testing.in_memory_backend").setLevel(logging.ERROR)
        try:
            yield Servers(azurite, f"localhost:{port}", backend)
        finally:
            backend.stop(grace=None)
            azurite.stop()


LARGE = 64 * 1024 * 1024


def builtin_store(azurite: Azurite, counts: Counts, container: str) -> CountingBuiltIn:
    return CountingBuiltIn(
        BuiltInOptions(
            connection_string=azurite.connection_string,
            container_name=container,
            max_stored_payload_bytes=LARGE,
        ),
        counts,
    )


def our_store(azurite: Azurite, counts: Counts, container: str, **options: Any) -> CountingOurs:
    return CountingOurs(
        dtp.BlobPayloadStoreOptions(
            connection_string=azurite.connection_string,
            container_name=container,
            max_stored_payload_bytes=LARGE,
            **options,
        ),
        counts,
    )


@dataclass
class Run:
    """The outcome of one orchestration on one side."""

    seconds: float
    worker: Counts
    client: Counts
    output: Any
    blobs: int  # blobs in the container afterwards (workers and client together)


Register = Callable[[Any], None]


SIDES = ("inline", "builtin", "ours")


def make_store(side: str, azurite: Azurite, counts: Counts, container: str) -> Any:
    """The store of *side*: None for inline, else a counting Azure Blob store on *container*."""
    if side == "inline":
        return None
    return (builtin_store if side == "builtin" else our_store)(azurite, counts, container)


def make_worker(side: str, address: str, store: Any, **kwargs: Any) -> Any:
    """A worker of *side*: plain durabletask with raised limits (inline), durabletask's, or ours."""
    if side == "inline":
        return dt_worker.TaskHubGrpcWorker(
            host_address=address, logger=QUIET, channel_options=inline_channel(), **kwargs
        )
    cls = dt_worker.TaskHubGrpcWorker if side == "builtin" else dtp.TaskHubGrpcWorker
    return cls(host_address=address, payload_store=store, logger=QUIET, **kwargs)


def make_client(side: str, address: str, store: Any) -> Any:
    """A client of *side*, like :func:`make_worker`."""
    if side == "inline":
        channel = inline_channel()
        return dt_client.TaskHubGrpcClient(host_address=address, logger=QUIET, channel_options=channel)
    cls = dt_client.TaskHubGrpcClient if side == "builtin" else dtp.TaskHubGrpcClient
    return cls(host_address=address, payload_store=store, logger=QUIET)


def count_blobs(azurite: Azurite, container: str) -> int:
    """Blobs in *container* (0 when it was never made, as on the inline side)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        try:
            return sum(1 for _ in service.get_container_client(container).list_blobs())
        except ResourceNotFoundError:
            return 0


def run_side(
    side: str,
    srv: Servers,
    register: Register,
    orchestrator: Any,
    value: Any,
    *,
    split_workers: Register | None = None,
    timeout: float = 600,
) -> Run:
    """Run one orchestration inline ("inline"), with the built-in ("builtin") or our ("ours") externalization.

    With *split_workers*, a second worker takes the activities (registered by *split_workers*)
    and the first only the orchestrator, each with its own store: replays then start cold.
    """
    container = f"{side}-{uuid.uuid4().hex[:8]}"
    worker_counts, client_counts = Counts(), Counts()
    stores = [make_store(side, srv.azurite, worker_counts, container)]
    workers = [make_worker(side, srv.address, stores[0])]
    register(workers[0])
    if split_workers is not None:
        stores.append(make_store(side, srv.azurite, worker_counts, container))
        workers.append(make_worker(side, srv.address, stores[1]))
        split_workers(workers[1])
        for worker in workers:
            worker.use_work_item_filters()
    client_store = make_store(side, srv.azurite, client_counts, container)
    for worker in workers:
        worker.start()
    try:
        with make_client(side, srv.address, client_store) as client:
            start = time.perf_counter()
            instance_id = client.schedule_new_orchestration(orchestrator, input=value)
            state = client.wait_for_orchestration_completion(instance_id, timeout=timeout)
            seconds = time.perf_counter() - start
        if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
            raise RuntimeError(f"{side}: the orchestration did not complete: {state}")
        blobs = count_blobs(srv.azurite, container)
        return Run(
            seconds, worker_counts, client_counts, json.loads(state.serialized_output or "null"), blobs
        )
    finally:
        for worker in workers:
            worker.stop()
        for store in [*stores, client_store]:
            if store is not None:
                store.close()
