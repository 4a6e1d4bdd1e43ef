"""GET /instances/{id}: every history event in order, values inline or stored (each token described
once, with its places), failure details with stack traces; over real HTTP against a real backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads._viewer import create_app

from .conftest import Ledger
from .server import call, quote, serve
from .workflows import BIG, MARKUP

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def timeline(ledger: Ledger) -> Iterator[dict[str, Any]]:
    for url in serve(create_app(ledger.store, backend=ledger.address)):
        answer = call(url, "GET", f"/instances/{quote(ledger.instance_id)}")
        assert answer.status == 200, answer.body
        yield json.loads(answer.body)


def _values(timeline: dict[str, Any]) -> list[dict[str, Any]]:
    return timeline["state"]["values"] + [v for e in timeline["events"] for v in e["values"]]


class TestEvents:
    def test_every_history_event_in_order(self, ledger: Ledger, timeline: dict[str, Any]) -> None:
        kinds = [event.WhichOneof("eventType") for event in ledger.events]
        assert [e["kind"] for e in timeline["events"]] == kinds
        assert [e["index"] for e in timeline["events"]] == list(range(len(kinds)))
        assert [e["event_id"] for e in timeline["events"]] == [event.eventId for event in ledger.events]
        assert {
            "executionStarted",
            "taskScheduled",
            "taskCompleted",
            "taskFailed",
            "executionCompleted",
        } <= set(kinds)

    def test_the_instance_summary(self, ledger: Ledger, timeline: dict[str, Any]) -> None:
        assert (timeline["instance_id"], timeline["name"], timeline["runtime_status"]) == (
            ledger.instance_id,
            "ledger",
            "FAILED",
        )
        details = dict(timeline["state"]["details"])
        assert details["orchestrationStatus"] == "FAILED"
        assert details["createdTimestamp"].endswith("Z")

    def test_event_details_name_what_happened(self, timeline: dict[str, Any]) -> None:
        scheduled = [dict(e["details"])["name"] for e in timeline["events"] if e["kind"] == "taskScheduled"]
        assert scheduled == ["enrich", "label", "reconcile"]
        failed = next(e for e in timeline["events"] if e["kind"] == "taskFailed")
        scheduled_ids = [e["event_id"] for e in timeline["events"] if e["kind"] == "taskScheduled"]
        assert dict(failed["details"])["taskScheduledId"] == scheduled_ids[2]


class TestValues:
    def test_small_values_are_inline_and_as_written(self, ledger: Ledger, timeline: dict[str, Any]) -> None:
        label_input = json.dumps(MARKUP.replace("window.__pwned=1", "window.__pwned=2"))
        inline = [v for v in _values(timeline) if "token" not in v]
        (scheduled,) = [v for v in inline if v["text"] == label_input]
        assert scheduled["place"].endswith("taskScheduled.input")
        assert (scheduled["bytes"], scheduled["format"], scheduled["complete"]) == (
            len(label_input.encode()),
            "json",
            True,
        )
        # What the backend holds, byte for byte.
        raw = {
            f"history[{i}] {e.WhichOneof('eventType')}.{f.name}": v.value
            for i, e in enumerate(ledger.events)
            for f, v in getattr(e, e.WhichOneof("eventType")).ListFields()
            if f.message_type is not None and f.message_type.full_name == "google.protobuf.StringValue"
        }
        for value in inline:
            assert raw[value["place"]] == value["text"]

    def test_stored_values_are_tokens_described_once_with_their_places(
        self, ledger: Ledger, timeline: dict[str, Any]
    ) -> None:
        payloads = timeline["payloads"]
        assert [p["token"] for p in payloads] == ledger.tokens()  # each once, in order
        by_token = {p["token"]: p for p in payloads}
        stored = [v for v in _values(timeline) if "token" in v]
        for token, entry in by_token.items():
            assert entry["places"] == [v["place"] for v in stored if v["token"] == token]
            assert entry["size"] == len(ledger.store.download(token))  # bytes, as the payload view says
        first = by_token[ledger.state.input.value]
        assert first["places"] == ["state.input", "history[1] executionStarted.input"]

    def test_nothing_is_downloaded_to_build_it(self, ledger: Ledger) -> None:
        for url in serve(create_app(ledger.env.store, backend=ledger.address)):
            before = ledger.env.store.snapshot()[1]
            assert call(url, "GET", f"/instances/{quote(ledger.instance_id)}").status == 200
            assert ledger.env.store.snapshot()[1] == before


class TestFailures:
    def test_the_activity_failure_has_its_stack_trace(self, timeline: dict[str, Any]) -> None:
        failed = next(e for e in timeline["events"] if e["kind"] == "taskFailed")
        (failure,) = failed["failures"]
        assert failure["type"] == "builtins.ValueError"
        assert failure["message"] == f"ledger out of balance by {BIG} cents"
        assert "in reconcile" in failure["stack_trace"] and "raise ValueError" in failure["stack_trace"]

    def test_the_orchestration_failure_keeps_its_cause(self, timeline: dict[str, Any]) -> None:
        for failures in (
            timeline["state"]["failures"],
            next(e for e in timeline["events"] if e["kind"] == "executionCompleted")["failures"],
        ):
            (failure,) = failures
            assert "TaskFailedError" in failure["type"]
            assert "in ledger" in failure["stack_trace"]
            assert failure["inner"]["type"] == "builtins.ValueError"
            assert "in reconcile" in failure["inner"]["stack_trace"]


class TestErrors:
    def test_an_unknown_instance_is_404(self, ledger: Ledger) -> None:
        for url in serve(create_app(ledger.store, backend=ledger.address)):
            answer = call(url, "GET", "/instances/no-such-instance")
            assert answer.status == 404 and "no-such-instance" in answer.error()

    def test_an_unreachable_backend_names_the_fix(self, ledger: Ledger) -> None:
        from ..helpers import free_port

        address = f"localhost:{free_port()}"
        for url in serve(create_app(ledger.store, backend=address)):
            answer = call(url, "GET", f"/instances/{quote(ledger.instance_id)}")
            assert answer.status == 502
            assert address in answer.error() and "UNAVAILABLE" in answer.error()
            assert "--secure" in answer.error()

    def test_a_deleted_payload_is_reported_in_place_without_a_path(
        self, ledger: Ledger, tmp_path: Any
    ) -> None:
        """Copy the store, delete one payload from the copy: the timeline still loads."""
        import shutil

        from durabletask_payloads import FileSystemPayloadStore

        copy_root = tmp_path / "copy"
        shutil.copytree(ledger.root, copy_root)
        store = FileSystemPayloadStore(copy_root)
        gone = ledger.tokens()[0]
        store.delete(gone)
        for url in serve(create_app(store, backend=ledger.address)):
            answer = call(url, "GET", f"/instances/{quote(ledger.instance_id)}")
            assert answer.status == 200
            entry = next(p for p in json.loads(answer.body)["payloads"] if p["token"] == gone)
            assert "No stored payload" in entry["error"]
            assert str(copy_root).encode() not in answer.body
            preview = call(url, "GET", f"/previews/{quote(gone)}")
            assert preview.status == 404 and str(copy_root).encode() not in preview.body


def test_every_string_field_of_every_event_kind_is_shown() -> None:
    """From the descriptor: payload fields as values, the others (versions, reasons, ids) as details."""
    from durabletask_payloads._fields import carries_payload
    from durabletask_payloads._viewer_timeline import build_timeline

    events, expected_values, expected_details = [], [], []
    for index, oneof in enumerate(pb.HistoryEvent.DESCRIPTOR.oneofs_by_name["eventType"].fields):
        event = pb.HistoryEvent(eventId=index)
        body = getattr(event, oneof.name)
        body.SetInParent()
        for field in body.DESCRIPTOR.fields:
            if (
                field.message_type is not None
                and field.message_type.full_name == "google.protobuf.StringValue"
            ):
                if field.is_repeated:
                    continue
                getattr(body, field.name).value = f"{oneof.name}.{field.name}"
                place = f"history[{index}] {oneof.name}.{field.name}"
                (expected_values if carries_payload(field) else expected_details).append(place)
        events.append(event)
    timeline, _ = build_timeline(pb.OrchestrationState(), events, is_token=lambda _: False, inline_limit=100)
    assert len(timeline["events"]) == len(events)
    values = [v["place"] for e in timeline["events"] for v in e["values"]]
    details = [
        f"history[{e['index']}] {e['kind']}.{name}" for e in timeline["events"] for name, _ in e["details"]
    ]
    assert values == expected_values
    assert set(expected_details) <= set(details)
    assert all(v["text"] == v["place"].split(" ", 1)[1] for e in timeline["events"] for v in e["values"])
