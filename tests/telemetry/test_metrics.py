"""Metrics of transfers, cache lookups, retries and failures, read back with the SDK's in-memory reader.

Retries and transient failures are real: a BlobPayloadStore on Azurite behind
the fault-injecting proxy, which counts the requests that reached it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    FileSystemPayloadStore,
    FileSystemPayloadStoreOptions,
    LargePayloadStorageOptions,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
    deexternalize_payloads,
    externalize_payloads,
)

from ..faults import FaultProxy
from ..services import DEV_KEY, Azurite, dev_connection_string
from .conftest import PAYLOAD, Telemetry

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)
FILE_OPTIONS = FileSystemPayloadStoreOptions(threshold_bytes=1024, fsync=False)
RETRIES = 2
FS = "FileSystemPayloadStore"
METRICS = [
    f"{PAYLOAD}{name}"
    for name in (
        "uploads",
        "downloads",
        "upload.bytes",
        "download.bytes",
        "cache.hits",
        "cache.misses",
        "retries",
        "failures",
        "transfer.duration",
        "payload.size",
    )
]


def _value(tag: str, size: int) -> bytes:
    return json.dumps({"tag": tag, "pad": "p" * size}).encode()


class TestTransferMetrics:
    def test_uploads_downloads_bytes_and_cache(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """Counts and byte totals are exactly what moved; a cache hit is not a download."""
        writer = FileSystemPayloadStore(tmp_path, FILE_OPTIONS)
        reader = FileSystemPayloadStore(tmp_path, FILE_OPTIONS)
        sizes = (2_000, 30_000, 400_000)
        response = pb.OrchestratorResponse(instanceId="i")
        for number, size in enumerate(sizes):
            response.actions.add(id=number).scheduleTask.input.value = _value(str(number), size).decode()
        expected = sum(len(_value(str(n), size)) for n, size in enumerate(sizes))
        tokenized = pb.OrchestratorResponse()

        externalize_payloads(response, writer, instance_id="i")
        tokenized.CopyFrom(response)
        deexternalize_payloads(response, reader)  # three misses, three downloads
        response.CopyFrom(tokenized)
        deexternalize_payloads(response, reader)  # three hits

        assert telemetry.total(f"{PAYLOAD}uploads", **{"store.kind": FS}) == 3
        assert telemetry.total(f"{PAYLOAD}upload.bytes") == expected
        assert telemetry.total(f"{PAYLOAD}downloads") == 3
        assert telemetry.total(f"{PAYLOAD}download.bytes") == expected
        assert telemetry.total(f"{PAYLOAD}cache.misses") == 3
        assert telemetry.total(f"{PAYLOAD}cache.hits") == 3
        assert telemetry.total(f"{PAYLOAD}failures") == 0
        sizes = telemetry.metric(f"{PAYLOAD}payload.size")
        sizes_by_operation = {dict(key)[f"{PAYLOAD}operation"]: value for key, value in sizes.items()}
        assert sizes_by_operation == {"upload": (3, expected), "download": (3, expected)}
        durations = {
            dict(key)[f"{PAYLOAD}operation"]: value[0]
            for key, value in telemetry.metric(f"{PAYLOAD}transfer.duration").items()
        }
        assert durations == {"upload": 3, "download": 3}
        for name in METRICS:  # every point says which operation of which store (docs/observability.md)
            for key in telemetry.metric(name):
                assert {f"{PAYLOAD}operation", f"{PAYLOAD}store.kind"} <= set(dict(key)), name

    def test_a_permanent_failure_is_counted_by_its_class(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """A missing payload is a failure, not transient, and not a download."""
        store = FileSystemPayloadStore(tmp_path, OPTIONS)
        with pytest.raises(PayloadNotFoundError):
            store.download("file:v1:" + "0" * 32)

        assert telemetry.metric(f"{PAYLOAD}failures") == {
            tuple(
                sorted(
                    {
                        f"{PAYLOAD}operation": "download",
                        f"{PAYLOAD}store.kind": FS,
                        "error.type": "PayloadNotFoundError",
                        f"{PAYLOAD}error.transient": False,
                    }.items()
                )
            ): 1
        }
        assert telemetry.total(f"{PAYLOAD}downloads") == 0
        (point,) = telemetry.metric(f"{PAYLOAD}transfer.duration").items()
        assert dict(point[0])[f"{PAYLOAD}outcome"] == "error"


@dataclass
class Proxied:
    store: BlobPayloadStore
    proxy: FaultProxy
    container: str


@pytest.fixture
def proxied(azurite: Azurite) -> Iterator[Proxied]:
    """A blob store on Azurite through the fault proxy, with fast retries."""
    proxy = FaultProxy(azurite.port)
    proxy.start()
    container = f"t-{uuid.uuid4().hex[:12]}"
    options = BlobPayloadStoreOptions(
        connection_string=dev_connection_string(f"http://127.0.0.1:{proxy.port}"),
        container_name=container,
        threshold_bytes=1024,
        retry_total=RETRIES,
        retry_backoff_seconds=0.01,
    )
    with BlobPayloadStore(options) as store:
        store.upload(b"warm-up: the container now exists")
        yield Proxied(store, proxy, container)
    proxy.stop()


class TestRetriesAndTransientFailures:
    def test_retries_are_counted_on_the_span_and_in_the_metric(
        self, telemetry: Telemetry, proxied: Proxied
    ) -> None:
        """Two refused writes, then success: the upload span says 2 retries, the counter agrees."""
        proxied.proxy.inject("PUT", RETRIES, status=503)
        before = proxied.proxy.count("PUT")
        token = proxied.store.upload(b"written through faults" * 100, instance_id="i")
        assert proxied.proxy.count("PUT") - before == RETRIES + 1  # the faults were hit

        upload = telemetry.spans(f"{PAYLOAD}upload")[-1]
        attributes = dict(upload.attributes or {})
        assert attributes[f"{PAYLOAD}retries"] == RETRIES
        assert attributes[f"{PAYLOAD}outcome"] == "ok"
        assert attributes[f"{PAYLOAD}token"] == token
        assert attributes[f"{PAYLOAD}store.kind"] == "BlobPayloadStore"
        assert attributes[f"{PAYLOAD}store.container"] == proxied.container
        assert telemetry.metric(f"{PAYLOAD}retries") == {
            tuple(
                sorted(
                    {
                        f"{PAYLOAD}operation": "upload",
                        f"{PAYLOAD}store.kind": "BlobPayloadStore",
                        f"{PAYLOAD}store.container": proxied.container,
                        "error.type": "PayloadStoreUnavailableError",
                    }.items()
                )
            ): RETRIES
        }
        assert telemetry.total(f"{PAYLOAD}failures") == 0
        for span in telemetry.payload_spans():  # no credential anywhere
            for value in (span.attributes or {}).values():
                assert DEV_KEY not in str(value)
                assert "AccountKey" not in str(value)

    def test_a_store_that_stays_down_is_a_transient_failure(
        self, telemetry: Telemetry, proxied: Proxied
    ) -> None:
        """Every attempt refused: PayloadStoreUnavailableError, counted as transient, after the retries."""
        token = proxied.store.upload(b"never readable" * 100, instance_id="i")
        proxied.store.cache.clear()
        proxied.proxy.inject("GET", RETRIES + 1, status=503)
        before = proxied.proxy.count("GET")
        with pytest.raises(PayloadStoreUnavailableError):
            proxied.store.download_many([token])
        assert proxied.proxy.count("GET") - before == RETRIES + 1

        assert telemetry.total(f"{PAYLOAD}failures", **{"error.transient": True}) == 1
        assert (
            telemetry.total(
                f"{PAYLOAD}failures",
                **{"error.type": "PayloadStoreUnavailableError", "operation": "download"},
            )
            == 1
        )
        assert telemetry.total(f"{PAYLOAD}failures", **{"error.transient": False}) == 0
        assert telemetry.total(f"{PAYLOAD}retries", operation="download") == RETRIES
        download = telemetry.spans(f"{PAYLOAD}download")[-1]
        assert dict(download.attributes or {})[f"{PAYLOAD}retries"] == RETRIES
        assert dict(download.attributes or {})[f"{PAYLOAD}error.transient"] is True
