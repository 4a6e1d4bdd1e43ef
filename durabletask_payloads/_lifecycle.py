"""Which payloads a purged instance leaves behind, and deleting them.

No Durable Task backend deletes externalized payloads when it purges an
instance. The clients of this package collect the tokens an instance's state and
history refer to *before* the purge, and delete them *after* it succeeded,
but only payloads whose recorded instance is one of the purged instances: a
sub-orchestration's input, for example, was written by its parent, and may
still be needed by the parent's history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from durabletask.client import PurgeInstancesResult
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf.message import Message

from ._exceptions import PayloadError, PayloadNotFoundError
from ._externalize import payload_tokens
from ._store import PayloadStore

__all__ = [
    "PayloadPurgeResult",
    "PurgePlan",
    "child_instances",
    "delete_owned_payloads",
    "read_history",
    "read_history_async",
]

_Metadata = Sequence[tuple[str, str]]

_log = logging.getLogger("durabletask_payloads.lifecycle")


@dataclass
class PayloadPurgeResult(PurgeInstancesResult):
    """durabletask's ``PurgeInstancesResult``, plus what happened to the instances' payloads.

    Attributes:
        deleted_payload_count: Payloads deleted from the store.
        kept_payload_count: Payloads referred to but kept: written by another
            instance, or of unknown origin (e.g. written by another SDK), or
            not deletable because the store failed (clean-up will find those).

    """

    deleted_payload_count: int = 0
    kept_payload_count: int = 0


@dataclass
class PurgePlan:
    """The instances a purge may remove, their sub-orchestrations, and the tokens each refers to.

    Sub-orchestrations are always looked at, even for a non-recursive purge (or a
    backend that ignores ``recursive``): an instance that survives the purge
    keeps every payload its state or history refers to.
    """

    references: dict[str, list[str]] = field(default_factory=dict)

    def add(self, instance_id: str, messages: Iterable[Message], store: PayloadStore) -> None:
        """Record the tokens of *store* that *instance_id*'s state and history refer to."""
        tokens: dict[str, None] = {}  # ordered and without repeats
        for message in messages:
            tokens.update(dict.fromkeys(payload_tokens(message, store)))
        self.references[instance_id] = list(tokens)


def read_history(stub: Any, instance_id: str, metadata: _Metadata = ()) -> list[pb.HistoryEvent]:
    """Return an instance's history as *stub*'s channel delivers it.

    A backend without history streaming (or any failure of the stream) gives an
    empty history: callers then go by the instance's state alone.
    """
    request = pb.StreamInstanceHistoryRequest(instanceId=instance_id)
    try:
        return [
            event
            for chunk in stub.StreamInstanceHistory(request, metadata=metadata)
            for event in chunk.events
        ]
    except grpc.RpcError:
        return []


async def read_history_async(stub: Any, instance_id: str, metadata: _Metadata = ()) -> list[pb.HistoryEvent]:
    """Async twin of :func:`read_history`, for a ``grpc.aio`` stub."""
    request = pb.StreamInstanceHistoryRequest(instanceId=instance_id)
    try:
        return [
            event
            async for chunk in stub.StreamInstanceHistory(request, metadata=metadata)
            for event in chunk.events
        ]
    except grpc.RpcError:
        return []


def child_instances(events: Iterable[pb.HistoryEvent]) -> list[str]:
    """Return the sub-orchestration instance ids that a history started."""
    return [
        event.subOrchestrationInstanceCreated.instanceId
        for event in events
        if event.HasField("subOrchestrationInstanceCreated")
        and event.subOrchestrationInstanceCreated.instanceId
    ]


def delete_owned_payloads(store: PayloadStore, plan: PurgePlan, purged: set[str]) -> tuple[int, int]:
    """Delete the payloads that purged instances wrote and no surviving instance refers to.

    Args:
        store: The payload store.
        plan: The instances looked at before the purge, with their tokens.
        purged: Those of them that no longer exist.

    Returns:
        (deleted, kept). Idempotent: a payload already gone counts as neither.
        Failures are logged and the payload kept, since the purge itself has
        already succeeded; the ``gc`` command finds what is left.

    """
    protected = {
        token for instance, tokens in plan.references.items() if instance not in purged for token in tokens
    }
    candidates = dict.fromkeys(
        token for instance in purged for token in plan.references.get(instance, ()) if token not in protected
    )
    deleted = kept = 0
    for token in candidates:
        try:
            owner = store.inspect(token).instance_id
            if owner is None or owner not in purged:
                kept += 1
                continue
            if store.delete(token):
                deleted += 1
        except PayloadNotFoundError:
            continue
        except PayloadError as exc:
            _log.warning("Payload %s of a purged instance was not deleted: %s", token, exc)
            kept += 1
    kept += len({token for tokens in plan.references.values() for token in tokens} & protected)
    if candidates:
        _log.info("Purged %d instance(s): deleted %d payload(s), kept %d", len(purged), deleted, kept)
    return deleted, kept


def with_payloads(result: PurgeInstancesResult, deleted: int, kept: int) -> PayloadPurgeResult:
    """Return *result* extended with payload counts."""
    return PayloadPurgeResult(
        deleted_instance_count=result.deleted_instance_count,
        is_complete=result.is_complete,
        deleted_payload_count=deleted,
        kept_payload_count=kept,
    )
