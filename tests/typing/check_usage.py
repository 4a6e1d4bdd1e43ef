"""Type-checked usage of the public API (mypy --strict runs on this file; it is not executed)."""

from __future__ import annotations

import dataclasses

from durabletask import worker as dt_worker
from durabletask.internal import orchestrator_service_pb2 as pb

import durabletask_payloads as dtp
from durabletask_payloads import aio


def stores_are_durabletask_stores(store: dtp.PayloadStore) -> None:
    # Our stores are accepted where durabletask expects its own PayloadStore.
    dt_worker.TaskHubGrpcWorker(payload_store=store)


def options_are_durabletask_options() -> dtp.LargePayloadStorageOptions:
    options = dtp.LargePayloadStorageOptions(threshold_bytes=1024)
    return dataclasses.replace(options, enable_compression=False)


def walkers(store: dtp.PayloadStore) -> int:
    request = pb.CreateInstanceRequest(instanceId="i")
    count: int = dtp.externalize_payloads(request, store, instance_id="i")
    count += dtp.deexternalize_payloads(request, store)
    tokens: list[str] = dtp.payload_tokens(request, store)
    return count + len(tokens)


async def async_walkers(store: dtp.PayloadStore) -> int:
    request = pb.CreateInstanceRequest(instanceId="i")
    return await dtp.externalize_payloads_async(request, store) + await dtp.deexternalize_payloads_async(
        request, store
    )


def misspelt_arguments_are_type_errors(store: dtp.FileSystemPayloadStore) -> None:
    # warn_unused_ignores (strict) makes each ignore below fail the check if the error went away.
    dtp.TaskHubGrpcWorker(host_adress="localhost:4001", payload_store=store)  # type: ignore[call-arg]
    dtp.TaskHubGrpcClient(secure_chanel=True, payload_store=store)  # type: ignore[call-arg]
    dtp.AsyncTaskHubGrpcClient(default_verison="1", payload_store=store)  # type: ignore[call-arg]
    dtp.TaskHubGrpcWorker(secure_channel="yes", payload_store=store)  # type: ignore[arg-type]


def hooks(store: dtp.FileSystemPayloadStore) -> None:
    worker = dtp.TaskHubGrpcWorker(
        host_address="localhost:4001",
        payload_store=store,
        concurrency_options=dt_worker.ConcurrencyOptions(maximum_concurrent_activity_work_items=4),
    )
    assert worker.payload_store is store
    client = dtp.TaskHubGrpcClient(payload_store=store)
    assert client.payload_store is store
    sync_interceptors: list[dtp.PayloadInterceptor] = dtp.payload_interceptors(store)
    assert sync_interceptors
    async_interceptors: list[object] = dtp.payload_interceptors_async(store)
    assert async_interceptors
    assert aio.payload_interceptors_async(store) and dtp.AsyncPayloadInterceptor(store).interceptors
    interceptor: aio.AsyncPayloadInterceptor = dtp.AsyncPayloadInterceptor(store)
    assert interceptor.store is store
    # The old aio names still type-check (they warn at run time).
    assert aio.PayloadInterceptor is aio.AsyncPayloadInterceptor
    assert aio.payload_interceptors(store)


async def store_api(store: dtp.InMemoryPayloadStore) -> bytes:
    async with store:
        token: str = await store.upload_async(b"x", instance_id="i")
        info: dtp.PayloadInfo = store.inspect(token)
        assert info.size == 1
        return await store.download_async(token)


def errors(exc: Exception) -> str | None:
    if isinstance(exc, dtp.PayloadTooLargeError):
        return f"{exc.size} > {exc.limit}"
    if isinstance(exc, dtp.PayloadNotFoundError | dtp.PayloadIntegrityError | dtp.InvalidPayloadTokenError):
        return exc.token
    return None


def options_vocabulary() -> None:
    # One vocabulary: connect_timeout_seconds and read_timeout_seconds on every remote store.
    blob = dtp.BlobPayloadStoreOptions(
        connection_string="UseDevelopmentStorage=true",
        connect_timeout_seconds=5,
        read_timeout_seconds=30,
        token_version="v2",
    )
    s3 = dtp.S3PayloadStoreOptions(
        bucket="payloads",
        connect_timeout_seconds=5,
        read_timeout_seconds=30,
        attempt_timeout_seconds=90,
        server_side_encryption="aws:kms",
    )
    redis_options = dtp.RedisPayloadStoreOptions(connect_timeout_seconds=5, read_timeout_seconds=30)
    seconds: float = (
        blob.connect_timeout_seconds + s3.read_timeout_seconds + redis_options.read_timeout_seconds
    )
    assert seconds
    assert dataclasses.replace(blob, read_timeout_seconds=10).token_version in ("v1", "v2")
    # Literal-typed options refuse other strings at type-check time.
    dtp.BlobPayloadStoreOptions(connection_string="c", token_version="v3")  # type: ignore[arg-type]
    dtp.S3PayloadStoreOptions(bucket="b", server_side_encryption="rot13")  # type: ignore[arg-type]
    # Renamed fields are not fields any more: the type checker points at the new names.
    dtp.BlobPayloadStoreOptions(connection_string="c", connection_timeout_seconds=5)  # type: ignore[call-arg]
    filesystem = dtp.FileSystemPayloadStoreOptions(threshold_bytes=1024, fsync=False)
    flushed: bool = filesystem.fsync
    assert not flushed
    store = dtp.FileSystemPayloadStore("./payloads", filesystem)
    assert store.options is filesystem


def from_urls() -> None:
    s3: dtp.S3PayloadStore = dtp.S3PayloadStore.from_url(
        "s3://payloads/prefix?region=eu-west-1", retry_total=2
    )
    redis_store: dtp.RedisPayloadStore = dtp.RedisPayloadStore.from_url("rediss://cache:6380/0?key_prefix=p:")
    blob: dtp.BlobPayloadStore = dtp.BlobPayloadStore.from_connection_string("UseDevelopmentStorage=true")
    for store in (s3, redis_store, blob):
        store.close()


def routing_selectors() -> dtp.RoutingPayloadStore:
    small = dtp.InMemoryPayloadStore()
    large = dtp.FileSystemPayloadStore("./payloads")
    return dtp.RoutingPayloadStore([small, large], dtp.by_size(small, large, boundary=4096))
