"""What the interceptors do with each gRPC call type, written once (durabletask_payloads/_calls.py).

The sync interceptor and the grpc.aio one run the same flow; these tests run it on a
recording edge with the sync runner and the async one, so the two cannot drift (the aio
interceptor once let an RPC error out of its response check where the sync one did not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads._calls import (
    STREAM_STREAM,
    STREAM_UNARY,
    UNARY_STREAM,
    UNARY_UNARY,
    CallType,
    intercepted,
    sending,
)
from durabletask_payloads._hooks import RAW_CALL, Hooks
from durabletask_payloads._steps import Flow, run, run_async
from durabletask_payloads.stores import InMemoryPayloadStore


@dataclass
class Details:
    method: str
    metadata: Any = None


class RpcFailedError(Exception):
    pass


class Edge:
    """Records the operations the flow asks for; the call is a string, its result the response."""

    def __init__(self, fail_result: bool = False) -> None:
        self.ops: list[str] = []
        self.fail_result = fail_result

    def _proceed(self, continuation: Callable[[Any, Any], Any], details: Details, request: Any) -> Any:
        self.ops.append("proceed")
        return continuation(details, request)

    def _send(self, method: str, request: Any) -> Any:
        self.ops.append(f"send {method}")
        return request

    def _send_each(self, method: str, requests: Any) -> Any:
        self.ops.append(f"send each {method}")
        return requests

    def _result(self, call: Any) -> Any:
        self.ops.append("result")
        if self.fail_result:
            raise RpcFailedError("UNAVAILABLE")
        return f"response of {call}"

    def _resolve(self, message: Any) -> None:
        self.ops.append(f"resolve {message}")

    def _stream(self, method: str, call: Any) -> Any:
        self.ops.append(f"stream {method}")
        return f"stream of {call}"


class AsyncEdge:
    """The same edge with awaited operations."""

    def __init__(self, fail_result: bool = False) -> None:
        self.sync = Edge(fail_result)
        self.ops = self.sync.ops

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self.sync, name)

        async def awaited(*args: Any) -> Any:
            await asyncio.sleep(0)
            return operation(*args)

        return awaited


def _continuation(details: Details, request: Any) -> str:
    return f"call({request})"


def _both(flow: Callable[[], Flow[Any]], fail_result: bool = False) -> tuple[Any, list[str]]:
    """Run the flow on the sync and the async edge; both must agree. Return the outcome and the ops."""
    edge = Edge(fail_result)
    outcome = run(flow(), edge)
    async_edge = AsyncEdge(fail_result)
    assert asyncio.run(run_async(flow(), async_edge)) == outcome
    assert async_edge.ops == edge.ops
    return outcome, edge.ops


class TestIntercepted:
    @pytest.mark.parametrize("kind", [UNARY_UNARY, UNARY_STREAM, STREAM_UNARY, STREAM_STREAM])
    def test_other_services_pass_through(self, kind: CallType) -> None:
        """A call outside TaskHubSidecarService is made as it is: nothing sent through the store."""
        outcome, ops = _both(lambda: intercepted(kind, _continuation, Details("/other.Service/Call"), "req"))
        assert (outcome, ops) == ("call(req)", ["proceed"])

    def test_a_raw_call_passes_through(self) -> None:
        """Calls carrying the raw-call metadata (reading tokens as the backend holds them) are untouched."""
        details = Details(_sidecar("GetInstance").method, [RAW_CALL])
        outcome, ops = _both(lambda: intercepted(UNARY_UNARY, _continuation, details, "req"))
        assert (outcome, ops) == ("call(req)", ["proceed"])

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            (UNARY_UNARY, ["send GetInstance", "proceed", "result", "resolve response of call(req)"]),
            (UNARY_STREAM, ["send GetInstance", "proceed", "stream GetInstance"]),
            (STREAM_UNARY, ["send each GetInstance", "proceed", "result", "resolve response of call(req)"]),
            (STREAM_STREAM, ["send each GetInstance", "proceed", "stream GetInstance"]),
        ],
    )
    def test_each_call_type_sends_then_resolves(self, kind: CallType, expected: list[str]) -> None:
        """One request or each of a stream is sent through the store; the response or stream resolved."""
        outcome, ops = _both(lambda: intercepted(kind, _continuation, _sidecar("GetInstance"), "req"))
        assert ops == expected
        assert outcome == ("stream of call(req)" if kind.streams_responses else "call(req)")

    @pytest.mark.parametrize("kind", [UNARY_UNARY, STREAM_UNARY])
    def test_an_rpc_error_is_left_to_the_caller(self, kind: CallType) -> None:
        """Sync and aio alike: the failed call is handed back unresolved, to raise where it is read."""
        outcome, ops = _both(
            lambda: intercepted(kind, _continuation, _sidecar("GetInstance"), "req"), fail_result=True
        )
        assert outcome == "call(req)"
        assert ops[-1] == "result"


class WorkerIO:
    def __init__(self, fail: BaseException | None = None, stop: bool = False) -> None:
        self.fail = fail
        self.stop = stop
        self.ops: list[str] = []

    def externalize(self, request: Any, scope: str | None) -> None:
        self.ops.append(f"externalize {scope}")
        if self.fail is not None:
            raise self.fail

    def backoff(self, seconds: float) -> bool:
        self.ops.append("backoff")
        return self.stop


class TestSending:
    def test_a_client_call_is_externalized_and_its_error_raised(self) -> None:
        """A client call is not held: the store's error goes to the caller."""
        store = InMemoryPayloadStore()
        request = pb.RaiseEventRequest(instanceId="i", name="e")
        io = WorkerIO()
        assert run(sending(Hooks(), store, "RaiseEvent", request), io) is request
        assert io.ops == ["externalize i"]
        with pytest.raises(RpcFailedError):
            run(sending(Hooks(), store, "RaiseEvent", request), WorkerIO(fail=RpcFailedError("down")))

    def test_a_completion_that_cannot_be_stored_becomes_a_failure(self) -> None:
        """A permanent refusal is not retried: the activity fails, non-retriable."""
        from durabletask_payloads import PayloadStoreRefusedError

        answer = pb.ActivityResponse(instanceId="i", taskId=1, completionToken="7")
        io = WorkerIO(fail=PayloadStoreRefusedError("upload", "the test store", "refused by the test"))
        sent = run(sending(Hooks(), InMemoryPayloadStore(), "CompleteActivityTask", answer), io)
        assert sent is not answer and sent.failureDetails.isNonRetriable
        assert io.ops == ["externalize i"]  # permanent: not retried

    def test_a_stopping_worker_raises_the_outage(self) -> None:
        """A worker stopping during the backoff leaves the item to the backend: the outage is raised."""
        from durabletask_payloads import PayloadStoreUnavailableError

        answer = pb.ActivityResponse(instanceId="i", taskId=1, completionToken="7")
        outage = PayloadStoreUnavailableError("upload", "the test store", "down for the test")
        io = WorkerIO(fail=outage, stop=True)
        with pytest.raises(PayloadStoreUnavailableError) as caught:
            run(sending(Hooks(), InMemoryPayloadStore(), "CompleteActivityTask", answer), io)
        assert caught.value is outage
        assert io.ops == ["externalize i", "backoff"]


def _sidecar(method: str) -> Details:
    return Details("/" + pb.DESCRIPTOR.services_by_name["TaskHubSidecarService"].full_name + "/" + method)
