"""The census pages like real backends do, and still misses no instance when others vanish meanwhile.

Fakes only here (a backend that pages by position, as the in-memory one does);
the census runs against the real backend in test_gc_invariant.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from durabletask_payloads import InMemoryPayloadStore, LargePayloadStorageOptions
from durabletask_payloads._census import CensusError, census_flow
from durabletask_payloads._flow import drive


class PagingBackend:
    """Pages instances by position; *after_page* runs after each page is served (a concurrent purge)."""

    def __init__(self, states: list[pb.OrchestrationState], histories: dict[str, list[pb.HistoryEvent]]):
        self.states, self.histories = states, histories
        self.after_page: Callable[[int], None] = lambda n: None
        self.pages = 0
        self.calls: list[str] = []

    def QueryInstances(
        self, request: pb.QueryInstancesRequest, metadata: Any = ()
    ) -> pb.QueryInstancesResponse:
        self.calls.append("QueryInstances")
        query = request.query
        start = int(query.continuationToken.value or 0)
        page = self.states[start : start + query.maxInstanceCount]
        response = pb.QueryInstancesResponse(orchestrationState=page)
        if start + query.maxInstanceCount < len(self.states):
            response.continuationToken.value = str(start + query.maxInstanceCount)
        self.pages += 1
        self.after_page(self.pages)
        return response

    def GetInstance(self, request: pb.GetInstanceRequest, metadata: Any = ()) -> pb.GetInstanceResponse:
        self.calls.append("GetInstance")
        for state in self.states:
            if state.instanceId == request.instanceId:
                return pb.GetInstanceResponse(exists=True, orchestrationState=state)
        return pb.GetInstanceResponse(exists=False)

    def StreamInstanceHistory(
        self, request: pb.StreamInstanceHistoryRequest, metadata: Any = ()
    ) -> Iterator[Any]:
        self.calls.append("StreamInstanceHistory")
        history = self.histories.get(request.instanceId)
        if history is None:
            raise BrokenStreamError()
        yield pb.HistoryChunk(events=history)

    def QueryEntities(self, request: pb.QueryEntitiesRequest, metadata: Any = ()) -> pb.QueryEntitiesResponse:
        self.calls.append("QueryEntities")
        return pb.QueryEntitiesResponse()


class BrokenStreamError(Exception):
    def code(self) -> Any:
        import grpc

        return grpc.StatusCode.INTERNAL


@pytest.fixture
def store() -> InMemoryPayloadStore:
    return InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=1024))


def _world(store: InMemoryPayloadStore, count: int) -> tuple[PagingBackend, dict[str, str]]:
    states, histories, tokens = [], {}, {}
    for n in range(count):
        instance_id = f"i{n:03d}"
        token = store.upload(f"{n}".encode() * 2000, instance_id=instance_id)
        tokens[instance_id] = token
        states.append(
            pb.OrchestrationState(instanceId=instance_id, input=wrappers_pb2.StringValue(value=token))
        )
        histories[instance_id] = []
    return PagingBackend(states, histories), tokens


class TestCensus:
    def test_every_instance_and_its_tokens(self, store: InMemoryPayloadStore) -> None:
        backend, tokens = _world(store, 25)
        census = drive(census_flow(store, page_size=10), backend, store)
        assert set(census.orchestrations) == set(tokens)
        assert census.marked == set(tokens.values())
        # 3 pages with inputs and outputs, 3 confirming, a history each, two entity listings.
        assert backend.calls.count("QueryInstances") == 6
        assert backend.calls.count("StreamInstanceHistory") == 25
        assert backend.calls.count("QueryEntities") == 2

    def test_an_instance_shifted_past_a_page_boundary_is_found_on_the_next_listing(
        self, store: InMemoryPayloadStore
    ) -> None:
        backend, tokens = _world(store, 25)
        shifted = backend.states[10].instanceId  # first of page 2, until i000 goes

        def purge_first(page: int) -> None:
            if page == 1:
                del backend.states[0]  # purged by someone else while the census pages

        backend.after_page = purge_first
        census = drive(census_flow(store, page_size=10), backend, store)
        assert tokens[shifted] in census.marked
        assert set(census.orchestrations) == set(tokens)  # i000 was seen on page 1, before it went

    def test_an_unreadable_history_stops_the_census(self, store: InMemoryPayloadStore) -> None:
        backend, _ = _world(store, 3)
        del backend.histories["i001"]
        with pytest.raises(CensusError, match=r"history of 'i001' could not be read \(INTERNAL\)"):
            drive(census_flow(store, page_size=10), backend, store)
