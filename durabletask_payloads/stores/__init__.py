"""Payload store implementations. Import them from :mod:`durabletask_payloads`."""

from ._filesystem import FileSystemPayloadStore
from ._memory import InMemoryPayloadStore
from ._routing import RoutingPayloadStore, by_size

__all__ = ["FileSystemPayloadStore", "InMemoryPayloadStore", "RoutingPayloadStore", "by_size"]
