"""Large payloads for Durable Task Python.

Values too large for a gRPC message (inputs, results, events, custom status,
entity state) are stored in a payload store and replaced by a small token; on
the way back tokens are replaced by the original values. Orchestrator,
activity and entity code does not change: pass ``payload_store=`` to the
worker and to the client::

    from durabletask_payloads import FileSystemPayloadStore, TaskHubGrpcClient, TaskHubGrpcWorker

    store = FileSystemPayloadStore("./payloads")
    worker = TaskHubGrpcWorker(host_address="localhost:4001", payload_store=store)
    client = TaskHubGrpcClient(host_address="localhost:4001", payload_store=store)
"""

import importlib as _importlib
import typing as _typing

from ._client import AsyncTaskHubGrpcClient, TaskHubGrpcClient
from ._driver import DriverCapabilities, ObjectInfo, ObjectMeta, PutItem, StorageDriver, StoredObject
from ._exceptions import (
    InvalidPayloadTokenError,
    PayloadError,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadReadLimitError,
    PayloadStoreClosedError,
    PayloadStoreRefusedError,
    PayloadStoreUnavailableError,
    PayloadTooLargeError,
    UnsupportedOperationError,
    store_failure,
)
from ._externalize import (
    deexternalize_payloads,
    deexternalize_payloads_async,
    externalize_payloads,
    externalize_payloads_async,
    payload_tokens,
)
from ._interceptors import PayloadInterceptor, payload_interceptors
from ._lifecycle import PayloadPurgeResult
from ._options import LargePayloadStorageOptions, RemoteStoreOptions
from ._pipeline import DriverPayloadStore
from ._store import PayloadInfo, PayloadStore
from ._store_spec import open_store
from ._version import __version__
from ._worker import TaskHubGrpcWorker
from .aio import AsyncPayloadInterceptor, payload_interceptors_async
from .stores import (
    FileSystemPayloadStore,
    FileSystemPayloadStoreOptions,
    InMemoryPayloadStore,
    RoutingPayloadStore,
    by_size,
)
from .stores._azure_options import BlobAccount, BlobPayloadStoreOptions
from .stores._redis_options import RedisPayloadStoreOptions
from .stores._s3_options import S3PayloadStoreOptions

if _typing.TYPE_CHECKING:
    from .stores._azure_blob import BlobPayloadStore
    from .stores._redis import RedisPayloadStore
    from .stores._s3 import S3PayloadStore

__all__ = [
    "AsyncPayloadInterceptor",
    "AsyncTaskHubGrpcClient",
    "BlobAccount",
    "BlobPayloadStore",
    "BlobPayloadStoreOptions",
    "DriverCapabilities",
    "DriverPayloadStore",
    "FileSystemPayloadStore",
    "FileSystemPayloadStoreOptions",
    "InMemoryPayloadStore",
    "InvalidPayloadTokenError",
    "LargePayloadStorageOptions",
    "ObjectInfo",
    "ObjectMeta",
    "PayloadError",
    "PayloadInfo",
    "PayloadIntegrityError",
    "PayloadInterceptor",
    "PayloadNotFoundError",
    "PayloadPurgeResult",
    "PayloadReadLimitError",
    "PayloadStore",
    "PayloadStoreClosedError",
    "PayloadStoreRefusedError",
    "PayloadStoreUnavailableError",
    "PayloadTooLargeError",
    "PutItem",
    "RedisPayloadStore",
    "RedisPayloadStoreOptions",
    "RemoteStoreOptions",
    "RoutingPayloadStore",
    "S3PayloadStore",
    "S3PayloadStoreOptions",
    "StorageDriver",
    "StoredObject",
    "TaskHubGrpcClient",
    "TaskHubGrpcWorker",
    "UnsupportedOperationError",
    "__version__",
    "by_size",
    "deexternalize_payloads",
    "deexternalize_payloads_async",
    "externalize_payloads",
    "externalize_payloads_async",
    "open_store",
    "payload_interceptors",
    "payload_interceptors_async",
    "payload_tokens",
    "store_failure",
]


#: Stores with optional dependencies, imported on first use so that a missing
#: extra only matters to those who use that store.
_LAZY_STORES = {
    "BlobPayloadStore": ".stores._azure_blob",
    "RedisPayloadStore": ".stores._redis",
    "S3PayloadStore": ".stores._s3",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY_STORES.get(name)
    if module is not None:
        return getattr(_importlib.import_module(module, __name__), name)
    raise AttributeError(f"module 'durabletask_payloads' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
