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
