"""The walker finds every StringValue reachable from a message, in every shape, and nothing else."""

from __future__ import annotations

from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from durabletask_payloads._walker import find_string_values, plan_for

from .test_protos import D, Leaf, Node, NoStrings


def _values(message: Any) -> list[str]:
    return sorted(field.value for field in find_string_values(message, keep=lambda s: True))


class TestShapes:
    def test_singular_field(self) -> None:
        node = Node()
        node.value.value = "a"
        assert _values(node) == ["a"]

    def test_repeated_field(self) -> None:
        node = Node()
        node.values.add(value="a")
        node.values.add(value="b")
        assert _values(node) == ["a", "b"]

    def test_map_of_string_values(self) -> None:
        node = Node()
        node.by_key["x"].value = "a"
        node.by_key["y"].value = "b"
        assert _values(node) == ["a", "b"]

    def test_map_of_messages(self) -> None:
        node = Node()
        node.leaves["x"].v.value = "a"
        assert _values(node) == ["a"]

    def test_each_oneof_member(self) -> None:
        text = Node()
        text.chosen_text.value = "t"
        leaf = Node()
        leaf.chosen_leaf.v.value = "l"
        assert (_values(text), _values(leaf)) == (["t"], ["l"])

    def test_nested_to_any_depth(self) -> None:
        node = Node()
        cursor = node
        for _ in range(50):
            cursor = cursor.child
        cursor.value.value = "deep"
        assert _values(node) == ["deep"]

    def test_repeated_recursive_messages(self) -> None:
        node = Node()
        node.children.add().children.add().value.value = "a"
        node.children.add().leaves["k"].v.value = "b"
        assert _values(node) == ["a", "b"]

    def test_mutually_recursive_types_reach_through_the_cycle(self) -> None:
        """A -> B -> Leaf and D -> C -> StringValue, where C also refers back to D."""
        node = Node()
        node.a.b.a.b.leaf.v.value = "via-b"
        node.c.d.c.v.value = "via-c"
        assert _values(node) == ["via-b", "via-c"]
        d = D()
        d.c.v.value = "from-d"
        assert _values(d) == ["from-d"]

    def test_plain_strings_are_ignored(self) -> None:
        node = Node(plain="not a StringValue")
        node.leaves["k"].plain = "nor this"
        assert _values(node) == []

    def test_unset_fields_are_not_created(self) -> None:
        node = Node()
        find_string_values(node, keep=lambda s: True)
        assert not node.HasField("value")
        assert node.ByteSize() == 0

    def test_present_but_empty_value_is_offered_to_keep(self) -> None:
        node = Node()
        node.value.value = ""
        assert node.HasField("value")
        assert _values(node) == [""]


class TestPlans:
    def test_a_type_that_cannot_reach_a_string_value_has_no_plan(self) -> None:
        assert plan_for(NoStrings.DESCRIPTOR) is None
        assert plan_for(pb.AbandonActivityTaskRequest.DESCRIPTOR) is None

    def test_the_string_value_type_itself_has_no_plan(self) -> None:
        assert plan_for(wrappers_pb2.StringValue.DESCRIPTOR) is None

    def test_a_string_value_on_its_own_is_walked(self) -> None:
        value = wrappers_pb2.StringValue(value="alone")
        assert find_string_values(value, keep=lambda s: True) == [value]
        assert find_string_values(value, keep=lambda s: False) == []

    def test_plans_are_cached(self) -> None:
        assert plan_for(Node.DESCRIPTOR) is plan_for(Node.DESCRIPTOR)


class TestReturnedFieldsAreLive:
    def test_writing_a_returned_field_rewrites_the_message(self) -> None:
        node = Node()
        node.leaves["k"].v.value = "old"
        (field,) = find_string_values(node, keep=lambda s: True)
        field.value = "new"
        assert node.leaves["k"].v.value == "new"


class TestPruneAndKeep:
    def test_keep_filters_values(self) -> None:
        node = Node()
        node.values.add(value="keep me")
        node.values.add(value="drop")
        assert [f.value for f in find_string_values(node, keep=lambda s: s.value.startswith("keep"))] == [
            "keep me"
        ]

    def test_prune_skips_nested_messages(self) -> None:
        node = Node()
        node.value.value = "top"
        node.child.value.value = "inside"
        found = find_string_values(node, keep=lambda s: True, min_size=10**9)
        assert [f.value for f in found] == ["top"]
        assert len(find_string_values(node, keep=lambda s: True, min_size=1)) == 2


class TestDurableTaskMessages:
    def test_history_event_oneof_members_are_found(self) -> None:
        request = pb.OrchestratorRequest(instanceId="i")
        request.pastEvents.add().executionStarted.input.value = "in"
        request.newEvents.add().taskCompleted.result.value = "out"
        request.newEvents.add().eventRaised.input.value = "ev"
        assert _values(request) == ["ev", "in", "out"]

    def test_a_callers_text_is_not_walked(self) -> None:
        """Versions, reasons and ids are StringValues too, but hold text, never payloads."""
        request = pb.OrchestratorRequest(instanceId="i")
        started = request.pastEvents.add().executionStarted
        started.input.value = "in"
        started.version.value = "v1"
        started.orchestrationInstance.executionId.value = "e1"
        started.parentInstance.name.value = "parent"
        request.pastEvents.add().executionSuspended.input.value = "a suspend reason"
        request.executionId.value = "e2"
        assert _values(request) == ["in"]
        assert _values(pb.SuspendRequest(instanceId="i", reason=wrappers_pb2.StringValue(value="r"))) == []

    def test_a_type_that_reaches_only_text_has_no_plan(self) -> None:
        assert plan_for(pb.OrchestrationInstance.DESCRIPTOR) is None  # executionId only
        assert plan_for(pb.SuspendRequest.DESCRIPTOR) is None
        assert plan_for(pb.TaskFailureDetails.DESCRIPTOR) is None  # stackTrace only

    def test_leaf_type_alone(self) -> None:
        leaf = Leaf()
        leaf.v.value = "x"
        assert _values(leaf) == ["x"]
