"""Payload store implementations. Import them from :mod:`durabletask_payloads`."""

from ._filesystem import FileSystemPayloadStore
from ._memory import InMemoryPayloadStore

__all__ = ["FileSystemPayloadStore", "InMemoryPayloadStore"]
