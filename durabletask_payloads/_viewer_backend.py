"""How the viewer reaches the Durable Task backend: one gRPC channel, TLS or not, with metadata.

The channel is built as ``gc`` builds its own: ``--secure`` uses TLS with the
system's root certificates (``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` names another
bundle), ``--metadata KEY=VALUE`` is sent with every call (a task hub name, an
API key a gateway asks for). No aiohttp here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from ._lifecycle import read_history

__all__ = ["Backend", "parse_metadata"]

# gRPC metadata keys: lower-case letters, digits, '-', '_' and '.'; '-bin' keys carry bytes, not text.
_KEY = re.compile(r"[0-9a-z_.-]+")
_VALUE = re.compile(r"[\x20-\x7e]*")


def parse_metadata(items: Iterable[str]) -> list[tuple[str, str]]:
    """Parse ``KEY=VALUE`` entries into gRPC metadata pairs.

    Raises:
        ValueError: An entry has no ``=``, an empty or invalid key, a ``-bin`` key,
            or a value that is not printable ASCII. The message names the entry's
            key, never its value (it may be a credential).

    """
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not _KEY.fullmatch(key):
            shown = repr(key[:40]) if sep else "an entry without '='"
            raise ValueError(
                f"--metadata takes KEY=VALUE with a key of letters, digits, '-', '_' or '.'; got {shown}"
            )
        if key.endswith("-bin"):
            raise ValueError(f"--metadata {key}: binary ('-bin') metadata is not supported; use a text key")
        if not _VALUE.fullmatch(value):
            raise ValueError(f"--metadata {key}: the value must be printable ASCII")
        pairs.append((key, value))
    return pairs


@dataclass
class Backend:
    """The Durable Task sidecar the viewer reads instances from.

    Attributes:
        address: ``host:port``.
        secure: Reach it with TLS.
        metadata: Sent with every call.

    """

    address: str
    secure: bool = False
    metadata: Sequence[tuple[str, str]] = ()
    _channel: grpc.Channel | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def describe(self) -> str:
        """Return the address and transport, for messages (never the metadata: it may hold a key)."""
        return f"{self.address} ({'TLS' if self.secure else 'plaintext; --secure for TLS'})"

    def _stub(self) -> Any:
        with self._lock:  # requests run in threads: one channel for all of them
            if self._channel is None:
                if self.secure:
                    self._channel = grpc.secure_channel(self.address, grpc.ssl_channel_credentials())
                else:
                    self._channel = grpc.insecure_channel(self.address)
            return stubs.TaskHubSidecarServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def read_instance(self, instance_id: str) -> tuple[pb.GetInstanceResponse, list[pb.HistoryEvent]]:
        """Return an instance's state (inputs and outputs included) and its history.

        Raises:
            grpc.RpcError: The backend could not be reached or refused the call.

        """
        stub = self._stub()
        metadata = list(self.metadata)
        request = pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True)
        state = stub.GetInstance(request, metadata=metadata, timeout=30)
        events = read_history(stub, instance_id, metadata) if state.exists else []
        return state, events

    def close(self) -> None:
        """Close the channel, if one was opened."""
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
