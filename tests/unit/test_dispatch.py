"""The sync work-item dispatcher: off-stream resolution, order per instance, pings, carry-over."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
)
from durabletask_payloads import _dispatch as dispatch
from durabletask_payloads import _workitems as workitems
from durabletask_payloads._dispatch import WorkItemDispatcher
from durabletask_payloads._hooks import Hooks
from durabletask_payloads._workitems import OutageClock, Sequencer

BIG = '"' + "x" * 2000 + '"'


class BlockingStore(InMemoryPayloadStore):
    """Downloads wait for ``release`` while ``block`` is set; ``entered`` says one began."""

    def __init__(self) -> None:
        super().__init__(LargePayloadStorageOptions(threshold_bytes=1024))
        self.block = True
        self.entered = threading.Event()
        self.release = threading.Event()

    def download(self, token: str) -> bytes:
        if self.block:
            self.entered.set()
            assert self.release.wait(30)
        return super().download(token)


class FakeCall:
    """A server-streaming call fed by the test; ``cancel`` ends it as gRPC would."""

    def __init__(self) -> None:
        self.items: queue.Queue[Any] = queue.Queue()
        self.cancelled = False

    def __iter__(self) -> Iterator[pb.WorkItem]:
        while True:
            item = self.items.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> bool:
        self.cancelled = True
        self.items.put(RuntimeError("cancelled"))
        return True


class Reader:
    """Iterates a stream on a thread of its own and queues what it gets, as durabletask's worker does."""

    def __init__(self, stream: Any) -> None:
        self.items: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._run, args=(stream,), daemon=True).start()

    def _run(self, stream: Any) -> None:
        try:
            for item in stream:
                self.items.put(item)
        except BaseException as exc:
            self.items.put(exc)
        else:
            self.items.put(StopIteration())

    def next(self, *, pings: bool = False) -> pb.WorkItem:
        while True:
            item = self.items.get(timeout=10)
            if isinstance(item, BaseException):
                raise item
            if pings or not item.HasField("healthPing"):
                return item  # type: ignore[no-any-return]


def orchestration(instance_id: str, value: str | None = None, token: str = "t") -> pb.WorkItem:
    request = pb.OrchestratorRequest(instanceId=instance_id)
    event = request.newEvents.add(eventId=-1)
    event.executionStarted.name = "o"
    if value is not None:
        event.executionStarted.input.CopyFrom(wrappers_pb2.StringValue(value=value))
    return pb.WorkItem(orchestratorRequest=request, completionToken=token)


def started_input(item: pb.WorkItem) -> str:
    return item.orchestratorRequest.newEvents[0].executionStarted.input.value


@pytest.fixture
def store() -> Iterator[BlockingStore]:
    store = BlockingStore()
    yield store
    store.release.set()


def test_a_blocked_item_does_not_hold_up_items_of_other_instances(store: BlockingStore) -> None:
    token = store.upload(BIG.encode(), instance_id="a")
    store.cache.clear()  # as a fresh worker: the payload must be downloaded
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=4)
    call = FakeCall()
    reader = Reader(dispatcher.open(call))
    call.items.put(orchestration("a", token))
    assert store.entered.wait(10)
    call.items.put(orchestration("b", '"small"'))
    first = reader.next()
    assert first.orchestratorRequest.instanceId == "b"  # b went on while a's download hung
    store.release.set()
    second = reader.next()
    assert second.orchestratorRequest.instanceId == "a"
    assert started_input(second) == BIG
    dispatcher.close()


def test_items_of_one_instance_keep_their_order(store: BlockingStore) -> None:
    token = store.upload(BIG.encode(), instance_id="a")
    store.cache.clear()
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=4)
    call = FakeCall()
    reader = Reader(dispatcher.open(call))
    call.items.put(orchestration("a", token, token="first"))
    assert store.entered.wait(10)
    call.items.put(orchestration("a", '"small"', token="second"))  # needs nothing, but waits its turn
    call.items.put(orchestration("c", '"small"'))
    assert reader.next().orchestratorRequest.instanceId == "c"
    store.release.set()
    assert [reader.next().completionToken for _ in range(2)] == ["first", "second"]
    dispatcher.close()


def test_items_held_when_a_stream_is_cancelled_go_to_the_next_stream(store: BlockingStore) -> None:
    token = store.upload(BIG.encode(), instance_id="a")
    store.cache.clear()
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=4)
    first_call = FakeCall()
    first = dispatcher.open(first_call)
    first_reader = Reader(first)
    first_call.items.put(orchestration("a", token))
    assert store.entered.wait(10)
    first.cancel()  # what durabletask's worker does after its silent-disconnect timeout
    assert first_call.cancelled
    with pytest.raises(RuntimeError, match="cancelled"):
        first_reader.next()
    second_call = FakeCall()
    second = Reader(dispatcher.open(second_call))
    store.release.set()
    item = second.next()
    assert item.orchestratorRequest.instanceId == "a"
    assert started_input(item) == BIG
    dispatcher.close()


def test_the_worker_gets_health_pings_while_items_are_held(
    store: BlockingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "HEALTH_PING_SECONDS", 0.05)
    token = store.upload(BIG.encode(), instance_id="a")
    store.cache.clear()
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=4)
    call = FakeCall()
    reader = Reader(dispatcher.open(call))
    call.items.put(orchestration("a", token))
    assert store.entered.wait(10)
    assert dispatcher.held == 1
    assert reader.next(pings=True).HasField("healthPing")  # silence while an item is held: a ping
    store.release.set()
    item = reader.next()
    assert item.orchestratorRequest.instanceId == "a"
    assert dispatcher.held == 0
    dispatcher.close()


def test_without_held_items_the_worker_thread_reads_the_call_itself(store: BlockingStore) -> None:
    """No hand-off between threads for payload-free items: the consumer's thread does the reading."""
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=1)
    seen: list[str] = []

    class Recording(FakeCall):
        def __iter__(self) -> Iterator[pb.WorkItem]:
            for item in super().__iter__():
                seen.append(threading.current_thread().name)
                yield item

    call = Recording()
    stream = dispatcher.open(call)
    call.items.put(orchestration("b", '"small"'))
    assert next(stream).orchestratorRequest.instanceId == "b"
    assert seen == [threading.current_thread().name]


class PausingOutlet(queue.Queue[Any]):
    """The stream's outlet, instrumented: counts waits that time out; can hold the reader thread.

    With ``pause_reader`` set, a health ping put by the stream's reader thread is queued and then
    the reader waits until the consumer's thread has begun a new timed wait on an empty outlet.
    That is the narrow interleaving a busy worker hits by chance: the consumer sees the reader
    still reading just as the reader decides to hand the call back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeouts = 0
        self.pause_reader = False
        self._waits = 0
        self._waiting = threading.Condition()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self._waiting:
            waits = self._waits
        super().put(item, block, timeout)
        reader = threading.current_thread().name == "durabletask-payloads-stream"
        if self.pause_reader and reader and isinstance(item, pb.WorkItem) and item.HasField("healthPing"):
            self.pause_reader = False
            with self._waiting:
                assert self._waiting.wait_for(lambda: self._waits > waits, 10)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None and self.empty():
            with self._waiting:
                self._waits += 1
                self._waiting.notify_all()
        try:
            return super().get(block, timeout)
        except queue.Empty:
            if block and timeout is not None:
                self.timeouts += 1
            raise


def test_the_worker_thread_resumes_reading_at_once_when_the_reader_hands_the_call_back(
    store: BlockingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found at load: nobody read the call for the 20 s of the ping timeout, and the worker stalled."""
    monkeypatch.setattr(dispatch, "HEALTH_PING_SECONDS", 3.0)  # bounds the failure, is never awaited
    token = store.upload(BIG.encode(), instance_id="a")
    store.cache.clear()
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=2)
    call = FakeCall()
    stream = dispatcher.open(call)
    outlet = PausingOutlet()
    stream._outlet = outlet
    dispatcher._attach(outlet)
    reader = Reader(stream)
    call.items.put(orchestration("a", token))  # held: a reader thread takes the call over
    assert store.entered.wait(10)
    store.release.set()
    assert reader.next().orchestratorRequest.instanceId == "a"
    assert dispatcher.held == 0
    # The reader thread, still reading, takes a ping and then sees nothing held: it hands back.
    outlet.pause_reader = True
    call.items.put(pb.WorkItem(healthPing=pb.HealthPing()))
    assert reader.next(pings=True).HasField("healthPing")
    call.items.put(orchestration("b", '"small"'))
    assert reader.next().orchestratorRequest.instanceId == "b"
    assert outlet.timeouts == 0  # "b" came because the call was read, not after a timed-out wait
    dispatcher.close()


def test_resolution_threads_are_made_as_items_need_them(store: BlockingStore) -> None:
    """One thread for items resolved one after another; one more only for each item at once."""
    tokens = [store.upload(f'"{n}{BIG}"'.encode(), instance_id=f"i{n}") for n in range(6)]
    store.cache.clear()
    store.block = False
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=8)
    call = FakeCall()
    reader = Reader(dispatcher.open(call))
    for n in range(3):  # one after another: each is handed on before the next arrives
        call.items.put(orchestration(f"i{n}", tokens[n]))
        assert reader.next().orchestratorRequest.instanceId == f"i{n}"
    assert len(dispatcher._threads) == 1
    store.block = True
    for n in range(3, 6):  # three at once, each held in its download
        store.entered.clear()
        call.items.put(orchestration(f"i{n}", tokens[n]))
        assert store.entered.wait(10)
    assert len(dispatcher._threads) == 3
    store.release.set()
    assert sorted(reader.next().orchestratorRequest.instanceId for _ in range(3)) == ["i3", "i4", "i5"]
    dispatcher.close()


def test_the_stream_ends_as_the_call_ends(store: BlockingStore) -> None:
    dispatcher = WorkItemDispatcher(store, Hooks(), workers=1)
    call = FakeCall()
    stream = dispatcher.open(call)
    call.items.put(orchestration("b", '"small"'))
    call.items.put(None)
    assert next(stream).orchestratorRequest.instanceId == "b"
    with pytest.raises(StopIteration):
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)  # and stays ended


class TestSequencer:
    def test_one_key_at_a_time_in_arrival_order(self) -> None:
        sequencer = Sequencer()
        assert sequencer.enter("x", 1)
        assert not sequencer.enter("x", 2)
        assert not sequencer.enter("x", 3)
        assert sequencer.enter("y", 4)
        assert sequencer.leave("x") == 2
        assert sequencer.leave("x") == 3
        assert sequencer.leave("x") is None
        assert sequencer.enter("x", 5)  # free again

    def test_unordered_items_never_wait(self) -> None:
        sequencer = Sequencer()
        assert sequencer.enter(None, 1)
        assert sequencer.enter(None, 2)
        assert sequencer.leave(None) is None


class TestOutageClock:
    def test_permanent_failures_are_not_waited_out(self) -> None:
        clock = OutageClock(300)
        wait, error = clock.decide(PayloadNotFoundError("memory:v1:" + "0" * 32), "download")
        assert wait is None and isinstance(error, PayloadNotFoundError)

    def test_transient_failures_back_off_until_the_budget_is_spent(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = [1000.0]
        monkeypatch.setattr(workitems.time, "monotonic", lambda: now[0])
        clock = OutageClock(60)
        failure = PayloadStoreUnavailableError("download", "memory:v1:x", "connection refused")
        waits = []
        while True:
            wait, error = clock.decide(failure, "download")
            if wait is None:
                break
            waits.append(wait)
            now[0] += wait
        assert all(later >= earlier / 2 for earlier, later in itertools.pairwise(waits))  # grows, with jitter
        assert max(waits) <= 30  # capped
        assert sum(waits) <= 60
        assert isinstance(error, PayloadStoreUnavailableError)
        assert f"over {clock.attempts} attempts" in str(error)
        assert "longer than outage_budget_seconds (60 s)" in str(error)

    def test_unexpected_exceptions_fail_at_once_as_they_are(self) -> None:
        clock = OutageClock(300)
        boom = RuntimeError("boom")
        assert clock.decide(boom, "upload") == (None, boom)


class TestTriage:
    """The one decision the sync dispatcher and the aio interceptor share (_dispatch.triage)."""

    def test_a_token_the_store_cannot_look_up_goes_the_slow_way(self) -> None:
        """Not an error on the stream's reader: its resolution, off the stream, says why."""

        class Confused(InMemoryPayloadStore):
            def is_known_token(self, value: str) -> bool:
                raise RuntimeError("cannot tell")

        store = Confused()
        token = store.token_prefixes[0] + "0" * 32
        item = pb.WorkItem(
            activityRequest=pb.ActivityRequest(name="a", input=wrappers_pb2.StringValue(value=token))
        )
        assert dispatch.triage(item, store) is True

    def test_an_item_without_tokens_needs_nothing(self) -> None:
        item = pb.WorkItem(
            activityRequest=pb.ActivityRequest(name="a", input=wrappers_pb2.StringValue(value="1"))
        )
        assert dispatch.triage(item, InMemoryPayloadStore()) is None
