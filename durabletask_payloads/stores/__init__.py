"""Payload store implementations. Import them from :mod:`durabletask_payloads`."""

from ._filesystem import FileSystemPayloadStore
from ._filesystem_options import FileSystemPayloadStoreOptions
from ._memory import InMemoryPayloadStore
from ._routing import RoutingPayloadStore, by_size

__all__ = [
    "FileSystemPayloadStore",
    "FileSystemPayloadStoreOptions",
    "InMemoryPayloadStore",
    "RoutingPayloadStore",
    "by_size",
]
