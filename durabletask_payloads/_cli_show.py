"""``durabletask-payloads show INSTANCE``: an orchestration's state and history, payloads resolved.

The state and the history are read through the backend without the payload
interceptor (so tokens arrive as the backend holds them), then each distinct
token is read from the store, ``--concurrency`` at a time, each failure kept
for its own value: one missing payload does not hide the rest of the history.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import Any, TextIO

from durabletask.internal import orchestrator_service_pb2 as pb

from ._cli_backend import open_backend
from ._cli_errors import EXIT_FAILED, EXIT_OK, CliError
from ._exceptions import PayloadError, describe_token
from ._gc_output import ProgressBars
from ._history_view import Failure, Outcome, Value, instance_view, stored_tokens, to_json
from ._hooks import RAW_CALL
from ._store import PayloadStore

__all__ = ["resolve", "show"]

PREVIEW_CHARS = 80
# Control characters (C0, C1) and bidirectional overrides: escaped, so that data can neither break an
# event's line nor drive the terminal (colours, cursor moves) nor reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Trace context is for tracing tools; in text it is noise (--json keeps it).
_HIDDEN = {"parentTraceContext", "orchestrationSpanID"}
Progress = Callable[[str, int, "int | None"], None]


def _read(backend: Any, instance_id: str, progress: Progress) -> tuple[pb.OrchestrationState, list[Any]]:
    metadata = (*backend.metadata, RAW_CALL)
    answer = backend.stub.GetInstance(
        pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True), metadata=metadata
    )
    if not answer.exists:
        raise CliError(
            f"no orchestration {describe_token(instance_id)} at {backend.address} "
            f"(task hub: {backend.task_hub or 'none named'}): check the instance id, --backend and --taskhub"
        )
    events: list[Any] = []
    stream = backend.stub.StreamInstanceHistory(
        pb.StreamInstanceHistoryRequest(instanceId=instance_id), metadata=metadata
    )
    for chunk in stream:
        events.extend(chunk.events)
        progress("history", len(events), None)
    progress("history", len(events), len(events))
    return answer.orchestrationState, events


def resolve(
    store: PayloadStore, tokens: Sequence[str], concurrency: int, progress: Progress
) -> dict[str, Outcome]:
    """Read each token, *concurrency* at a time; return its text, or the error that stopped it."""

    def read(token: str) -> Outcome:
        try:
            data = store.download(token)
        except PayloadError as exc:
            return exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return PayloadError(
                f"the payload of {describe_token(token)} is not UTF-8 text: "
                f"durabletask-payloads get {token} -o FILE saves its bytes"
            )

    outcomes: dict[str, Outcome] = {}
    if not tokens:
        return outcomes
    progress("resolving", 0, len(tokens))
    with ThreadPoolExecutor(concurrency, thread_name_prefix="durabletask-payloads-show") as pool:
        futures = {pool.submit(read, token): token for token in tokens}
        for future in as_completed(futures):
            outcomes[futures[future]] = future.result()
            progress("resolving", len(outcomes), len(tokens))
    return outcomes


def show(args: argparse.Namespace, store: PayloadStore, out: TextIO, err: TextIO) -> int:
    """Run ``show``; return the exit status."""
    bars = ProgressBars(err, leave=False)
    try:
        with open_backend(args) as backend:
            state, events = _read(backend, args.instance, bars.update)
        tokens = stored_tokens([state, *events], store)
        resolved = None if args.raw else resolve(store, tokens, args.concurrency, bars.update)
    finally:
        bars.close()
    view = instance_view(state, events, store, resolved)
    if args.json:
        out.write(json.dumps(view, default=to_json, ensure_ascii=False) + "\n")
    else:
        out.writelines(line + "\n" for line in _text(view, full=args.full))
    failed = view["payloads"]["failed"]
    if failed:
        where = 'their "error"' if args.json else "the values marked unreadable"
        err.write(
            f"durabletask-payloads show: {failed} of {len(tokens)} stored value(s) could not be read "
            f"(see {where})\n"
        )
        return EXIT_FAILED
    return EXIT_OK


def _clean(text: str) -> str:
    r"""Return *text* with control characters written as escapes (``\n``, ``\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _time(iso: str | None) -> str:
    if iso is None:
        return "-"
    moment = datetime.fromisoformat(iso)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Text:
    """Renders values: whole or previewed, and a stored value seen before only by reference."""

    def __init__(self, full: bool) -> None:
        self.full = full
        self.seen: dict[str, str] = {}

    def value(self, value: Value, where: str) -> str:
        if value.token is not None and value.text is not None and not self.full:
            first = self.seen.setdefault(value.token, where)
            if first != where:
                return f"<same as {first}: {value.size:,} bytes, stored as {value.token}>"
        return _preview(value, self.full)


def _preview(value: Value, full: bool) -> str:
    if value.text is None:
        if value.error is not None:
            return f"<unreadable {value.token}: {value.error}>"
        return f"<{value.token}>"  # --raw
    text = value.text if full else value.text[:PREVIEW_CHARS]
    shown = _clean(text)
    notes = []
    if len(text) < len(value.text):
        notes.append(f"{value.size:,} bytes")
    if value.token is not None:
        notes.append(f"stored as {value.token}")
    return shown + ("…" if len(text) < len(value.text) else "") + (f" ({', '.join(notes)})" if notes else "")


def _failure_text(failure: Failure) -> str:
    return _clean(f"{failure.type}: {' '.join(failure.message.split())}")


def _failure_lines(failure: Failure, indent: str) -> Iterator[str]:
    yield _failure_text(failure)
    for line in (failure.stack_trace or "").rstrip().splitlines():
        yield indent + _clean(line)
    if failure.inner is not None:
        lines = _failure_lines(failure.inner, indent)
        yield indent + "caused by " + next(lines)
        yield from lines


def _fields(
    details: dict[str, Any], render: _Text, where: str, prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    for key, item in details.items():
        if key in _HIDDEN:
            continue
        if isinstance(item, dict) and item:
            if key == "tags":
                yield prefix + key, json.dumps(item, ensure_ascii=False)
            else:
                yield from _fields(item, render, where, f"{prefix}{key}.")
        elif isinstance(item, Value):
            yield prefix + key, render.value(item, where)
        elif isinstance(item, list):
            yield prefix + key, json.dumps(item, default=to_json, ensure_ascii=False)
        else:
            yield prefix + key, _clean(item) if isinstance(item, str) else item


def _event_lines(event: dict[str, Any], render: _Text) -> Iterator[str]:
    head = f"{event['index']:>5}  {_time(event['timestamp']):<24}  {event['type']}"
    parts = [f"id={event['event_id']}"] if event["event_id"] >= 0 else []
    failures: list[Failure] = []
    for key, item in _fields(event["details"], render, f"event {event['index']}"):
        if isinstance(item, Failure):
            failures.append(item)
            parts.append(f"{key}={_failure_text(item)}")
        else:
            parts.append(f"{key}={item}")
    yield head + ("  " + " ".join(parts) if parts else "")
    indent = " " * 9
    for failure in failures:
        lines = _failure_lines(failure, indent)
        next(lines)  # already on the event's line
        yield from lines


def _text(view: dict[str, Any], *, full: bool) -> Iterator[str]:
    render = _Text(full)

    def row(label: str, text: str) -> str:
        return f"{label:<15}{text}"

    yield row("orchestration", _clean(f"{view['instance_id']} ({view['name']})"))
    yield row("status", view["status"])
    for label, key in (("created", "created"), ("last updated", "last_updated"), ("completed", "completed")):
        if view[key] is not None:
            yield row(label, _time(view[key]))
    if view["parent_instance_id"]:
        yield row("parent", _clean(view["parent_instance_id"]))
    for label, key in (("input", "input"), ("output", "output"), ("custom status", "custom_status")):
        value = view[key]
        yield row(label, "-" if value is None else render.value(value, label))
    if view["failure"] is not None:
        lines = _failure_lines(view["failure"], " " * 17)
        yield row("failure", next(lines))
        yield from lines
    payloads = view["payloads"]
    yield row(
        "stored values",
        f"{payloads['stored']} ({payloads['resolved']} read, {payloads['failed']} unreadable)",
    )
    yield row("history", f"{len(view['events'])} event(s)")
    for event in view["events"]:
        yield from _event_lines(event, render)
