"""Every RPC of TaskHubSidecarService, found from the proto descriptor, goes through the interceptors.

For each method, requests and responses are generated with a large value in
every reachable StringValue (one variant per oneof member). Over real gRPC:
the server must receive tokens in every payload field and the caller's text
unchanged everywhere else, and both sides must end up with messages equal to
the originals. A method added upstream is covered without a change here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadInterceptor,
    externalize_payloads,
)
from durabletask_payloads import aio as dtp_aio

from ..helpers import free_port
from .messages import Filler, oneof_width, string_values

SERVICE = pb.DESCRIPTOR.services_by_name["TaskHubSidecarService"]
METHODS = list(SERVICE.methods)
THRESHOLD = 64
VALUE_SIZE = 100


def _cls(descriptor: Any) -> Any:
    return message_factory.GetMessageClass(descriptor)


def _variants(descriptor: Any) -> int:
    return oneof_width(descriptor)


def generate(descriptor: Any, variant: int) -> Message:
    return Filler(VALUE_SIZE, variant).fill(_cls(descriptor)())


def copy(message: Message) -> Message:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


@dataclass
class Server:
    """A real gRPC server for every method of the service, driven by the test."""

    store: InMemoryPayloadStore
    received: list[Message] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)

    def handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler:
        in_cls, out_cls = _cls(method.input_type), _cls(method.output_type)

        def unary(request: Message, context: grpc.ServicerContext) -> Message:
            self.received.append(request)
            return self.replies[0]

        def stream(request: Message, context: grpc.ServicerContext) -> Iterator[Message]:
            self.received.append(request)
            yield from self.replies

        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(
                stream, request_deserializer=in_cls.FromString, response_serializer=out_cls.SerializeToString
            )
        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=in_cls.FromString, response_serializer=out_cls.SerializeToString
        )


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Server, str]]:
    store = InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=THRESHOLD))
    state = Server(store)
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    grpc_server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE.full_name, {m.name: state.handler(m) for m in METHODS})]
    )
    port = free_port()
    grpc_server.add_insecure_port(f"127.0.0.1:{port}")
    grpc_server.start()
    yield state, f"127.0.0.1:{port}"
    grpc_server.stop(None)


def _prepare(state: Server, method: MethodDescriptor, variant: int) -> tuple[Message, list[Message]]:
    """The request to send, and the replies the backend holds (as tokens) for it."""
    state.received.clear()
    count = 2 if method.server_streaming else 1
    originals = [generate(method.output_type, variant + i) for i in range(count)]
    state.replies = []
    for original in originals:
        stored = copy(original)
        externalize_payloads(stored, state.store, instance_id="backend")
        state.replies.append(stored)
    return generate(method.input_type, variant), originals


def _check_request(state: Server, method: MethodDescriptor, original: Message) -> None:
    (received,) = state.received
    values = string_values(received, payloads=True)
    assert len(values) == len(string_values(original, payloads=True))
    assert all(state.store.is_known_token(v.value) for v in values), "a large value reached the server"
    # A caller's own text (versions, reasons, ids) is sent as it was given.
    assert [v.value for v in string_values(received, payloads=False)] == [
        v.value for v in string_values(original, payloads=False)
    ]
    restored = copy(received)
    from durabletask_payloads import deexternalize_payloads

    deexternalize_payloads(restored, state.store)
    if method.name == "GetWorkItems":
        assert pb.WORKER_CAPABILITY_LARGE_PAYLOADS in restored.capabilities  # type: ignore[attr-defined]
        restored.ClearField("capabilities")
        original = copy(original)
        original.ClearField("capabilities")
    assert restored == original


def _cases() -> list[tuple[MethodDescriptor, int]]:
    cases = []
    for method in METHODS:
        width = max(_variants(method.input_type), _variants(method.output_type))
        cases.extend((method, variant) for variant in range(width))
    return cases


CASES = _cases()


def test_the_descriptor_lists_the_known_methods() -> None:
    """Sanity check of the enumeration itself: the payload-carrying RPCs are there."""
    names = {m.name for m in METHODS}
    assert {"StartInstance", "GetWorkItems", "CompleteOrchestratorTask", "StreamInstanceHistory"} <= names
    assert len(CASES) > len(METHODS)


@pytest.mark.parametrize(("method", "variant"), CASES, ids=[f"{m.name}-{v}" for m, v in CASES])
def test_sync_interceptor(server: tuple[Server, str], method: MethodDescriptor, variant: int) -> None:
    state, address = server
    request, originals = _prepare(state, method, variant)
    sent = copy(request)
    path = f"/{SERVICE.full_name}/{method.name}"
    with grpc.insecure_channel(address) as raw:
        channel = grpc.intercept_channel(raw, PayloadInterceptor(state.store))
        in_cls, out_cls = _cls(method.input_type), _cls(method.output_type)
        if method.server_streaming:
            call = channel.unary_stream(path, in_cls.SerializeToString, out_cls.FromString)
            responses = list(call(sent, timeout=30))
        else:
            call = channel.unary_unary(path, in_cls.SerializeToString, out_cls.FromString)
            responses = [call(sent, timeout=30)]
    _check_request(state, method, request)
    assert responses == originals


@pytest.mark.parametrize(("method", "variant"), CASES, ids=[f"{m.name}-{v}" for m, v in CASES])
def test_async_interceptor(server: tuple[Server, str], method: MethodDescriptor, variant: int) -> None:
    state, address = server
    request, originals = _prepare(state, method, variant)
    sent = copy(request)
    path = f"/{SERVICE.full_name}/{method.name}"
    in_cls, out_cls = _cls(method.input_type), _cls(method.output_type)

    async def call() -> list[Message]:
        async with grpc.aio.insecure_channel(
            address, interceptors=dtp_aio.payload_interceptors_async(state.store)
        ) as ch:
            if method.server_streaming:
                stream = ch.unary_stream(path, in_cls.SerializeToString, out_cls.FromString)
                return [r async for r in stream(sent, timeout=30)]
            unary = ch.unary_unary(path, in_cls.SerializeToString, out_cls.FromString)
            return [await unary(sent, timeout=30)]

    responses = asyncio.run(call())
    _check_request(state, method, request)
    assert responses == originals
