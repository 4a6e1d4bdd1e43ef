"""Which payloads a purge deletes: the rules, and the flow that applies them.

A purged instance's payload is deleted only when no instance that still exists
can refer to it. Before the purge, the flow reads the state and history of
each instance the purge may remove (and of their sub-orchestrations, which a
recursive purge removes too). After it, it reads the instances related to the
purged ones (their parents, children, the targets of what they sent, and
possible parents the backend did not record) and deletes a token only if:

1. its recorded writer is a purged instance (a payload written by another
   instance, or by another SDK, is that writer's to delete);
2. it is not an input: a backend may copy an input when it restarts an
   instance under a new id, and nothing links the copy to the original;
3. whoever it was delivered to has it in its final history or will never get
   it: an output goes to the parent, which must be known (recorded by the
   backend, or found and confirmed by its history) and gone or finished; an
   event must have gone to an orchestration that has finished; an entity
   operation must have been a call that was answered (a signal may still be
   queued, where nobody can see it);
4. no related instance refers to it in its state or history, read after the purge.

Everything else is kept, and ``durabletask-payloads gc`` collects it once no
instance refers to it. The flow never raises once the purge succeeded: a read
that fails keeps the payloads it concerned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from durabletask.client import PurgeInstancesResult
from durabletask.internal import helpers
from durabletask.internal import orchestrator_service_pb2 as pb

from ._exceptions import PayloadNotFoundError
from ._flow import Call, Delete, Flow, History, Inspect, Purge, not_found, unimplemented, unwrap
from ._lifecycle import TERMINAL, InstanceRecord, PayloadPurgeResult, record_instance, with_payloads
from ._store import PayloadStore

__all__ = ["PurgeSelection", "purge_flow"]

_log = logging.getLogger("durabletask_payloads.lifecycle")

_PAGE_SIZE = 100


@dataclass(frozen=True)
class PurgeSelection:
    """What a purge removes: one instance, or those a filter selects.

    Attributes:
        instance_id: The one instance (``purge_orchestration``), or None for a filter.
        created_time_from: The filter's lower bound on creation time.
        created_time_to: The filter's upper bound on creation time.
        runtime_status: The filter's statuses (``OrchestrationStatus`` values).

    """

    instance_id: str | None = None
    created_time_from: datetime | None = None
    created_time_to: datetime | None = None
    runtime_status: Sequence[int] | None = None


@dataclass
class _Holder:
    """An instance related to a purged one, read after the purge."""

    kind: str  # "orchestration", "entity", "gone" or "unknown" (could not be read)
    record: InstanceRecord | None = None

    @property
    def finished(self) -> bool:
        return self.kind == "orchestration" and self.record is not None and self.record.terminal


@dataclass
class _Verdict:
    deletable: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # token -> why


def purge_flow(store: PayloadStore, selection: PurgeSelection) -> Flow[PayloadPurgeResult]:
    """Plan, purge, and delete the payloads the rules allow (see the module docs)."""
    absent: set[str] = set()
    plan = yield from _read_plan(store, selection, absent)
    result: PurgeInstancesResult = unwrap((yield [Purge()])[0])
    if not plan:
        return with_payloads(result, 0, 0)
    outcomes = yield [Call("GetInstance", pb.GetInstanceRequest(instanceId=i)) for i in plan]
    purged = {
        instance_id
        for instance_id, outcome in zip(plan, outcomes, strict=True)
        if not isinstance(outcome, BaseException) and not outcome.exists
    }
    tokens = list(dict.fromkeys(t for i in plan if i in purged for t in plan[i].tokens))
    if not tokens:
        return with_payloads(result, 0, 0)
    writers, vanished = _writers(tokens, (yield [Inspect(t) for t in tokens]))
    # Instances already missing before the purge are not looked for again.
    related = [i for i in _related(plan, purged, writers) if i not in absent]
    holders = yield from _read_related(store, related)
    verdict = decide(plan, purged, writers, holders, [t for t in tokens if t not in vanished])
    outcomes = yield [Delete(t) for t in verdict.deletable]
    deleted = 0
    for token, outcome in zip(verdict.deletable, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            _log.warning("Payload %s of a purged instance was not deleted: %s", token, outcome)
            verdict.kept[token] = "the store failed"
        elif outcome:
            deleted += 1
    reasons: dict[str, int] = {}
    for reason in verdict.kept.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    _log.info(
        "Purged %d instance(s): deleted %d payload(s), kept %d%s",
        len(purged),
        deleted,
        len(verdict.kept),
        "".join(f"; {n} {why}" for why, n in reasons.items()),
    )
    return with_payloads(result, deleted, len(verdict.kept))


def _filter_query(selection: PurgeSelection, continuation: str | None) -> pb.QueryInstancesRequest:
    statuses = selection.runtime_status or sorted(TERMINAL)
    query = pb.InstanceQuery(
        runtimeStatus=cast(Any, list(statuses)), maxInstanceCount=_PAGE_SIZE, fetchInputsAndOutputs=True
    )
    if selection.created_time_from is not None:
        query.createdTimeFrom.CopyFrom(helpers.new_timestamp(selection.created_time_from))
    if selection.created_time_to is not None:
        query.createdTimeTo.CopyFrom(helpers.new_timestamp(selection.created_time_to))
    if continuation:
        query.continuationToken.value = continuation
    return pb.QueryInstancesRequest(query=query)


def _read_plan(
    store: PayloadStore, selection: PurgeSelection, absent: set[str]
) -> Flow[dict[str, InstanceRecord]]:
    """Read the instances the purge may remove, and their sub-orchestrations, before it runs.

    Children that do not exist are added to *absent*.
    """
    states: dict[str, pb.OrchestrationState] = {}
    pending: list[str] = []
    if selection.instance_id is not None:
        pending.append(selection.instance_id)
    else:
        continuation: str | None = None
        while True:
            page = unwrap((yield [Call("QueryInstances", _filter_query(selection, continuation))])[0])
            for state in page.orchestrationState:
                # Backends purge only finished instances: the others need not be read.
                if state.orchestrationStatus in TERMINAL:
                    states[state.instanceId] = state
                    pending.append(state.instanceId)
            continuation = page.continuationToken.value if page.HasField("continuationToken") else None
            if not continuation or not page.orchestrationState:
                break
    plan: dict[str, InstanceRecord] = {}
    while pending:
        unread = [i for i in pending if i not in states]
        outcomes = yield [
            Call("GetInstance", pb.GetInstanceRequest(instanceId=i, getInputsAndOutputs=True)) for i in unread
        ]
        for instance_id, outcome in zip(unread, outcomes, strict=True):
            response = unwrap(outcome)  # before the purge: a failure here stops it
            if response.exists:
                states[instance_id] = response.orchestrationState
            else:
                absent.add(instance_id)
        existing = [i for i in pending if i in states]
        histories = yield [History(i) for i in existing]
        following: dict[str, None] = {}
        for instance_id, history in zip(existing, histories, strict=True):
            readable = not isinstance(history, BaseException)
            record = record_instance(instance_id, states[instance_id], history if readable else [], store)
            record.complete = readable
            plan[instance_id] = record
            following.update((c, None) for c in record.children if c not in plan and c not in pending)
        pending = list(following)
    return plan


def _writers(tokens: Sequence[str], outcomes: Sequence[Any]) -> tuple[dict[str, str | None], set[str]]:
    """Return the recorded writer of each token (None if unknown), and the tokens already gone."""
    writers: dict[str, str | None] = {}
    vanished: set[str] = set()
    for token, outcome in zip(tokens, outcomes, strict=True):
        if isinstance(outcome, PayloadNotFoundError):
            vanished.add(token)
        elif isinstance(outcome, BaseException):
            writers[token] = None  # cannot tell: kept
        else:
            writers[token] = outcome.instance_id
    return writers, vanished


def _parent_hints(record: InstanceRecord, writers: dict[str, str | None]) -> set[str]:
    """Instances that may be the parent of *record*, when the backend did not record it."""
    hints = {w for t in record.inputs if (w := writers.get(t)) and w != record.instance_id}
    # durabletask's default sub-orchestration id is "<parent id>:<sequence number in hex>".
    prefix, colon, suffix = record.instance_id.rpartition(":")
    if colon and prefix and suffix and all(c in "0123456789abcdefABCDEF" for c in suffix):
        hints.add(prefix)
    return hints


def _related(plan: dict[str, InstanceRecord], purged: set[str], writers: dict[str, str | None]) -> list[str]:
    related: dict[str, None] = {}
    for instance_id in purged:
        record = plan[instance_id]
        parents = {record.parent} if record.parent else _parent_hints(record, writers)
        related.update(dict.fromkeys(sorted(parents)))
        related.update(dict.fromkeys(record.children))
        related.update(dict.fromkeys(d.target for d in record.deliveries if d.target))
    return [i for i in related if i not in purged]


def _read_related(store: PayloadStore, ids: Sequence[str]) -> Flow[dict[str, _Holder]]:
    """Read related instances after the purge: orchestrations by their state and history, else entities."""
    holders: dict[str, _Holder] = {}
    outcomes = yield [
        Call("GetInstance", pb.GetInstanceRequest(instanceId=i, getInputsAndOutputs=True)) for i in ids
    ]
    states: dict[str, pb.OrchestrationState] = {}
    others: list[str] = []
    for instance_id, outcome in zip(ids, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            holders[instance_id] = _Holder("unknown")
        elif outcome.exists:
            states[instance_id] = outcome.orchestrationState
        else:
            others.append(instance_id)
    histories = yield [History(i) for i in states]
    for (instance_id, state), history in zip(states.items(), histories, strict=True):
        if not_found(history):
            others.append(instance_id)  # gone since, or never an orchestration: ask for an entity
        elif isinstance(history, BaseException):
            holders[instance_id] = _Holder("unknown")
        else:
            holders[instance_id] = _Holder(
                "orchestration", record_instance(instance_id, state, history, store)
            )
    entities = yield [Call("GetEntity", pb.GetEntityRequest(instanceId=i, includeState=True)) for i in others]
    for instance_id, outcome in zip(others, entities, strict=True):
        if unimplemented(outcome):
            holders[instance_id] = _Holder("gone")  # a backend without entities
        elif isinstance(outcome, BaseException):
            holders[instance_id] = _Holder("unknown")
        elif outcome.exists:
            holders[instance_id] = _Holder("entity", record_instance(instance_id, outcome.entity, [], store))
        else:
            holders[instance_id] = _Holder("gone")
    return holders


def _parent_of(
    record: InstanceRecord, plan: dict[str, InstanceRecord], holders: dict[str, _Holder], hints: Iterable[str]
) -> str | None:
    if record.parent:
        return record.parent
    for candidate in hints:
        seen = plan.get(candidate)
        holder = holders.get(candidate)
        children = (seen.children if seen else []) + (
            holder.record.children if holder and holder.record else []
        )
        if record.instance_id in children:
            return candidate
    return None


def decide(
    plan: dict[str, InstanceRecord],
    purged: set[str],
    writers: dict[str, str | None],
    holders: dict[str, _Holder],
    tokens: Sequence[str],
) -> _Verdict:
    """Apply the module's rules to *tokens*, those of the purged instances still stored."""
    verdict = _Verdict()
    blocked: dict[str, str] = {}

    def block(token: str, why: str) -> None:
        blocked.setdefault(token, why)

    if any(h.kind == "unknown" for h in holders.values()):
        for token in tokens:
            block(token, "a related instance could not be read")
    referenced = {t for h in holders.values() if h.record for t in h.record.tokens}
    referenced |= {t for i, r in plan.items() if i not in purged for t in r.tokens}
    inputs = {t for r in plan.values() for t in r.inputs}
    for instance_id in purged:
        record = plan[instance_id]
        if not record.complete:
            for token in record.tokens:
                block(token, "of an instance whose history could not be read")
        parent = _parent_of(record, plan, holders, _parent_hints(record, writers))
        for token in record.outputs:
            if parent is None:
                block(token, "outputs of instances whose parent is unknown")
            elif parent not in purged and not _settled(holders.get(parent)):
                block(token, "outputs of instances whose parent still runs")
        for delivery in record.deliveries:
            if delivery.target in purged:
                continue
            holder = holders.get(delivery.target)
            if delivery.kind == "event" and holder is not None and holder.finished:
                continue
            if delivery.kind == "call" and delivery.answered:
                continue
            block(delivery.token, f"{delivery.kind}s that may not have been received")
    for token in tokens:
        writer = writers.get(token)
        if writer is None or writer not in purged:
            verdict.kept[token] = "written by another instance or SDK"
        elif token in inputs:
            verdict.kept[token] = "inputs (a restart may have copied them)"
        elif token in blocked:
            verdict.kept[token] = blocked[token]
        elif token in referenced:
            verdict.kept[token] = "referred to by an instance that exists"
        else:
            verdict.deletable.append(token)
    return verdict


def _settled(holder: _Holder | None) -> bool:
    """Whether a parent can no longer receive an output it does not already hold."""
    return holder is not None and (holder.kind == "gone" or holder.finished)
