"""An orchestration's state and history as plain data, with stored values resolved; no I/O here.

Every field of every event is kept, under its protobuf name. What differs from
protobuf's own JSON mapping is what an operator needs: a field that carries a
payload becomes a :class:`Value` (the text, and the token when it was stored),
failure details become a :class:`Failure` (stack trace included), timestamps
are ISO 8601, enums are names, and 64-bit integers stay numbers.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import json_format, timestamp_pb2, wrappers_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ._externalize import payload_tokens
from ._fields import carries_payload
from ._store import PayloadStore
from ._token import MAX_TOKEN_LENGTH
from ._walker import _is_repeated

__all__ = ["Failure", "Value", "instance_view", "plain", "stored_tokens", "to_json"]

_STRING_VALUE = wrappers_pb2.StringValue.DESCRIPTOR.full_name
_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name
_FAILURE = pb.TaskFailureDetails.DESCRIPTOR.full_name
_STRUCT_TYPES = {"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"}
_STATUS_NAMES = {
    value: name.removeprefix("ORCHESTRATION_STATUS_") for name, value in pb.OrchestrationStatus.items()
}

#: What a resolution gave for a token: the text, or the one-line reason it could not be read.
Outcome = str | Exception


@dataclass(frozen=True)
class Value:
    """A value of a payload field.

    Attributes:
        text: The value, when it is known (inline, or stored and read).
        token: The token it was stored under, when it was stored.
        error: Why a stored value could not be read.

    """

    text: str | None
    token: str | None = None
    error: str | None = None

    @property
    def size(self) -> int | None:
        """The value's size in bytes (UTF-8), when it is known."""
        return None if self.text is None else len(self.text.encode("utf-8", "surrogatepass"))

    def to_json(self) -> dict[str, Any]:
        """Return ``value`` and ``size`` when known, ``token`` when stored, ``error`` when unreadable."""
        out: dict[str, Any] = {}
        if self.text is not None:
            out["value"] = self.text
            out["size"] = self.size
        if self.token is not None:
            out["token"] = self.token
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Failure:
    """Failure details: the error's type and message, its stack trace, and the failure inside it."""

    type: str
    message: str
    stack_trace: str | None
    non_retriable: bool
    inner: Failure | None
    properties: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the failure with snake_case keys; ``inner`` is null or another failure."""
        return {
            "type": self.type,
            "message": self.message,
            "stack_trace": self.stack_trace,
            "non_retriable": self.non_retriable,
            "inner": self.inner.to_json() if self.inner else None,
            "properties": self.properties,
        }


def to_json(data: Any) -> Any:
    """``json.dumps(..., default=to_json)``: values and failures as their JSON objects."""
    if isinstance(data, (Value, Failure)):
        return data.to_json()
    raise TypeError(f"{type(data).__name__} is not JSON serializable")


def _is_token(text: str, store: PayloadStore) -> bool:
    return len(text) <= MAX_TOKEN_LENGTH + 4 and store.is_known_token(text)


def stored_tokens(messages: Iterable[Message], store: PayloadStore) -> list[str]:
    """Return the distinct tokens of *store* in the payload fields of *messages*, in order."""
    found: dict[str, None] = {}
    for message in messages:
        found.update(dict.fromkeys(payload_tokens(message, store)))
    return list(found)


Lookup = Callable[[str], Value]


def _lookup(store: PayloadStore, resolved: Mapping[str, Outcome] | None) -> Lookup:
    """Return how a payload field's text becomes a :class:`Value`; *resolved* None keeps tokens."""

    def value(text: str) -> Value:
        if not _is_token(text, store):
            return Value(text)
        outcome = None if resolved is None else resolved.get(text)
        if outcome is None:
            return Value(None, token=text)
        if isinstance(outcome, Exception):
            return Value(None, token=text, error=" ".join(str(outcome).split()))
        return Value(outcome, token=text)

    return value


def _timestamp(value: timestamp_pb2.Timestamp) -> str | None:
    if not value.seconds and not value.nanos:
        return None  # the epoch: a backend that does not record the time (the in-memory one, for some events)
    return value.ToDatetime(tzinfo=timezone.utc).isoformat()


def _failure(details: pb.TaskFailureDetails, lookup: Lookup) -> Failure:
    return Failure(
        type=details.errorType,
        message=details.errorMessage,
        stack_trace=details.stackTrace.value if details.HasField("stackTrace") else None,
        non_retriable=details.isNonRetriable,
        inner=_failure(details.innerFailure, lookup) if details.HasField("innerFailure") else None,
        properties={key: json_format.MessageToDict(item) for key, item in details.properties.items()},
    )


def _single(field: FieldDescriptor, value: Any, lookup: Lookup) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        member = field.enum_type.values_by_number.get(value) if field.enum_type else None
        return member.name if member is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field.message_type is None:
        return value
    name = field.message_type.full_name
    if name == _STRING_VALUE:
        return lookup(value.value) if carries_payload(field) else value.value
    if name == _TIMESTAMP:
        return _timestamp(value)
    if name == _FAILURE:
        return _failure(value, lookup)
    if name in _STRUCT_TYPES:
        return json_format.MessageToDict(value)
    if name.startswith("google.protobuf.") and name.endswith("Value"):  # the other wrappers
        return value.value
    return plain(value, lookup)


def plain(message: Message, lookup: Lookup) -> dict[str, Any]:
    """Return the fields of *message* that are set, by protobuf name, as plain data."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            out[field.name] = {key: _single(entry, item, lookup) for key, item in value.items()}
        elif _is_repeated(field):
            out[field.name] = [_single(field, item, lookup) for item in value]
        else:
            out[field.name] = _single(field, value, lookup)
    return out


def _event(index: int, event: pb.HistoryEvent, lookup: Lookup) -> dict[str, Any]:
    kind = event.WhichOneof("eventType")
    return {
        "index": index,
        "event_id": event.eventId,
        "type": kind or "unknown",
        "timestamp": _timestamp(event.timestamp) if event.HasField("timestamp") else None,
        "details": plain(getattr(event, kind), lookup) if kind else {},
    }


def instance_view(
    state: pb.OrchestrationState,
    events: list[pb.HistoryEvent],
    store: PayloadStore,
    resolved: Mapping[str, Outcome] | None,
) -> dict[str, Any]:
    """Return an orchestration's state and history (see docs/cli.md, ``show --json``).

    Args:
        state: The state, as ``GetInstance`` answers with inputs and outputs.
        events: Its history, as ``StreamInstanceHistory`` streams it.
        store: The store whose tokens count.
        resolved: What each token gave; None to keep the tokens (``--raw``).

    """
    lookup = _lookup(store, resolved)

    fields: dict[str, Any] = {field.name: field for field in pb.OrchestrationState.DESCRIPTOR.fields}

    def field(name: str) -> Any:
        if not state.HasField(name):
            return None
        return _single(fields[name], getattr(state, name), lookup)

    tokens = stored_tokens([state, *events], store)
    failed = sum(isinstance(resolved.get(t), Exception) for t in tokens) if resolved is not None else 0
    return {
        "instance_id": state.instanceId,
        "name": state.name,
        "version": field("version"),
        "status": _STATUS_NAMES.get(state.orchestrationStatus, str(state.orchestrationStatus)),
        "execution_id": field("executionId"),
        "parent_instance_id": field("parentInstanceId"),
        "created": field("createdTimestamp"),
        "last_updated": field("lastUpdatedTimestamp"),
        "completed": field("completedTimestamp"),
        "scheduled_start": field("scheduledStartTimestamp"),
        "input": field("input"),
        "output": field("output"),
        "custom_status": field("customStatus"),
        "failure": field("failureDetails"),
        "tags": dict(state.tags),
        "payloads": {
            "stored": len(tokens),
            "resolved": 0 if resolved is None else len(tokens) - failed,
            "failed": failed,
        },
        "events": [_event(index, event, lookup) for index, event in enumerate(events)],
    }
