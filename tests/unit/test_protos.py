"""A test-only protobuf schema with every shape the walker must handle, built at import time."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_SV = ".google.protobuf.StringValue"
_F = descriptor_pb2.FieldDescriptorProto


def _field(
    msg: Any,
    name: str,
    number: int,
    type_name: str | None = None,
    *,
    repeated: bool = False,
    oneof: int | None = None,
    scalar: int = _F.TYPE_STRING,
) -> None:
    field = msg.field.add(name=name, number=number)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name is None:
        field.type = scalar
    else:
        field.type = _F.TYPE_MESSAGE
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof


def _map(msg: Any, name: str, number: int, value_type: str) -> None:
    entry_name = "".join(part.capitalize() for part in name.split("_")) + "Entry"
    entry = msg.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1)
    _field(entry, "value", 2, value_type)
    _field(msg, name, number, f".dtp.test.{msg.name}.{entry_name}", repeated=True)


def _build() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="dtp_walker_test.proto", package="dtp.test", syntax="proto3")
    fd.dependency.append("google/protobuf/wrappers.proto")
    leaf = fd.message_type.add(name="Leaf")
    _field(leaf, "v", 1, _SV)
    _field(leaf, "plain", 2)
    node = fd.message_type.add(name="Node")
    node.oneof_decl.add(name="choice")
    _field(node, "value", 1, _SV)
    _field(node, "values", 2, _SV, repeated=True)
    _map(node, "by_key", 3, _SV)
    _map(node, "leaves", 4, ".dtp.test.Leaf")
    _field(node, "chosen_text", 5, _SV, oneof=0)
    _field(node, "chosen_leaf", 6, ".dtp.test.Leaf", oneof=0)
    _field(node, "child", 7, ".dtp.test.Node")
    _field(node, "children", 8, ".dtp.test.Node", repeated=True)
    _field(node, "a", 9, ".dtp.test.A")
    _field(node, "plain", 10)
    _field(node, "none", 11, ".dtp.test.NoStrings")
    _field(node, "c", 12, ".dtp.test.C")
    a = fd.message_type.add(name="A")
    _field(a, "b", 1, ".dtp.test.B")
    b = fd.message_type.add(name="B")
    _field(b, "a", 1, ".dtp.test.A")
    _field(b, "leaf", 2, ".dtp.test.Leaf")
    # D reaches a StringValue only through C, which refers back to D.
    c = fd.message_type.add(name="C")
    _field(c, "d", 1, ".dtp.test.D")
    _field(c, "v", 2, _SV)
    d = fd.message_type.add(name="D")
    _field(d, "c", 1, ".dtp.test.C")
    none = fd.message_type.add(name="NoStrings")
    _field(none, "x", 1, scalar=_F.TYPE_INT32)
    _field(none, "self", 2, ".dtp.test.NoStrings")
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(descriptor_pb2.FileDescriptorProto.FromString(wrappers_pb2.DESCRIPTOR.serialized_pb))
_pool.Add(_build())

Node: Any = message_factory.GetMessageClass(_pool.FindMessageTypeByName("dtp.test.Node"))
Leaf: Any = message_factory.GetMessageClass(_pool.FindMessageTypeByName("dtp.test.Leaf"))
D: Any = message_factory.GetMessageClass(_pool.FindMessageTypeByName("dtp.test.D"))
NoStrings: Any = message_factory.GetMessageClass(_pool.FindMessageTypeByName("dtp.test.NoStrings"))
