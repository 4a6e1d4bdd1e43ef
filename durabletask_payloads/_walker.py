"""Find the ``google.protobuf.StringValue`` fields of a message that carry payloads; no I/O here.

For each message type the walker works out once, from the descriptor, which
fields can lead to a payload-carrying ``StringValue`` at all (directly, in
repeated fields, in map values, through oneofs, nested to any depth, recursive
types included) and caches that plan. Which ``StringValue`` fields carry
payloads is decided by :mod:`._fields`; the others (versions, ids, reasons...)
are plain text to the walker, like a ``string`` field. A walk then visits only
the fields that are set and that can matter, and returns the ``StringValue``
objects themselves: writing their ``value`` rewrites the message in place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import compress
from typing import Any

from google.protobuf import wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ._fields import carries_payload

__all__ = ["find_string_values", "plan_for"]

_STRING_VALUE = wrappers_pb2.StringValue.DESCRIPTOR.full_name

# What a field holds, as seen by the walker.
_SV = 0  # StringValue
_SV_LIST = 1  # repeated StringValue
_SV_MAP = 2  # map<_, StringValue>
_MSG = 3  # a message that can reach a StringValue
_MSG_LIST = 4  # repeated such messages
_MSG_MAP = 5  # map<_, such message>

# field number -> (kind, plan of the child message type, or None for StringValue kinds)
Plan = dict[int, tuple[int, "Plan | None"]]

_plans: dict[str, Plan | None] = {}
_plans_lock = threading.Lock()


def _is_map(field: FieldDescriptor) -> bool:
    message_type = field.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _value_type(field: FieldDescriptor) -> Descriptor | None:
    """Return the message type a field holds (for a map, the type of its values).

    None for scalars, and for a ``StringValue`` field that carries a caller's
    text rather than a payload: the walker treats both alike.
    """
    message_type = field.message_type
    if message_type is None:
        return None
    value_type: Descriptor | None = message_type
    if _is_map(field):
        value_type = message_type.fields_by_name["value"].message_type
    if value_type is not None and value_type.full_name == _STRING_VALUE and not carries_payload(field):
        return None
    return value_type


def _reaching_types(root: Descriptor) -> set[str]:
    """Full names of the message types under *root* from which a StringValue is reachable."""
    graph: dict[str, list[Descriptor]] = {}
    stack = [root]
    while stack:
        desc = stack.pop()
        if desc.full_name in graph:
            continue
        children = [t for t in (_value_type(f) for f in desc.fields) if t is not None]
        graph[desc.full_name] = children
        stack.extend(children)
    # Fixed point: a type reaches StringValue if any child is StringValue or reaches it.
    # (A depth-first memo gets mutually recursive types wrong; this cannot.)
    reaching = {_STRING_VALUE}
    changed = True
    while changed:
        changed = False
        for name, children in graph.items():
            if name not in reaching and any(child.full_name in reaching for child in children):
                reaching.add(name)
                changed = True
    return reaching


def _build(root: Descriptor) -> Plan | None:
    reaching = _reaching_types(root)
    if root.full_name not in reaching or root.full_name == _STRING_VALUE:
        return None
    plans: dict[str, Plan] = {}
    descriptors: dict[str, Descriptor] = {}
    pending = [root]
    while pending:
        desc = pending.pop()
        if desc.full_name in plans:
            continue
        plan: Plan = {}
        plans[desc.full_name] = plan
        descriptors[desc.full_name] = desc
        for field in desc.fields:
            child = _value_type(field)
            if child is None or child.full_name not in reaching:
                continue
            if child.full_name == _STRING_VALUE:
                kind = _SV_MAP if _is_map(field) else _SV_LIST if _is_repeated(field) else _SV
                plan[field.number] = (kind, None)
            else:
                kind = _MSG_MAP if _is_map(field) else _MSG_LIST if _is_repeated(field) else _MSG
                plan[field.number] = (kind, {})  # placeholder, linked below
                pending.append(child)
    # Link each message field to its child's plan (shared, so recursion is finite).
    for desc_name, plan in plans.items():
        desc = descriptors[desc_name]
        for number, (kind, _) in list(plan.items()):
            if kind >= _MSG:
                child = _value_type(desc.fields_by_number[number])
                assert child is not None
                plan[number] = (kind, plans[child.full_name])
    return plans[root.full_name]


def _is_repeated(field: FieldDescriptor) -> bool:
    # Newer protobuf releases have `is_repeated` and dropped `label`; older ones only have `label`.
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return bool(getattr(field, "label") == FieldDescriptor.LABEL_REPEATED)  # noqa: B009


def plan_for(descriptor: Descriptor) -> Plan | None:
    """Return the cached walk plan of a message type, or None if no StringValue is reachable."""
    key = descriptor.full_name
    try:
        return _plans[key]
    except KeyError:
        pass
    plan = _build(descriptor)
    with _plans_lock:
        return _plans.setdefault(key, plan)


def find_string_values(
    message: Message,
    keep: Callable[[wrappers_pb2.StringValue], bool],
    min_size: int = 0,
) -> list[wrappers_pb2.StringValue]:
    """Return the set payload-carrying ``StringValue`` fields reachable from *message* that *keep* accepts.

    A ``StringValue`` passed on its own is the caller's choice and counts as a payload.

    Args:
        message: The message to walk (not modified).
        keep: Decides whether a ``StringValue`` is returned. It gets the message,
            so it can look at ``ByteSize()`` before paying for ``value``.
        min_size: Nested messages whose serialized size is below this are not
            entered: they cannot hold a value that large.

    """
    if message.DESCRIPTOR.full_name == _STRING_VALUE:  # a StringValue on its own
        value: wrappers_pb2.StringValue = message  # type: ignore[assignment]
        return [value] if keep(value) else []
    plan = plan_for(message.DESCRIPTOR)  # type: ignore[arg-type] # upb's Descriptor is the same type at runtime
    found: list[wrappers_pb2.StringValue] = []
    if plan is not None:
        _walk(message, plan, keep, min_size, found)
    return found


def _walk(
    message: Message,
    plan: Plan,
    keep: Callable[[wrappers_pb2.StringValue], bool],
    min_size: int,
    found: list[wrappers_pb2.StringValue],
) -> None:
    # ListFields yields only fields that are set (and one member per oneof), in C.
    for field, value in message.ListFields():
        step = plan.get(field.number)
        if step is None:
            continue
        kind, child = step
        items: Any
        if kind == _SV:
            if keep(value):
                found.append(value)
            continue
        if kind in (_SV_LIST, _SV_MAP):
            items = value if kind == _SV_LIST else value.values()
            found.extend(sv for sv in items if keep(sv))
            continue
        assert child is not None
        if kind == _MSG:
            items = (value,)
        elif kind == _MSG_LIST:
            items = value
        else:
            items = list(value.values())
        if min_size and items:
            # Skip messages too small to hold a large value; ByteSize is computed in C and this
            # chain of iterators filters thousands of history events without a Python-level loop.
            size_of = type(items[0]).ByteSize
            items = compress(items, map(min_size.__le__, map(size_of, items)))
        for item in items:
            _walk(item, child, keep, min_size, found)
