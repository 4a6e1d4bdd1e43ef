"""Generate messages with a large value in every reachable StringValue, from descriptors only.

This deliberately does not use the package's walker: it is the independent
reference the walker and the interceptors are checked against. Which fields carry
payloads is the package's field table (``_fields``), itself checked in
tests/unit/test_fields.py.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from durabletask_payloads._fields import carries_payload

STRING_VALUE = "google.protobuf.StringValue"
MAX_DEPTH = 5


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _repeated(field: FieldDescriptor) -> bool:
    return bool(getattr(field, "is_repeated", False))


def oneof_width(descriptor: Descriptor, seen: set[str] | None = None) -> int:
    """The largest number of members of any oneof reachable from *descriptor*."""
    seen = set() if seen is None else seen
    if descriptor.full_name in seen:
        return 1
    seen.add(descriptor.full_name)
    width = max([len(o.fields) for o in descriptor.oneofs] + [1])
    for field in descriptor.fields:
        if field.message_type is not None:
            width = max(width, oneof_width(field.message_type, seen))
    return width


class Filler:
    """Sets every StringValue reachable from a message to a distinct value of *size* bytes."""

    def __init__(self, size: int, variant: int) -> None:
        self.size = size
        self.variant = variant
        self.count = 0

    def _text(self, path: str) -> str:
        self.count += 1
        head = f"{self.count}|{path}|"
        return head + "é" * max(0, (self.size - len(head.encode())) // 2 + 1)

    def fill(self, message: Message, path: str = "", depth: int = 0) -> Message:
        descriptor = message.DESCRIPTOR
        chosen = {o.name: o.fields[self.variant % len(o.fields)].name for o in descriptor.oneofs if o.fields}
        for field in descriptor.fields:
            if field.containing_oneof is not None and chosen.get(field.containing_oneof.name) != field.name:
                continue
            if field.message_type is None:
                continue
            here = f"{path}.{field.name}"
            if _is_map(field):
                self._fill_map(message, field, here, depth)
            elif field.message_type.full_name == STRING_VALUE:
                if _repeated(field):
                    container = getattr(message, field.name)
                    container.add(value=self._text(here + "[0]"))
                    container.add(value=self._text(here + "[1]"))
                else:
                    getattr(message, field.name).value = self._text(here)
            elif depth < MAX_DEPTH:
                if _repeated(field):
                    self.fill(getattr(message, field.name).add(), here + "[0]", depth + 1)
                else:
                    child = getattr(message, field.name)
                    self.fill(child, here, depth + 1)
                    if not child.ListFields():
                        message.ClearField(field.name)
        return message

    def _fill_map(self, message: Message, field: FieldDescriptor, path: str, depth: int) -> None:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        key: Any = "k" if key_field.type == FieldDescriptor.TYPE_STRING else 1
        container = getattr(message, field.name)
        if value_field.message_type is None:
            return
        if value_field.message_type.full_name == STRING_VALUE:
            container[key].value = self._text(f"{path}[{key}]")
        elif depth < MAX_DEPTH:
            self.fill(container[key], f"{path}[{key}]", depth + 1)


def string_values(message: Message, payloads: bool | None = None) -> list[Any]:
    """Every set StringValue in *message*, found by a plain recursive ListFields walk.

    With *payloads* True, only those of fields that carry payloads (the package's field table);
    with False, only those holding a caller's text (versions, reasons, ids...).
    """
    found: list[Any] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if _is_map(field):
            items = list(value.values())
        elif _repeated(field):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if not isinstance(item, Message):
                continue
            if item.DESCRIPTOR.full_name == STRING_VALUE:
                if payloads is None or carries_payload(field) == payloads:
                    found.append(item)
            else:
                found.extend(string_values(item, payloads))
    return found
