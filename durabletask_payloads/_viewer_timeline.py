"""An instance's state and history as the viewer's timeline: plain data, no I/O, no aiohttp.

Every field of every event is kept, found from the protobuf descriptor (a field
added by a later durabletask shows up without a change here), and sorted into:

* **values**: fields that carry a payload (see :mod:`._fields`). A value is either
  *inline* (the JSON text as the backend holds it, shown as written) or *stored*
  (a token of the viewer's store, described once in ``payloads`` with every place
  it appears, and fetched only when someone asks to see it);
* **failures**: ``TaskFailureDetails``, with stack trace and inner failures;
* **details**: everything else (names, ids, times, versions), as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ._fields import carries_payload
from ._json_pretty import show

__all__ = ["build_timeline", "failure_details"]

_STRING_VALUE = "google.protobuf.StringValue"
_TIMESTAMP = "google.protobuf.Timestamp"
_FAILURE = pb.TaskFailureDetails.DESCRIPTOR.full_name


def _enum_name(field: FieldDescriptor, number: int) -> str:
    """``ORCHESTRATION_STATUS_FAILED`` -> ``FAILED``: the enum's own name is noise."""
    enum = field.enum_type
    assert enum is not None
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
    return value.name.removeprefix(prefix)


def failure_details(failure: pb.TaskFailureDetails) -> dict[str, Any]:
    """Return *failure* as data: type, message, stack trace, and the inner failure, recursively."""
    return {
        "type": failure.errorType,
        "message": failure.errorMessage,
        "stack_trace": failure.stackTrace.value if failure.HasField("stackTrace") else None,
        "non_retriable": failure.isNonRetriable,
        "properties": {key: json_format.MessageToDict(value) for key, value in failure.properties.items()},
        "inner": failure_details(failure.innerFailure) if failure.HasField("innerFailure") else None,
    }


def _repeated(field: FieldDescriptor) -> bool:
    # Newer protobuf releases have `is_repeated` and dropped `label`; older ones only have `label`.
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:
        repeated = getattr(field, "label") == FieldDescriptor.LABEL_REPEATED  # noqa: B009
    return bool(repeated)


def _present(message: Message, field: FieldDescriptor) -> bool:
    if _repeated(field):
        return len(getattr(message, field.name)) > 0
    if field.message_type is not None:
        return message.HasField(field.name)
    # Scalars without presence: 0 is a real task id, "" is no name.
    return not (field.type == FieldDescriptor.TYPE_STRING and getattr(message, field.name) == "")


def _walk(message: Message, path: str) -> Iterator[tuple[str, str, Any]]:
    """Yield (what, path, value) for every field of *message* that is set, nested ones included."""
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment] # upb: the same type at runtime
    for field in descriptor.fields:
        if not _present(message, field):
            continue
        name = f"{path}.{field.name}" if path else field.name
        value = getattr(message, field.name)
        message_type = field.message_type
        kind = message_type.full_name if message_type is not None else None
        repeated = _repeated(field)
        if message_type is not None and message_type.GetOptions().map_entry:
            entries = {
                key: json_format.MessageToDict(item) if isinstance(item, Message) else item
                for key, item in value.items()
            }
            yield "detail", name, json.dumps(entries)
        elif kind == _STRING_VALUE:
            what = "value" if carries_payload(field) else "detail"
            items = list(enumerate(value)) if repeated else [(None, value)]
            for index, item in items:
                yield what, name if index is None else f"{name}[{index}]", item.value
        elif kind == _TIMESTAMP and not repeated:
            if value.seconds or value.nanos:  # some backends set a zero time on events they do not date
                yield "detail", name, value.ToJsonString()
        elif kind == _FAILURE and not repeated:
            yield "failure", name, failure_details(value)
        elif kind is not None and not repeated:
            yield from _walk(value, name)
        elif kind is not None:
            yield "detail", name, json.dumps([json_format.MessageToDict(item) for item in value])
        elif field.enum_type is not None and not repeated:
            yield "detail", name, _enum_name(field, value)
        elif repeated:
            yield "detail", name, json.dumps(list(value))
        else:
            yield "detail", name, value if isinstance(value, (bool, int)) else str(value)


def _time(event: pb.HistoryEvent) -> str | None:
    stamp = event.timestamp
    return stamp.ToJsonString() if event.HasField("timestamp") and (stamp.seconds or stamp.nanos) else None


class _Builder:
    def __init__(self, is_token: Callable[[str], bool], inline_limit: int) -> None:
        self.is_token = is_token
        self.inline_limit = inline_limit
        self.places: dict[str, list[str]] = {}  # token -> places, in the order first seen

    def section(self, message: Message, place: str) -> dict[str, Any]:
        details: list[list[Any]] = []
        values: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for what, path, value in _walk(message, ""):
            where = f"{place}.{path}"
            if what == "detail":
                details.append([path, value])
            elif what == "failure":
                failures.append({"place": where, "field": path, **value})
            else:
                values.append(self.value(where, path, value))
        return {"details": details, "values": values, "failures": failures}

    def value(self, place: str, field: str, text: str) -> dict[str, Any]:
        if self.is_token(text):
            self.places.setdefault(text, []).append(place)
            return {"place": place, "field": field, "token": text}
        data = text.encode("utf-8")
        shown = show(data, self.inline_limit)
        entry: dict[str, Any] = {
            "place": place,
            "field": field,
            "bytes": len(data),
            "format": shown.format,
            "text": text,
            "complete": shown.complete,
        }
        if shown.text != text:
            entry["shown"] = shown.text
        return entry


def build_timeline(
    state: pb.OrchestrationState,
    events: Sequence[pb.HistoryEvent],
    *,
    is_token: Callable[[str], bool],
    inline_limit: int,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return the timeline of an instance, and the places of each token it refers to.

    Args:
        state: The instance's state, read with its inputs and outputs.
        events: Its history, in order.
        is_token: Whether a payload field's text is a token of the viewer's store.
        inline_limit: Show at most this many UTF-8 bytes of an inline value
            (indented when JSON); its text as written is sent whole.

    Returns:
        The timeline (``state`` and ``events``), and each token with the places
        it appears (``state.input``, ``history[0] executionStarted.input`` ...),
        tokens in the order first seen.

    """
    builder = _Builder(is_token, inline_limit)
    timeline: dict[str, Any] = {"state": builder.section(state, "state"), "events": []}
    for index, event in enumerate(events):
        kind = event.WhichOneof("eventType") or "unknown"
        entry: dict[str, Any] = {
            "index": index,
            "event_id": event.eventId,
            "timestamp": _time(event),
            "kind": kind,
        }
        body = getattr(event, kind) if kind != "unknown" else None
        place = f"history[{index}] {kind}"
        empty: dict[str, Any] = {"details": [], "values": [], "failures": []}
        entry.update(builder.section(body, place) if body is not None else empty)
        timeline["events"].append(entry)
    return timeline, builder.places
