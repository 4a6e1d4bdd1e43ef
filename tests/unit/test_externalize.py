"""externalize_payloads / deexternalize_payloads and their async twins."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadIntegrityError,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
    PayloadTooLargeError,
    deexternalize_payloads,
    deexternalize_payloads_async,
    externalize_payloads,
    externalize_payloads_async,
    payload_tokens,
)

from ..helpers import CountingStore
from .test_protos import Node

THRESHOLD = 100


def _store(threshold: int = THRESHOLD, maximum: int = 10_000) -> CountingStore:
    return CountingStore(
        InMemoryPayloadStore(
            LargePayloadStorageOptions(threshold_bytes=threshold, max_stored_payload_bytes=maximum)
        )
    )


def externalize(
    message: object, store: CountingStore, *, instance_id: str | None = None, use_async: bool
) -> int:
    if use_async:
        return asyncio.run(externalize_payloads_async(message, store, instance_id=instance_id))  # type: ignore[arg-type]
    return externalize_payloads(message, store, instance_id=instance_id)  # type: ignore[arg-type]


def deexternalize(message: object, store: CountingStore, *, use_async: bool) -> int:
    if use_async:
        return asyncio.run(deexternalize_payloads_async(message, store))  # type: ignore[arg-type]
    return deexternalize_payloads(message, store)  # type: ignore[arg-type]


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    """Every behaviour is checked on the sync function and on its async twin."""
    return bool(request.param)


class TestThreshold:
    @pytest.mark.parametrize(("size", "externalized"), [(99, False), (100, True), (101, True)])
    def test_at_or_above_the_threshold_is_externalized(
        self, size: int, externalized: bool, use_async: bool
    ) -> None:
        """The .NET rule: UTF-8 size >= threshold."""
        store = _store()
        node = Node()
        node.value.value = "a" * size
        count = externalize(node, store, use_async=use_async)
        assert count == int(externalized)
        assert store.is_known_token(node.value.value) is externalized

    @pytest.mark.parametrize(("chars", "externalized"), [(33, False), (34, True)])
    def test_size_is_counted_in_utf8_bytes(self, chars: int, externalized: bool, use_async: bool) -> None:
        """'€' is 3 bytes in UTF-8: 33 of them are 99 bytes, 34 are 102."""
        store = _store()
        node = Node()
        node.value.value = "€" * chars
        externalize(node, store, use_async=use_async)
        assert store.is_known_token(node.value.value) is externalized

    def test_multibyte_character_straddling_the_threshold(self, use_async: bool) -> None:
        """98 ASCII bytes + one 2-byte character = 100 bytes: externalized, and restored intact."""
        store = _store()
        node = Node()
        original = "a" * 98 + "é"
        node.value.value = original
        externalize(node, store, use_async=use_async)
        assert store.is_known_token(node.value.value)
        deexternalize(node, store, use_async=use_async)
        assert node.value.value == original

    def test_empty_strings_stay_even_at_a_one_byte_threshold(self, use_async: bool) -> None:
        store = _store(threshold=1)
        node = Node()
        node.value.value = ""
        node.values.add(value="a")
        assert externalize(node, store, use_async=use_async) == 1
        assert node.HasField("value") and node.value.value == ""
        assert store.is_known_token(node.values[0].value)
        assert deexternalize(node, store, use_async=use_async) == 1
        assert [v.value for v in node.values] == ["a"]

    def test_small_message_does_not_touch_the_store(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        node.value.value = "small"
        node.leaves["k"].v.value = "also small"
        assert externalize(node, store, use_async=use_async) == 0
        assert deexternalize(node, store, use_async=use_async) == 0
        assert store.snapshot() == (0, 0)

    def test_many_small_values_adding_up_above_the_threshold_stay_inline(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        for i in range(100):
            node.values.add(value=f"value {i}")
        assert node.ByteSize() > THRESHOLD
        assert externalize(node, store, use_async=use_async) == 0
        assert store.snapshot() == (0, 0)


class TestRoundTrip:
    def test_every_shape_round_trips_to_an_equal_message(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        big = [f"{i}:" + "x" * 150 for i in range(8)]
        node.value.value = big[0]
        node.values.add(value=big[1])
        node.by_key["k"].value = big[2]
        node.leaves["l"].v.value = big[3]
        node.chosen_leaf.v.value = big[4]
        node.child.children.add().value.value = big[5]
        node.a.b.leaf.v.value = big[6]
        node.c.d.c.v.value = big[7]
        node.plain = "y" * 500  # not a StringValue: never touched
        original = Node()
        original.CopyFrom(node)

        assert externalize(node, store, instance_id="i", use_async=use_async) == 8
        assert node.ByteSize() < original.ByteSize()
        assert node.plain == original.plain
        assert deexternalize(node, store, use_async=use_async) == 8
        assert node == original

    def test_identical_values_in_one_message_are_uploaded_once(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        for _ in range(5):
            node.values.add(value="same" * 50)
        assert externalize(node, store, use_async=use_async) == 5
        assert store.uploaded == 1
        assert len({v.value for v in node.values}) == 1
        assert deexternalize(node, store, use_async=use_async) == 5
        assert store.downloaded == 1

    def test_existing_tokens_are_left_alone(self, use_async: bool) -> None:
        """Even with a threshold so low that a token itself would qualify."""
        store = _store(threshold=1)
        node = Node()
        node.value.value = "payload"
        externalize(node, store, use_async=use_async)
        token = node.value.value
        assert externalize(node, store, use_async=use_async) == 0
        assert node.value.value == token
        assert store.uploaded == 1

    def test_instance_id_scopes_the_token(self, use_async: bool) -> None:
        store = _store()
        first, second = Node(), Node()
        first.value.value = second.value.value = "z" * 200
        externalize(first, store, instance_id="a", use_async=use_async)
        externalize(second, store, instance_id="b", use_async=use_async)
        assert first.value.value != second.value.value


class TestOnlyWholeTokensAreResolved:
    def test_text_containing_a_token_is_data(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        node.value.value = "q" * 200
        externalize(node, store, use_async=use_async)
        token = node.value.value
        user_data = [json.dumps({"ref": token}), json.dumps(token), " " + token, token + " ", token.upper()]
        for text in user_data:
            node.values.add(value=text)
        deexternalize(node, store, use_async=use_async)
        assert [v.value for v in node.values] == user_data
        assert node.value.value == "q" * 200

    def test_blob_like_strings_in_user_json_are_not_resolved(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        node.value.value = json.dumps({"blob:v1:x:y": 1, "memory:v1:" + "0" * 32: "v"})
        before = node.value.value
        assert deexternalize(node, store, use_async=use_async) == 0
        assert node.value.value == before
        assert store.downloaded == 0


class TestFailuresLeaveTheMessageUnchanged:
    def test_a_value_above_the_maximum_is_refused_before_any_upload(self, use_async: bool) -> None:
        store = _store(maximum=1000)
        node = Node()
        node.value.value = "ok" * 100
        node.child.value.value = "n" * 1001
        original = Node()
        original.CopyFrom(node)
        with pytest.raises(PayloadTooLargeError, match=r"1,001 bytes exceeds the limit of 1,000 bytes"):
            externalize(node, store, use_async=use_async)
        assert node == original
        assert store.uploaded == 0

    def test_a_missing_payload_names_its_token(self, use_async: bool) -> None:
        store = _store()
        node = Node()
        node.value.value = "k" * 200
        node.child.value.value = "m" * 200
        externalize(node, store, use_async=use_async)
        tokens = (node.value.value, node.child.value.value)
        store.inner.delete(tokens[1])
        with pytest.raises(PayloadNotFoundError) as info:
            deexternalize(node, store, use_async=use_async)
        assert info.value.token == tokens[1]
        assert (node.value.value, node.child.value.value) == tokens

    def test_a_store_failure_during_upload_changes_nothing(self, use_async: bool) -> None:
        class Failing(CountingStore):
            def upload_many(self, payloads: Sequence[bytes], *, instance_id: str | None = None) -> list[str]:
                raise PayloadStoreUnavailableError("upload", "memory", "offline")

            async def upload_many_async(
                self, payloads: Sequence[bytes], *, instance_id: str | None = None
            ) -> list[str]:
                raise PayloadStoreUnavailableError("upload", "memory", "offline")

        store = Failing(InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=THRESHOLD)))
        node = Node()
        node.value.value = "v" * 200
        with pytest.raises(PayloadStoreUnavailableError):
            externalize(node, store, use_async=use_async)
        assert node.value.value == "v" * 200

    def test_a_payload_that_is_not_utf8_is_an_integrity_error(self, use_async: bool) -> None:
        store = _store()
        token = store.inner.upload(b"\xff\xfe not utf-8")
        node = Node()
        node.value.value = token
        with pytest.raises(PayloadIntegrityError, match="not valid UTF-8"):
            deexternalize(node, store, use_async=use_async)
        assert node.value.value == token


class TestDurableTaskMessages:
    def test_work_item_round_trip(self, use_async: bool) -> None:
        store = _store()
        item = pb.WorkItem(completionToken="1")
        request = item.orchestratorRequest
        request.instanceId = "abc"
        request.pastEvents.add().executionStarted.input.value = "i" * 300
        request.newEvents.add().taskCompleted.result.value = "r" * 300
        request.newEvents.add().timerFired.timerId = 3
        original = pb.WorkItem()
        original.CopyFrom(item)
        assert externalize(item, store, instance_id="abc", use_async=use_async) == 2
        assert deexternalize(item, store, use_async=use_async) == 2
        assert item == original


class TestTokensOnlyWhereWePutThem:
    """A caller's text (version, reason, id) is sent as given and never resolved, even if it is a token."""

    def test_a_version_equal_to_another_instances_token_stays_that_token(self, use_async: bool) -> None:
        store = _store()
        victim = store.upload(b'{"card": "4111"}', instance_id="victim")
        request = pb.CreateInstanceRequest(instanceId="caller", name="o")
        request.version.value = victim
        request.input.value = json.dumps(victim)  # the data converter quotes a string: data
        assert deexternalize(request, store, use_async=use_async) == 0
        assert (request.version.value, request.input.value) == (victim, json.dumps(victim))
        assert store.downloaded == 0

    def test_a_reason_in_history_equal_to_a_token_stays_that_token(self, use_async: bool) -> None:
        store = _store()
        victim = store.upload(b'"secret"', instance_id="victim")
        chunk = pb.HistoryChunk()
        chunk.events.add().executionSuspended.input.value = victim
        chunk.events.add().executionResumed.input.value = victim
        chunk.events.add().eventRaised.input.value = victim  # a payload field: resolved
        assert deexternalize(chunk, store, use_async=use_async) == 1
        assert [e.WhichOneof("eventType") for e in chunk.events if victim in str(e)] == [
            "executionSuspended",
            "executionResumed",
        ]
        assert chunk.events[2].eventRaised.input.value == '"secret"'

    def test_large_text_is_not_externalized(self, use_async: bool) -> None:
        store = _store()
        reason = "r" * 5000
        request = pb.SuspendRequest(instanceId="i")
        request.reason.value = reason
        started = pb.HistoryEvent().executionStarted
        started.version.value = "v" * 5000
        started.input.value = "i" * 5000
        assert externalize(request, store, instance_id="i", use_async=use_async) == 0
        assert externalize(started, store, instance_id="i", use_async=use_async) == 1
        assert (request.reason.value, started.version.value) == (reason, "v" * 5000)
        assert store.is_known_token(started.input.value)

    def test_payload_tokens_ignores_tokens_in_text(self) -> None:
        store = _store()
        victim = store.upload(b"v" * 200, instance_id="victim")
        own = store.upload(b"o" * 200, instance_id="own")
        state = pb.OrchestrationState(instanceId="own")
        state.version.value = victim
        state.input.value = own
        assert payload_tokens(state, store) == [own]


class TestUtf8FromTheWire:
    """Values are read as UTF-8 straight from the wire form; the slow road must agree with it."""

    @pytest.mark.parametrize("text", ["a", "é" * 70, "x" * 200_000, "mixed ✓ 客户 " * 1000])
    def test_matches_encoding_the_string(self, text: str) -> None:
        from google.protobuf import wrappers_pb2

        from durabletask_payloads._externalize import _utf8

        field = wrappers_pb2.StringValue(value=text)
        assert _utf8(field) == text.encode("utf-8")

    def test_unknown_fields_fall_back_to_the_string(self) -> None:
        from google.protobuf import wrappers_pb2

        from durabletask_payloads._externalize import _utf8

        # field 1 = "hello", then an unknown field 2 (varint 7)
        field = wrappers_pb2.StringValue.FromString(b"\n\x05hello\x10\x07")
        assert field.value == "hello"
        assert _utf8(field) == b"hello"
