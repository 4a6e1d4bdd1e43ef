"""``show INSTANCE``: an orchestration's state and history, read through the real backend, values resolved."""

from __future__ import annotations

import io
import json
import re
import threading
from typing import Any

import pytest

from durabletask_payloads import (
    FileSystemPayloadStore,
    InMemoryPayloadStore,
    PayloadNotFoundError,
    payload_tokens,
)
from durabletask_payloads._cli import main
from durabletask_payloads._cli_show import resolve

from ..helpers import free_port, orders
from . import workflows as wf
from .conftest import OPTIONS, Site, run

pytestmark = pytest.mark.e2e
EVENT_LINE = re.compile(r"^ {0,4}\d+  ")


def show(site: Site, instance_id: str, *more: str) -> Any:
    return run("show", instance_id, *site.store_args, *site.backend_args, *more)


def show_json(site: Site, instance_id: str, *more: str) -> tuple[int, dict[str, Any], str]:
    result = show(site, instance_id, "--json", *more)
    return result.code, json.loads(result.out), result.err


@pytest.fixture(scope="module")
def audited(site: Site) -> str:
    """An instance with a large input (about 250 KB), large results and output, and a failed activity."""
    state = site.env.run(wf.audited, orders(1500, seed=500))
    assert state.runtime_status.name == "COMPLETED"
    return state.instance_id


class TestText:
    def test_state_then_one_line_per_event_with_the_failed_activity_and_its_stack_trace(
        self, site: Site, audited: str
    ) -> None:
        state = site.env.client.get_orchestration_state(audited)
        assert state is not None and state.serialized_input is not None
        history = site.env.history(audited, resolve=False)
        result = show(site, audited)
        assert (result.code, result.err) == (0, "")
        lines = result.out.splitlines()
        assert lines[0] == f"orchestration  {audited} (audited)"
        assert lines[1] == "status         COMPLETED"
        (input_line,) = [line for line in lines if line.startswith("input ")]
        size = len(state.serialized_input.encode())
        assert size > 200_000
        assert input_line.startswith("input          " + state.serialized_input[:80] + "…")
        assert f"({size:,} bytes, stored as file:v1:" in input_line
        assert 'custom status  {"stage": "refusing"}' in lines
        events = [line for line in lines if EVENT_LINE.match(line)]
        assert len(events) == len(history) and f"history        {len(history)} event(s)" in lines
        kinds = [event.WhichOneof("eventType") for event in history]
        assert [line.split()[2] for line in events] == kinds
        (failed,) = [line for line in events if line.split()[2] == "taskFailed"]
        assert "failureDetails=builtins.ValueError: refused: no stock" in failed
        trace = lines[lines.index(failed) + 1 :]
        trace = trace[: next(i for i, line in enumerate(trace) if EVENT_LINE.match(line))]
        assert trace and all(line.startswith(" " * 9) for line in trace)
        assert any("in refuse" in line for line in trace)
        assert any('raise ValueError(f"refused: {reason}")' in line for line in trace)
        # The same stored value again (the activity's input is the orchestration's): named, not repeated.
        (scheduled,) = [line for line in events if " name=tally " in line]
        assert "input=<same as input: " in scheduled

    def test_full_prints_whole_values(self, site: Site, audited: str) -> None:
        state = site.env.client.get_orchestration_state(audited)
        assert state is not None and state.serialized_output is not None
        result = show(site, audited, "--full")
        assert result.code == 0
        assert f"output         {state.serialized_output} (stored as file:v1:" in result.out

    def test_a_failed_orchestration_shows_its_failure(self, site: Site) -> None:
        state = site.env.run(wf.doomed, orders(10, seed=501))
        assert state.runtime_status.name == "FAILED"
        result = show(site, state.instance_id)
        assert result.code == 0
        lines = result.out.splitlines()
        assert "status         FAILED" in lines
        (failure,) = [line for line in lines if line.startswith("failure ")]
        assert "refused: 10 orders" in failure
        assert any("in refuse" in line for line in lines[lines.index(failure) :])

    def test_control_characters_from_the_data_are_escaped(self, site: Site) -> None:
        """A failure message cannot clear the screen, colour the output or reorder it."""
        state = site.env.run(wf.hostile, "\x1b[2J\x1b[31mwiped\u202edesrever")
        assert state.runtime_status.name == "FAILED"
        result = show(site, state.instance_id)
        assert result.code == 0
        assert not any(c in result.out for c in "\x1b\u202e")
        assert "refused: \\x1b[2J\\x1b[31mwiped\\u202edesrever" in result.out
        events = [line for line in result.out.splitlines() if EVENT_LINE.match(line)]
        assert len(events) == len(site.env.history(state.instance_id, resolve=False))

    def test_progress_is_drawn_on_a_terminal_and_nothing_of_it_goes_to_the_output(
        self, site: Site, audited: str
    ) -> None:
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        out, err = io.StringIO(), Terminal()
        argv = ["show", audited, *site.store_args, *site.backend_args]
        assert main(argv, out=out, err=err) == 0
        assert "history" in err.getvalue() and "resolving" in err.getvalue() and "\r" in err.getvalue()
        assert "resolving" not in out.getvalue()


class TestJson:
    def test_one_object_with_the_state_and_the_events(self, site: Site, audited: str) -> None:
        state = site.env.client.get_orchestration_state(audited)
        assert state is not None
        history = site.env.history(audited, resolve=False)
        code, view, err = show_json(site, audited)
        assert (code, err) == (0, "")
        assert view["instance_id"] == audited and view["status"] == "COMPLETED" and view["name"] == "audited"
        assert view["input"]["value"] == state.serialized_input
        assert view["input"]["size"] == len((state.serialized_input or "").encode())
        assert view["input"]["token"].startswith("file:v1:")
        assert view["output"]["value"] == state.serialized_output
        assert view["custom_status"] == {"value": '{"stage": "refusing"}', "size": 21}  # inline: no token
        assert view["failure"] is None
        store = FileSystemPayloadStore(site.root, OPTIONS)
        tokens = {token for event in history for token in payload_tokens(event, store)}
        assert {view["input"]["token"], view["output"]["token"]} <= tokens
        assert view["payloads"] == {"stored": len(tokens), "resolved": len(tokens), "failed": 0}
        assert [e["type"] for e in view["events"]] == [e.WhichOneof("eventType") for e in history]
        assert [e["index"] for e in view["events"]] == list(range(len(history)))
        (failed,) = [e for e in view["events"] if e["type"] == "taskFailed"]
        details = failed["details"]["failureDetails"]
        assert details["type"] == "builtins.ValueError" and details["message"] == "refused: no stock"
        assert "in refuse" in details["stack_trace"] and details["inner"] is None
        (completed,) = [e for e in view["events"] if e["type"] == "taskCompleted"]
        assert json.loads(completed["details"]["result"]["value"])["count"] == 1500

    def test_raw_keeps_the_tokens_and_reads_nothing(self, site: Site) -> None:
        instance_id = site.env.run(wf.audited, orders(40, seed=502)).instance_id
        store = FileSystemPayloadStore(site.root, OPTIONS)
        code, view, _ = show_json(site, instance_id)
        for token in {view["input"]["token"], view["output"]["token"]}:
            assert store.delete(token)
        code, view, err = show_json(site, instance_id, "--raw")
        assert (code, err) == (0, "")  # nothing was read, so nothing missing was noticed
        assert set(view["input"]) == {"token"} and view["payloads"]["resolved"] == 0
        text = show(site, instance_id, "--raw").out
        assert f"input          <{view['input']['token']}>" in text

    def test_a_missing_payload_is_marked_and_the_rest_is_shown(self, site: Site) -> None:
        instance_id = site.env.run(wf.audited, orders(40, seed=503)).instance_id
        _, view, _ = show_json(site, instance_id)
        gone = view["output"]["token"]
        assert FileSystemPayloadStore(site.root, OPTIONS).delete(gone)
        code, view, err = show_json(site, instance_id)
        assert code == 1
        assert err.count("\n") == 1 and "1 of 3 stored value(s) could not be read" in err
        assert set(view["output"]) == {"token", "error"} and "No stored payload" in view["output"]["error"]
        assert "value" in view["input"]
        result = show(site, instance_id)
        assert result.code == 1 and f"output         <unreadable {gone}: No stored payload" in result.out


class TestFailures:
    def test_an_unknown_instance_names_what_to_check(self, site: Site) -> None:
        result = show(site, "no-such-instance")
        assert (result.code, result.out) == (1, "")
        assert result.err.count("\n") == 1
        assert "no orchestration 'no-such-instance' at" in result.err and "--taskhub" in result.err

    def test_a_backend_that_cannot_be_reached_is_status_4(self, site: Site) -> None:
        address = f"127.0.0.1:{free_port()}"  # nothing listens there
        result = run("show", "x", *site.store_args, "--backend", address)
        assert (result.code, result.out) == (4, "")
        assert result.err == (
            f"durabletask-payloads show: cannot reach the backend at {address} (UNAVAILABLE): is it "
            "running there? Check --backend; add --secure if it uses TLS\n"
        )


class _MeetingStore(InMemoryPayloadStore):
    """Each download waits until *parties* downloads are in flight at once (or fails after 10 s)."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)

    def download(self, token: str) -> bytes:
        self.barrier.wait()
        return super().download(token)


class TestResolve:
    def test_values_are_read_concurrently(self) -> None:
        """A unit test: four downloads must be in flight together, or the barrier breaks."""
        store = _MeetingStore(4)
        tokens = [store.upload(json.dumps([n] * 100).encode()) for n in range(8)]
        outcomes = resolve(store, tokens, 4, lambda stage, done, total: None)
        assert [json.loads(outcomes[t])[0] for t in tokens] == list(range(8))

    def test_each_failure_is_kept_for_its_own_value(self) -> None:
        store = InMemoryPayloadStore()
        kept = store.upload(b'"kept"' * 100)
        lost = store.upload(b'"lost"' * 100)
        store.delete(lost)
        outcomes = resolve(store, [kept, lost], 2, lambda stage, done, total: None)
        assert outcomes[kept] == '"kept"' * 100 and isinstance(outcomes[lost], PayloadNotFoundError)
