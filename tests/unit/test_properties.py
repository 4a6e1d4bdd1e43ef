"""Property-based checks with hypothesis: random messages, random strings, random JSON."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durabletask_payloads import (
    InMemoryPayloadStore,
    InvalidPayloadTokenError,
    LargePayloadStorageOptions,
    deexternalize_payloads,
    externalize_payloads,
)
from durabletask_payloads._token import parse_blob_token, parse_simple_token

from ..grpc.messages import string_values

SERVICE = pb.DESCRIPTOR.services_by_name["TaskHubSidecarService"]
_BY_NAME = {m.input_type.full_name: m.input_type for m in SERVICE.methods}
_BY_NAME.update({m.output_type.full_name: m.output_type for m in SERVICE.methods})
MESSAGE_TYPES = sorted(_BY_NAME.items())
# Valid Unicode only: protobuf strings cannot hold lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
MAX_DEPTH = 3

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=20),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=False),
    FieldDescriptor.TYPE_FLOAT: st.floats(allow_nan=False, width=32),
}


def _repeated(field: FieldDescriptor) -> bool:
    return bool(getattr(field, "is_repeated", False))


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    """A random instance of *descriptor*: any subset of fields, one member per oneof, nested."""
    message = message_factory.GetMessageClass(descriptor)()
    if descriptor.full_name == "google.protobuf.StringValue":
        message.value = draw(TEXT)
        return message
    chosen = {o.name: draw(st.sampled_from([None, *[f.name for f in o.fields]])) for o in descriptor.oneofs}
    for field in descriptor.fields:
        if field.containing_oneof is not None and chosen[field.containing_oneof.name] != field.name:
            continue
        if field.containing_oneof is None and not draw(st.booleans()):
            continue
        _fill(draw, message, field, depth)
    return message


def _fill(draw: st.DrawFn, message: Message, field: FieldDescriptor, depth: int) -> None:
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        key_type = field.message_type.fields_by_name["key"].type
        for key in draw(st.lists(_SCALARS.get(key_type, st.integers(0, 9)), max_size=2, unique=True)):
            if value_field.message_type is None:
                target[key] = draw(_SCALARS.get(value_field.type, st.integers(0, 3)))
            elif depth < MAX_DEPTH:
                target[key].CopyFrom(draw(messages(value_field.message_type, depth + 1)))
        return
    if field.message_type is not None:
        if depth >= MAX_DEPTH and field.message_type.full_name != "google.protobuf.StringValue":
            return
        if _repeated(field):
            for item in draw(st.lists(messages(field.message_type, depth + 1), max_size=2)):
                target.add().CopyFrom(item)
        else:
            target.CopyFrom(draw(messages(field.message_type, depth + 1)))
        return
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = [v.number for v in field.enum_type.values]
        strategy: st.SearchStrategy[Any] = st.sampled_from(values)
    else:
        strategy = _SCALARS.get(field.type, st.integers(0, 3))
    if _repeated(field):
        target.extend(draw(st.lists(strategy, max_size=2)))
    else:
        setattr(message, field.name, draw(strategy))


@st.composite
def service_messages(draw: st.DrawFn) -> Message:
    _, descriptor = draw(st.sampled_from(MESSAGE_TYPES))
    return draw(messages(descriptor))


class TestRoundTrip:
    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(message=service_messages(), threshold=st.integers(1, 400))
    def test_every_service_message_round_trips_unchanged(self, message: Message, threshold: int) -> None:
        store = InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=threshold))
        original = type(message)()
        original.CopyFrom(message)
        externalize_payloads(message, store, instance_id="i")
        deexternalize_payloads(message, store)
        assert message == original

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(message=service_messages(), threshold=st.integers(1, 400))
    def test_no_payload_at_or_above_the_threshold_is_left_inline_and_text_is_untouched(
        self, message: Message, threshold: int
    ) -> None:
        store = InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=threshold))
        texts = [field.value for field in string_values(message, payloads=False)]
        externalize_payloads(message, store)
        for field in string_values(message, payloads=True):
            assert len(field.value.encode()) < threshold or store.is_known_token(field.value)
        assert [field.value for field in string_values(message, payloads=False)] == texts


class TestTokenParsers:
    @given(st.text())
    def test_any_string_is_a_blob_token_or_refused_cleanly(self, value: str) -> None:
        with contextlib.suppress(InvalidPayloadTokenError):
            parse_blob_token(value)

    @given(
        st.text(max_size=200).map(lambda rest: "blob:v1:" + rest)
        | st.text(max_size=200).map(lambda r: "blob:v2:" + r)
    )
    def test_strings_with_the_prefix_are_parsed_or_refused_cleanly(self, value: str) -> None:
        try:
            parsed = parse_blob_token(value)
        except InvalidPayloadTokenError:
            return
        assert ".." not in parsed.blob_name.split("/")
        assert not parsed.blob_name.startswith("/")

    @given(st.text(), st.sampled_from(["file", "memory"]))
    def test_any_string_is_a_simple_token_or_refused_cleanly(self, value: str, scheme: str) -> None:
        try:
            name = parse_simple_token(scheme, value)
        except InvalidPayloadTokenError:
            return
        assert len(name) == 32 and set(name) <= set("0123456789abcdef")

    @given(st.text())
    def test_stores_answer_is_known_token_with_a_bool(self, value: str) -> None:
        assert InMemoryPayloadStore().is_known_token(value) in (True, False)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | TEXT
    | st.sampled_from(
        ["blob:v1:durabletask-payloads:" + "0" * 32, "memory:v1:" + "0" * 32, "file:v1:" + "a" * 32]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)


class TestUserDataThatLooksLikeTokens:
    @settings(max_examples=200)
    @given(value=_json)
    def test_json_documents_are_never_resolved(self, value: Any) -> None:
        store = InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=1024 * 1024))
        message = pb.CreateInstanceRequest(instanceId="i")
        message.input.value = json.dumps(value)
        before = message.input.value
        assert deexternalize_payloads(message, store) == 0
        assert message.input.value == before
        assert store.downloads == 0


class TestBadArguments:
    def test_uploading_text_instead_of_bytes_says_so(self) -> None:
        with pytest.raises(TypeError, match="bytes"):
            InMemoryPayloadStore().upload("text, not bytes")  # type: ignore[arg-type]

    def test_protobuf_itself_refuses_lone_surrogates(self) -> None:
        """They can never reach the walkers: a StringValue cannot hold one."""
        with pytest.raises((ValueError, UnicodeError)):
            pb.CreateInstanceRequest().input.value = "\ud800"
