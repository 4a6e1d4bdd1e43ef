"""Servers and worker set-ups for the end-to-end benchmarks: built-in durabletask against ours.

Both sides run the same orchestrations on durabletask's in-memory backend (real gRPC)
with Azure Blob stores on the same Azurite; only the externalization differs:
durabletask's worker and client with ``payload_store=`` durabletask's own
``BlobPayloadStore``, or this package's worker and client with its ``BlobPayloadStore``.
Every store counts the uploads and downloads it actually sends to Azurite.
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
from durabletask.testing import create_test_backend

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


@dataclass
class Servers:
    azurite: Azurite
    address: str


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """Azurite and the in-memory backend, for one benchmark run."""
    with tempfile.TemporaryDirectory(prefix="dtp-bench-") as tmp:
        azurite = Azurite(Path(tmp))
        azurite.start()
        port = free_port()
        backend = create_test_backend(port=port)
        logging.getLogger("durabletask.testing.in_memory_backend").setLevel(logging.ERROR)
        try:
            yield Servers(azurite, f"localhost:{port}")
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


def our_store(azurite: Azurite, counts: Counts, container: str) -> CountingOurs:
    return CountingOurs(
        dtp.BlobPayloadStoreOptions(
            connection_string=azurite.connection_string,
            container_name=container,
            max_stored_payload_bytes=LARGE,
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
    """Run one orchestration with the built-in ("builtin") or our ("ours") externalization.

    With *split_workers*, a second worker takes the activities (registered by *split_workers*)
    and the first only the orchestrator, each with its own store: replays then start cold.
    """
    container = f"{side}-{uuid.uuid4().hex[:8]}"
    worker_counts, client_counts = Counts(), Counts()
    make_store = builtin_store if side == "builtin" else our_store
    worker_cls = dt_worker.TaskHubGrpcWorker if side == "builtin" else dtp.TaskHubGrpcWorker
    client_cls = dt_client.TaskHubGrpcClient if side == "builtin" else dtp.TaskHubGrpcClient
    stores = [make_store(srv.azurite, worker_counts, container)]
    workers = [worker_cls(host_address=srv.address, payload_store=stores[0], logger=QUIET)]
    register(workers[0])
    if split_workers is not None:
        stores.append(make_store(srv.azurite, worker_counts, container))
        workers.append(worker_cls(host_address=srv.address, payload_store=stores[1], logger=QUIET))
        split_workers(workers[1])
        for worker in workers:
            worker.use_work_item_filters()
    client_store = make_store(srv.azurite, client_counts, container)
    for worker in workers:
        worker.start()
    try:
        with client_cls(host_address=srv.address, payload_store=client_store, logger=QUIET) as client:
            start = time.perf_counter()
            instance_id = client.schedule_new_orchestration(orchestrator, input=value)
            state = client.wait_for_orchestration_completion(instance_id, timeout=timeout)
            seconds = time.perf_counter() - start
        if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
            raise RuntimeError(f"{side}: the orchestration did not complete: {state}")
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(srv.azurite.connection_string) as service:
            blobs = sum(1 for _ in service.get_container_client(container).list_blobs())
        return Run(
            seconds, worker_counts, client_counts, json.loads(state.serialized_output or "null"), blobs
        )
    finally:
        for worker in workers:
            worker.stop()
        for store in [*stores, client_store]:
            store.close()
