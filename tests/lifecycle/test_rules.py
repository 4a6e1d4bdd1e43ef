"""The purge rules, unit by unit: what a history records, and which tokens a purge may delete.

Fakes only here: synthetic histories and an in-memory store. The same rules run
against real backends in test_purge_invariant.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from durabletask.client import PurgeInstancesResult
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from durabletask_payloads import InMemoryPayloadStore, LargePayloadStorageOptions
from durabletask_payloads._flow import drive, drive_async
from durabletask_payloads._lifecycle import InstanceRecord, record_instance
from durabletask_payloads._purge import PurgeSelection, _Holder, decide, purge_flow

RUNNING, COMPLETED = pb.ORCHESTRATION_STATUS_RUNNING, pb.ORCHESTRATION_STATUS_COMPLETED


@pytest.fixture
def store() -> InMemoryPayloadStore:
    return InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=1024))


def sv(value: str) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=value)


def started(input_token: str | None = None, parent: str | None = None) -> pb.HistoryEvent:
    event = pb.ExecutionStartedEvent(name="o")
    if input_token:
        event.input.value = input_token
    if parent:
        event.parentInstance.orchestrationInstance.instanceId = parent
    return pb.HistoryEvent(executionStarted=event)


def completed(result: str) -> pb.HistoryEvent:
    return pb.HistoryEvent(executionCompleted=pb.ExecutionCompletedEvent(result=sv(result)))


def sent(target: str, token: str) -> pb.HistoryEvent:
    return pb.HistoryEvent(eventSent=pb.EventSentEvent(instanceId=target, name="e", input=sv(token)))


def state(instance_id: str, status: int = COMPLETED, **values: str) -> pb.OrchestrationState:
    return pb.OrchestrationState(
        instanceId=instance_id, orchestrationStatus=status, **{k: sv(v) for k, v in values.items()}
    )


class TestWhatAHistoryRecords:
    def test_inputs_outputs_children_and_deliveries(self, store: InMemoryPayloadStore) -> None:
        tokens = [store.upload(f"{n}".encode() * 2000, instance_id="p") for n in range(7)]
        given, output, child_input, event, signal, call, cont = tokens
        history = [
            started(given, parent="grandparent"),
            pb.HistoryEvent(
                subOrchestrationInstanceCreated=pb.SubOrchestrationInstanceCreatedEvent(
                    instanceId="p:0001", input=sv(child_input)
                )
            ),
            sent("other", event),
            pb.HistoryEvent(
                entityOperationSignaled=pb.EntityOperationSignaledEvent(
                    requestId="r1", input=sv(signal), targetInstanceId=sv("@cart@k")
                )
            ),
            pb.HistoryEvent(
                entityOperationCalled=pb.EntityOperationCalledEvent(
                    requestId="r2", input=sv(call), targetInstanceId=sv("@cart@k")
                )
            ),
            pb.HistoryEvent(entityOperationCompleted=pb.EntityOperationCompletedEvent(requestId="r2")),
            pb.HistoryEvent(continueAsNew=pb.ContinueAsNewEvent(input=sv(cont))),
            completed(output),
        ]
        record = record_instance("p", state("p", input=given, output=output), history, store)
        assert list(record.tokens) == [given, output, child_input, event, signal, call, cont]
        assert record.inputs == {given, child_input, cont}
        assert record.outputs == {output}
        assert record.parent == "grandparent"
        assert record.children == ["p:0001"]
        assert [(d.target, d.kind, d.answered) for d in record.deliveries] == [
            ("other", "event", False),
            ("@cart@k", "signal", False),
            ("@cart@k", "call", True),
        ]
        assert record.terminal

    def test_inline_values_and_other_stores_tokens_are_not_references(
        self, store: InMemoryPayloadStore
    ) -> None:
        record = record_instance(
            "p", state("p", input="small", output="file:v1:" + "a" * 32), [started("blob:v1:c:d")], store
        )
        assert record.tokens == {}


def _decide(
    plan: dict[str, InstanceRecord],
    purged: set[str],
    writers: dict[str, str | None],
    holders: dict[str, _Holder] | None = None,
) -> tuple[list[str], dict[str, str]]:
    tokens = list(dict.fromkeys(t for i in purged for t in plan[i].tokens))
    verdict = decide(plan, purged, writers, holders or {}, tokens)
    return verdict.deletable, verdict.kept


def _record(instance_id: str, *tokens: str, **fields: Any) -> InstanceRecord:
    record = InstanceRecord(instance_id, status=fields.pop("status", COMPLETED), tokens=dict.fromkeys(tokens))
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def _finished(*tokens: str, children: list[str] | None = None) -> _Holder:
    return _Holder("orchestration", _record("h", *tokens, children=children or []))


def _running(*tokens: str) -> _Holder:
    return _Holder("orchestration", _record("h", *tokens, status=RUNNING))


class TestWhichTokensAPurgeDeletes:
    def test_only_the_purged_instances_own_payloads(self) -> None:
        plan = {"p": _record("p", "mine", "theirs", "unknown")}
        deletable, kept = _decide(plan, {"p"}, {"mine": "p", "theirs": "q", "unknown": None})
        assert deletable == ["mine"]
        assert set(kept) == {"theirs", "unknown"}

    def test_inputs_are_kept_because_a_restart_may_have_copied_them(self) -> None:
        plan = {"p": _record("p", "in", inputs={"in"})}
        assert _decide(plan, {"p"}, {"in": "p"}) == ([], {"in": "inputs (a restart may have copied them)"})

    @pytest.mark.parametrize(
        ("parent", "holder", "deleted"),
        [
            (None, None, False),  # cannot tell whether it has a parent
            ("q", _Holder("gone"), True),
            ("q", _running(), False),  # the output may be on its way to it
            ("q", _finished(), True),
            ("q", _finished("out"), False),  # its finished history holds it
            ("q", _Holder("unknown"), False),
        ],
    )
    def test_an_output_goes_to_the_parent(
        self, parent: str | None, holder: _Holder | None, deleted: bool
    ) -> None:
        plan = {"p": _record("p", "out", outputs={"out"}, parent=parent)}
        holders = {"q": holder} if holder else {}
        assert _decide(plan, {"p"}, {"out": "p"}, holders)[0] == (["out"] if deleted else [])

    @pytest.mark.parametrize(
        ("child_id", "holder", "deleted"),
        [
            ("q:0001", _finished(children=["q:0001"]), True),  # durabletask's id, confirmed by the parent
            ("q:0001", _finished(children=["q:0002"]), False),  # not that parent's child
            ("q:0001", _running(), False),
        ],
    )
    def test_a_parent_found_by_the_child_id_counts_once_confirmed(
        self, child_id: str, holder: _Holder, deleted: bool
    ) -> None:
        plan = {child_id: _record(child_id, "out", outputs={"out"})}
        assert _decide(plan, {child_id}, {"out": child_id}, {"q": holder})[0] == (["out"] if deleted else [])

    def test_a_parent_found_as_the_writer_of_the_input(self) -> None:
        plan = {"c": _record("c", "in", "out", inputs={"in"}, outputs={"out"})}
        holders = {"q": _finished("in", children=["c"])}
        assert _decide(plan, {"c"}, {"in": "q", "out": "c"}, holders)[0] == ["out"]

    @pytest.mark.parametrize(
        ("kind", "answered", "holder", "deleted"),
        [
            ("event", False, _finished(), True),
            ("event", False, _finished("t"), False),
            ("event", False, _running(), False),
            ("event", False, _Holder("gone"), False),  # some backends keep events for instances to come
            ("event", False, _Holder("entity"), False),
            ("signal", False, _Holder("entity"), False),  # may still be queued
            ("call", False, _Holder("entity"), False),
            ("call", True, _Holder("entity"), True),  # answered: the entity took it
        ],
    )
    def test_what_was_sent(self, kind: str, answered: bool, holder: _Holder, deleted: bool) -> None:
        from durabletask_payloads._lifecycle import Delivery

        plan = {"p": _record("p", "t", deliveries=[Delivery("r", "t", kind, answered)])}
        assert _decide(plan, {"p"}, {"t": "p"}, {"r": holder})[0] == (["t"] if deleted else [])

    def test_sent_to_an_instance_purged_with_it(self) -> None:
        from durabletask_payloads._lifecycle import Delivery

        plan = {"p": _record("p", "t", deliveries=[Delivery("r", "t", "event")]), "r": _record("r", "t")}
        assert _decide(plan, {"p", "r"}, {"t": "p"})[0] == ["t"]

    def test_referred_to_by_an_instance_that_survived_the_purge(self) -> None:
        plan = {"p": _record("p", "t"), "s": _record("s", "t")}
        assert _decide(plan, {"p"}, {"t": "p"})[1] == {"t": "referred to by an instance that exists"}

    def test_an_unreadable_history_keeps_everything_it_may_have_sent(self) -> None:
        plan = {"p": _record("p", "t", complete=False)}
        assert _decide(plan, {"p"}, {"t": "p"})[0] == []

    def test_a_related_instance_that_cannot_be_read_keeps_everything(self) -> None:
        plan = {"p": _record("p", "t")}
        assert _decide(plan, {"p"}, {"t": "p"}, {"q": _Holder("unknown")})[0] == []


class FakeBackend:
    """Answers the calls the purge flow makes from dictionaries; records them."""

    def __init__(self, states: dict[str, pb.OrchestrationState], histories: dict[str, list[pb.HistoryEvent]]):
        self.states, self.histories, self.calls = states, histories, []  # type: ignore[var-annotated]

    def GetInstance(self, request: pb.GetInstanceRequest, metadata: Any = ()) -> pb.GetInstanceResponse:
        self.calls.append(("GetInstance", request.instanceId))
        found = self.states.get(request.instanceId)
        return pb.GetInstanceResponse(exists=found is not None, orchestrationState=found)

    def GetEntity(self, request: pb.GetEntityRequest, metadata: Any = ()) -> pb.GetEntityResponse:
        self.calls.append(("GetEntity", request.instanceId))
        return pb.GetEntityResponse(exists=False)

    def StreamInstanceHistory(
        self, request: pb.StreamInstanceHistoryRequest, metadata: Any = ()
    ) -> Iterator[Any]:
        self.calls.append(("StreamInstanceHistory", request.instanceId))
        if request.instanceId not in self.histories:
            raise Missing()
        yield pb.HistoryChunk(events=self.histories[request.instanceId])

    def purge(self, instance_id: str) -> PurgeInstancesResult:
        self.calls.append(("PurgeInstances", instance_id))
        self.states.pop(instance_id)
        self.histories.pop(instance_id)
        return PurgeInstancesResult(deleted_instance_count=1, is_complete=True)


class Missing(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.NOT_FOUND


class AsyncFake:
    """The same fake behind coroutines and async iterators, as a grpc.aio stub looks."""

    def __init__(self, fake: FakeBackend) -> None:
        self.fake = fake

    async def GetInstance(self, request: Any, metadata: Any = ()) -> Any:
        return self.fake.GetInstance(request)

    async def GetEntity(self, request: Any, metadata: Any = ()) -> Any:
        return self.fake.GetEntity(request)

    async def StreamInstanceHistory(self, request: Any, metadata: Any = ()) -> AsyncIterator[Any]:
        for chunk in self.fake.StreamInstanceHistory(request):
            yield chunk


class TestSyncAndAsyncDriveTheSameFlow:
    def _world(self, store: InMemoryPayloadStore) -> tuple[FakeBackend, dict[str, str]]:
        given = store.upload(b"i" * 2000, instance_id="p")
        out = store.upload(b"o" * 2000, instance_id="p")
        result = store.upload(b"r" * 2000, instance_id="p")
        history = [
            started(given),
            pb.HistoryEvent(taskCompleted=pb.TaskCompletedEvent(result=sv(result))),
            completed(out),
        ]
        backend = FakeBackend({"p": state("p", input=given, output=out)}, {"p": history})
        return backend, {"input": given, "output": out, "result": result}

    def test_sync(self, store: InMemoryPayloadStore) -> None:
        backend, tokens = self._world(store)
        result = drive(
            purge_flow(store, PurgeSelection(instance_id="p")),
            backend,
            store,
            purge=lambda: backend.purge("p"),
        )
        assert (result.deleted_payload_count, result.kept_payload_count) == (1, 2)  # type: ignore[attr-defined]
        assert {info.token for info in store.list_payloads()} == {tokens["input"], tokens["output"]}
        assert backend.calls == [
            ("GetInstance", "p"),
            ("StreamInstanceHistory", "p"),
            ("PurgeInstances", "p"),
            ("GetInstance", "p"),
        ]

    def test_async(self, store: InMemoryPayloadStore) -> None:
        backend, tokens = self._world(store)

        async def purge() -> PurgeInstancesResult:
            return backend.purge("p")

        result = asyncio.run(
            drive_async(
                purge_flow(store, PurgeSelection(instance_id="p")), AsyncFake(backend), store, purge=purge
            )
        )
        assert (result.deleted_payload_count, result.kept_payload_count) == (1, 2)  # type: ignore[attr-defined]
        assert {info.token for info in store.list_payloads()} == {tokens["input"], tokens["output"]}
        assert len(backend.calls) == 4

    def test_a_failed_purge_deletes_nothing(self, store: InMemoryPayloadStore) -> None:
        backend, _ = self._world(store)

        def refuse() -> PurgeInstancesResult:
            raise RuntimeError("the backend said no")

        with pytest.raises(RuntimeError, match="said no"):
            drive(purge_flow(store, PurgeSelection(instance_id="p")), backend, store, purge=refuse)
        assert len(list(store.list_payloads())) == 3
