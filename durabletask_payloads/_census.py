"""The mark phase of gc: every token that existing orchestrations and entities refer to.

Orchestrations are paged through with ``QueryInstances`` (states with inputs
and outputs) and each one's history is read with ``StreamInstanceHistory``;
entities are paged through with ``QueryEntities`` (with their state). What is
an orchestration and what is an entity is what the backend answers to these two
queries, never what an id looks like.

Backends page by position: an instance purged while the census pages can shift
another past the page boundary. So the census lists the ids again, cheaply
(without inputs and outputs), until a pass finds nothing it had not seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb

from ._externalize import payload_tokens
from ._flow import Call, Flow, History, not_found, unimplemented, unwrap
from ._store import PayloadStore

__all__ = ["Census", "CensusError", "census_flow", "mark_instances"]

#: At most this many listings of the orchestrations (and of the entities): one, plus confirmations.
MAX_PASSES = 3


class CensusError(Exception):
    """The backend could not tell what an instance refers to; gc deletes nothing."""


@dataclass
class Census:
    """What the backend holds, as far as payloads are concerned.

    Attributes:
        started: When the census began (UTC); payload ages are measured from it.
        orchestrations: The orchestrations found, with their runtime status.
        entities: The entities found.
        marked: Every token they refer to.

    """

    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    orchestrations: dict[str, int] = field(default_factory=dict)
    entities: set[str] = field(default_factory=set)
    marked: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        """Whether no orchestration and no entity was found."""
        return not self.orchestrations and not self.entities


Progress = Callable[[int], None]


def census_flow(
    store: PayloadStore, *, page_size: int = 100, progress: Progress | None = None
) -> Flow[Census]:
    """Mark every token of *store* that an existing orchestration or entity refers to.

    Args:
        store: The store whose tokens count.
        page_size: Instances and entities asked for per query.
        progress: Called with the number of instances and entities read so far.

    Raises:
        CensusError: A history could not be read (other than because its
            instance is gone), so the census would be incomplete.

    """
    census = Census()
    report = progress or (lambda _: None)
    for pass_number in range(MAX_PASSES):
        fetch = pass_number == 0
        found = 0
        continuation: str | None = None
        while True:
            query = pb.InstanceQuery(maxInstanceCount=page_size, fetchInputsAndOutputs=fetch)
            if continuation:
                query.continuationToken.value = continuation
            page = unwrap((yield [Call("QueryInstances", pb.QueryInstancesRequest(query=query))])[0])
            fresh = [s for s in page.orchestrationState if s.instanceId not in census.orchestrations]
            found += len(fresh)
            if fetch:
                yield from mark_instances(store, census, fresh)
            else:
                yield from _mark_by_id(store, census, [s.instanceId for s in fresh])
            report(len(census.orchestrations) + len(census.entities))
            continuation = page.continuationToken.value if page.HasField("continuationToken") else None
            if not continuation or not page.orchestrationState:
                break
        if not fetch and not found:
            break
    yield from _entities(store, census, page_size, report)
    return census


def mark_instances(store: PayloadStore, census: Census, states: list[pb.OrchestrationState]) -> Flow[None]:
    """Mark what these orchestrations' states and histories refer to (their histories read concurrently)."""
    for state in states:
        census.orchestrations[state.instanceId] = state.orchestrationStatus
        census.marked.update(payload_tokens(state, store))
    histories = yield [History(s.instanceId) for s in states]
    for state, history in zip(states, histories, strict=True):
        if not_found(history):
            continue  # purged since it was listed: its payloads are no longer needed
        if isinstance(history, BaseException):
            raise CensusError(
                f"the history of {state.instanceId!r} could not be read ({_describe(history)}); gc must "
                "read every history (StreamInstanceHistory) to know what it refers to"
            ) from history
        for event in history:
            census.marked.update(payload_tokens(event, store))


def _mark_by_id(store: PayloadStore, census: Census, ids: list[str]) -> Flow[None]:
    outcomes = yield [
        Call("GetInstance", pb.GetInstanceRequest(instanceId=i, getInputsAndOutputs=True)) for i in ids
    ]
    states = [r.orchestrationState for r in map(unwrap, outcomes) if r.exists]
    yield from mark_instances(store, census, states)


def _entities(store: PayloadStore, census: Census, page_size: int, report: Progress) -> Flow[None]:
    for pass_number in range(MAX_PASSES):
        with_state = pass_number == 0
        found: list[str] = []
        continuation: str | None = None
        while True:
            query = pb.EntityQuery(includeState=with_state, includeTransient=True)
            query.pageSize.value = page_size
            if continuation:
                query.continuationToken.value = continuation
            outcome = (yield [Call("QueryEntities", pb.QueryEntitiesRequest(query=query))])[0]
            if unimplemented(outcome):
                return  # a backend without entities
            page = unwrap(outcome)
            for entity in page.entities:
                if entity.instanceId in census.entities:
                    continue
                found.append(entity.instanceId)
                census.entities.add(entity.instanceId)
                if with_state:
                    census.marked.update(payload_tokens(entity, store))
            report(len(census.orchestrations) + len(census.entities))
            continuation = page.continuationToken.value if page.HasField("continuationToken") else None
            if not continuation or not page.entities:
                break
        if not with_state:
            if not found:
                return
            yield from mark_entities(store, census, found)


def mark_entities(store: PayloadStore, census: Census, ids: list[str]) -> Flow[None]:
    """Mark what these entities' states refer to, reading each one."""
    outcomes = yield [Call("GetEntity", pb.GetEntityRequest(instanceId=i, includeState=True)) for i in ids]
    for outcome in outcomes:
        response = unwrap(outcome)
        if response.exists:
            census.marked.update(payload_tokens(response.entity, store))


def _describe(error: Any) -> str:
    code = getattr(error, "code", None)
    return code().name if callable(code) else type(error).__name__
