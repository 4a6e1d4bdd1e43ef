"""RoutingPayloadStore: writes where the selector says (or inline), reads wherever the token belongs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads import (
    FileSystemPayloadStore,
    InMemoryPayloadStore,
    InvalidPayloadTokenError,
    LargePayloadStorageOptions,
    PayloadNotFoundError,
    PayloadStoreUnavailableError,
    RoutingPayloadStore,
    by_size,
    deexternalize_payloads,
    externalize_payloads,
)

OPTIONS = LargePayloadStorageOptions(threshold_bytes=100)


def _message(*values: str) -> pb.OrchestratorResponse:
    message = pb.OrchestratorResponse(instanceId="i")
    for value in values:
        message.actions.add().scheduleTask.input.value = value
    return message


class TestWrites:
    def test_by_size_sends_small_and_large_payloads_to_their_stores(self, tmp_path: Path) -> None:
        hot, cold = InMemoryPayloadStore(OPTIONS), FileSystemPayloadStore(tmp_path, OPTIONS)
        store = RoutingPayloadStore([hot, cold], by_size(hot, cold, boundary=1000), options=OPTIONS)
        message = _message("s" * 200, "L" * 5000)
        assert externalize_payloads(message, store, instance_id="i") == 2
        small, large = (a.scheduleTask.input.value for a in message.actions)
        assert small.startswith("memory:v1:") and large.startswith("file:v1:")
        assert (len(hot), len(list(cold.list_payloads()))) == (1, 1)
        assert deexternalize_payloads(message, store) == 2
        assert [a.scheduleTask.input.value for a in message.actions] == ["s" * 200, "L" * 5000]

    def test_a_selector_returning_none_keeps_the_value_inline(self) -> None:
        large = InMemoryPayloadStore(OPTIONS)
        store = RoutingPayloadStore([large], by_size(None, large, boundary=1000), options=OPTIONS)
        message = _message("kept inline " * 20, "x" * 2000)
        assert externalize_payloads(message, store) == 1
        assert message.actions[0].scheduleTask.input.value == "kept inline " * 20
        assert large.uploads == 1

    def test_called_directly_an_inline_choice_goes_to_the_first_store(self) -> None:
        """durabletask's built-in support calls upload() without asking accepts()."""
        first, second = InMemoryPayloadStore(OPTIONS), InMemoryPayloadStore(OPTIONS)
        store = RoutingPayloadStore([first, second], lambda data, instance: None, options=OPTIONS)
        store.upload(b"y" * 500)
        assert (len(first), len(second)) == (1, 0)

    def test_a_selector_must_pick_one_of_the_stores(self) -> None:
        stranger = InMemoryPayloadStore(OPTIONS)
        store = RoutingPayloadStore([InMemoryPayloadStore(OPTIONS)], lambda data, instance: stranger)
        with pytest.raises(ValueError, match="not one of the RoutingPayloadStore's stores"):
            store.upload(b"z" * 500)

    def test_at_least_one_store(self) -> None:
        with pytest.raises(ValueError, match="at least one store"):
            RoutingPayloadStore([])


class TestReads:
    def test_payloads_written_before_a_configuration_change_stay_readable(self, tmp_path: Path) -> None:
        old = FileSystemPayloadStore(tmp_path / "old", OPTIONS)
        token = RoutingPayloadStore([old]).upload(b"written last month")
        new = InMemoryPayloadStore(OPTIONS)
        changed = RoutingPayloadStore([new, old], by_size(new, new, boundary=10), options=OPTIONS)
        assert changed.download(token) == b"written last month"
        assert changed.inspect(token).size == len(b"written last month")

    def test_two_stores_of_one_kind_are_both_searched(self, tmp_path: Path) -> None:
        first, second = FileSystemPayloadStore(tmp_path / "a"), FileSystemPayloadStore(tmp_path / "b")
        token = second.upload(b"in the second one")
        assert RoutingPayloadStore([first, second]).download(token) == b"in the second one"

    def test_an_unknown_token_is_refused(self) -> None:
        with pytest.raises(InvalidPayloadTokenError, match="none of this RoutingPayloadStore's stores"):
            RoutingPayloadStore([InMemoryPayloadStore()]).download("file:v1:" + "0" * 32)

    def test_missing_everywhere_is_not_found(self, tmp_path: Path) -> None:
        store = RoutingPayloadStore(
            [FileSystemPayloadStore(tmp_path / "a"), FileSystemPayloadStore(tmp_path / "b")]
        )
        with pytest.raises(PayloadNotFoundError):
            store.download("file:v1:" + "0" * 32)

    def test_a_failing_store_is_reported_rather_than_not_found(self, tmp_path: Path) -> None:
        class Down(FileSystemPayloadStore):
            def download(self, token: str) -> bytes:
                raise PayloadStoreUnavailableError("download", token, "disk offline")

        store = RoutingPayloadStore([FileSystemPayloadStore(tmp_path / "a"), Down(tmp_path / "b")])
        with pytest.raises(PayloadStoreUnavailableError, match="disk offline"):
            store.download("file:v1:" + "0" * 32)

    def test_delete_and_list_cover_every_store(self, tmp_path: Path) -> None:
        first, second = InMemoryPayloadStore(OPTIONS), FileSystemPayloadStore(tmp_path, OPTIONS)
        store = RoutingPayloadStore([first, second], by_size(first, second, boundary=1000), options=OPTIONS)
        tokens: Sequence[str] = store.upload_many([b"a" * 200, b"b" * 2000], instance_id="i")
        assert {info.token for info in store.list_payloads()} == set(tokens)
        assert all(store.delete(t) for t in tokens)
        assert list(store.list_payloads()) == []

    def test_the_prefixes_and_tokens_of_every_store_are_known(self, tmp_path: Path) -> None:
        store = RoutingPayloadStore([InMemoryPayloadStore(), FileSystemPayloadStore(tmp_path)])
        assert set(store.token_prefixes) == {"memory:v1:", "file:v1:"}
        assert store.is_known_token("file:v1:" + "a" * 32)
        assert store.is_known_token("memory:v1:" + "a" * 32)
        assert not store.is_known_token("blob:v1:c:" + "a" * 32)
