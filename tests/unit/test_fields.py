"""Which StringValue fields carry payloads: the table, the descriptor, the walk, the docs.

Tokens are trusted only where this package writes them. Every message type of
durabletask's protocol is generated with every StringValue set (one variant per
oneof member); a caller's text, even above the threshold and even a real token
of another instance, must come out of externalize and deexternalize unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import message_factory, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    deexternalize_payloads,
    externalize_payloads,
    payload_tokens,
)
from durabletask_payloads._fields import PAYLOAD_FIELDS, PROTOCOL_FILE, TEXT_FIELDS, carries_payload
from durabletask_payloads._walker import find_string_values

from ..grpc.messages import Filler, oneof_width, string_values
from .test_protos import Node

STRING_VALUE = wrappers_pb2.StringValue.DESCRIPTOR.full_name
DOC = Path(__file__).resolve().parents[2] / "docs" / "how-it-works.md"


def _message_types(descriptors: Any) -> Iterator[Descriptor]:
    for descriptor in descriptors:
        if descriptor.GetOptions().map_entry:
            continue
        yield descriptor
        yield from _message_types(descriptor.nested_types)


MESSAGE_TYPES = sorted(
    _message_types(pb.DESCRIPTOR.message_types_by_name.values()), key=lambda d: d.full_name
)


def _holds_string_values(field: FieldDescriptor) -> bool:
    held = field.message_type
    if held is not None and held.GetOptions().map_entry:
        held = held.fields_by_name["value"].message_type
    return held is not None and held.full_name == STRING_VALUE


def _string_value_fields() -> dict[str, FieldDescriptor]:
    return {f"{m.full_name}.{f.name}": f for m in MESSAGE_TYPES for f in m.fields if _holds_string_values(f)}


FIELDS = _string_value_fields()
CASES = [(d, v) for d in MESSAGE_TYPES for v in range(oneof_width(d))]


def _generate(descriptor: Descriptor, variant: int) -> Any:
    return Filler(300, variant).fill(message_factory.GetMessageClass(descriptor)())


class TestTheTable:
    def test_every_string_value_field_of_the_protocol_is_classified_once(self) -> None:
        """A field added by a newer durabletask fails here until someone decides what it holds."""
        classified = PAYLOAD_FIELDS | set(TEXT_FIELDS)
        assert not PAYLOAD_FIELDS & set(TEXT_FIELDS)
        assert sorted(set(FIELDS) - classified) == []
        assert sorted(classified - set(FIELDS)) == []
        assert (len(FIELDS), len(PAYLOAD_FIELDS)) == (91, 37)

    @pytest.mark.parametrize("name", sorted(FIELDS))
    def test_carries_payload_follows_the_table(self, name: str) -> None:
        assert carries_payload(FIELDS[name]) is (name in PAYLOAD_FIELDS)

    def test_raw_string_fields_named_in_the_issue_are_text(self) -> None:
        for name in (
            "CreateInstanceRequest.version",
            "ExecutionStartedEvent.version",
            "OrchestrationState.version",
            "SuspendRequest.reason",
            "ResumeRequest.reason",
            "ExecutionSuspendedEvent.input",
            "ExecutionResumedEvent.input",
            "ParentInstanceInfo.name",
            "OrchestrationState.executionId",
            "TaskFailureDetails.stackTrace",
        ):
            assert not carries_payload(FIELDS[name]), name

    def test_fields_of_other_protobuf_files_always_carry_payloads(self) -> None:
        assert Node.DESCRIPTOR.file.name != PROTOCOL_FILE
        assert all(carries_payload(f) for f in Node.DESCRIPTOR.fields if _holds_string_values(f))

    def test_what_dotnet_externalizes_is_a_payload_field_or_a_documented_exception(self) -> None:
        """The fields AzureBlobPayloadsSideCarInterceptor.cs (durabletask-dotnet ec41350) writes and reads."""
        dotnet = {
            "CreateInstanceRequest.input", "RaiseEventRequest.input", "TerminateRequest.output",
            "SuspendRequest.reason", "ResumeRequest.reason", "SignalEntityRequest.input",
            "ActivityResponse.result", "OrchestratorResponse.customStatus",
            "CompleteOrchestrationAction.result", "CompleteOrchestrationAction.details",
            "TerminateOrchestrationAction.reason", "ScheduleTaskAction.input",
            "CreateSubOrchestrationAction.input", "SendEventAction.data",
            "EntityOperationSignaledEvent.input", "EntityOperationCalledEvent.input",
            "EntityBatchResult.entityState", "OperationResultSuccess.result", "SendSignalAction.input",
            "StartNewOrchestrationAction.input", "EntityBatchRequest.entityState",
            "OperationRequest.input", "EntityRequest.entityState",
            "OrchestrationState.input", "OrchestrationState.output", "OrchestrationState.customStatus",
            "EntityMetadata.serializedState", "ActivityRequest.input",
            "ExecutionStartedEvent.input", "ExecutionCompletedEvent.result", "EventRaisedEvent.input",
            "TaskScheduledEvent.input", "TaskCompletedEvent.result",
            "SubOrchestrationInstanceCreatedEvent.input", "SubOrchestrationInstanceCompletedEvent.result",
            "EventSentEvent.input", "GenericEvent.data", "ContinueAsNewEvent.input",
            "ExecutionTerminatedEvent.input", "ExecutionSuspendedEvent.input", "ExecutionResumedEvent.input",
            "EntityOperationCompletedEvent.output",
        }  # fmt: skip
        assert dotnet - PAYLOAD_FIELDS == {
            "SuspendRequest.reason",
            "ResumeRequest.reason",
            "ExecutionSuspendedEvent.input",
            "ExecutionResumedEvent.input",
            "TerminateOrchestrationAction.reason",
            "CompleteOrchestrationAction.details",
        }
        assert PAYLOAD_FIELDS - dotnet == {"ExecutionRewoundEvent.input"}


class TestTheDocs:
    def test_how_it_works_lists_exactly_the_payload_fields(self) -> None:
        section = DOC.read_text(encoding="utf-8").split("## Which fields carry payloads", 1)[1]
        table = section.split("| Where | Fields |", 1)[1].split("\n\n", 1)[0]
        listed = re.findall(r"`([A-Za-z]+\.[A-Za-z]+)`", table)
        assert len(listed) == len(set(listed))
        assert set(listed) == PAYLOAD_FIELDS


@pytest.mark.parametrize(("descriptor", "variant"), CASES, ids=[f"{d.name}-{v}" for d, v in CASES])
class TestEveryMessageType:
    def test_the_walker_finds_exactly_the_payload_fields(self, descriptor: Descriptor, variant: int) -> None:
        message = _generate(descriptor, variant)
        found = find_string_values(message, keep=lambda s: True)
        expected = string_values(message, payloads=True)
        assert sorted(f.value for f in found) == sorted(f.value for f in expected)

    def test_text_is_neither_externalized_nor_resolved(self, descriptor: Descriptor, variant: int) -> None:
        store = InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=64))
        victim = store.upload(b'{"secret": "of another instance"}', instance_id="victim")
        message = _generate(descriptor, variant)
        for field in string_values(message):
            field.value = victim  # a real token, everywhere
        externalize_payloads(message, store, instance_id="caller")  # tokens stay tokens
        assert payload_tokens(message, store) == ([victim] if string_values(message, payloads=True) else [])
        deexternalize_payloads(message, store)
        assert all(
            f.value == '{"secret": "of another instance"}' for f in string_values(message, payloads=True)
        )
        assert all(f.value == victim for f in string_values(message, payloads=False))

    def test_large_text_is_sent_as_given(self, descriptor: Descriptor, variant: int) -> None:
        store = InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=64))
        message = _generate(descriptor, variant)
        texts = [f.value for f in string_values(message, payloads=False)]
        externalize_payloads(message, store, instance_id="caller")
        assert [f.value for f in string_values(message, payloads=False)] == texts
        assert all(store.is_known_token(f.value) for f in string_values(message, payloads=True))
