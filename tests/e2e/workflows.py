"""Orchestrators, activities and entities used by the end-to-end scenarios.

Activities and orchestrations report SHA-256 digests of what they received, so
a test can prove that user code saw exactly the original data, not a token.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from durabletask import task
from durabletask.entities import EntityContext, EntityInstanceId


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def echo(ctx: task.ActivityContext, value: Any) -> dict[str, Any]:
    """Return the input with a large result attached."""
    return {"digest": digest(value), "echo": value}


def grow(ctx: task.ActivityContext, value: dict[str, Any]) -> str:
    """Return a large string derived from the input."""
    return "result:" + value["name"] + ":" + "r" * value["size"]


def small(ctx: task.ActivityContext, value: Any) -> str:
    return "ok"


def return_input(ctx: task.OrchestrationContext, value: Any) -> Any:
    return value


def call_echo(ctx: task.OrchestrationContext, value: Any) -> Any:
    result = yield ctx.call_activity(echo, input=value)
    return {"activity_saw": result["digest"], "same_echo": result["echo"] == value, "echo": result["echo"]}


def fan_out(ctx: task.OrchestrationContext, inputs: list[Any]) -> Any:
    results = yield task.when_all([ctx.call_activity(echo, input=item) for item in inputs])
    return {
        "digests": [r["digest"] for r in results],
        "all_echoed": all(r["echo"] == item for r, item in zip(results, inputs, strict=True)),
    }


def wait_for_event(ctx: task.OrchestrationContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("payload")
    return {"digest": digest(value), "value": value}


def wait_then_echo(ctx: task.OrchestrationContext, value: Any) -> Any:
    """Wait for "go", then send the input through an activity (storage is needed after the wait)."""
    yield ctx.wait_for_external_event("go")
    result = yield ctx.call_activity(echo, input={"again": value})
    return {"activity_saw": result["digest"], "same_echo": result["echo"] == {"again": value}}


def wait_forever(ctx: task.OrchestrationContext, _: Any) -> Any:
    yield ctx.wait_for_external_event("never")
    return "unreachable"


def with_custom_status(ctx: task.OrchestrationContext, status: Any) -> str:
    ctx.set_custom_status(status)
    return "done"


def child(ctx: task.OrchestrationContext, value: Any) -> Any:
    return {"child_saw": digest(value), "payload": value}


def parent(ctx: task.OrchestrationContext, value: Any) -> Any:
    result = yield ctx.call_sub_orchestrator(child, input=value)
    return {"child_saw": result["child_saw"], "roundtrip": result["payload"] == value}


def countdown(ctx: task.OrchestrationContext, state: dict[str, Any]) -> Any:
    if state["n"] > 0:
        ctx.continue_as_new(
            {"n": state["n"] - 1, "blob": state["blob"] + "+", "seen": [*state["seen"], digest(state)]}
        )
        return None
    return {"seen": state["seen"], "final": digest(state)}


def cart(ctx: EntityContext, value: Any) -> Any:
    """An entity whose state can grow large."""
    if ctx.operation == "set":
        ctx.set_state(value)
        return digest(value)
    if ctx.operation == "append":
        state = ctx.get_state(list, [])
        state.append(value)
        ctx.set_state(state)
        return len(state)
    if ctx.operation == "get":
        return ctx.get_state()
    raise ValueError(f"unknown operation {ctx.operation}")


def use_cart(ctx: task.OrchestrationContext, request: dict[str, Any]) -> Any:
    entity = EntityInstanceId("cart", request["key"])
    stored = yield ctx.call_entity(entity, "set", request["value"])
    state = yield ctx.call_entity(entity, "get")
    return {"stored_digest": stored, "state_digest": digest(state), "state": state}


def read_cart(ctx: task.OrchestrationContext, key: str) -> Any:
    state = yield ctx.call_entity(EntityInstanceId("cart", key), "get")
    return state


def try_activity(ctx: task.OrchestrationContext, request: dict[str, Any]) -> Any:
    """Call an activity and report how it failed, if it did."""
    try:
        result = yield ctx.call_activity(request["activity"], input=request["input"])
    except task.TaskFailedError as failure:
        return {"failed": True, "type": failure.details.error_type, "message": failure.details.message}
    return {"failed": False, "size": len(json.dumps(result))}


def try_entity(ctx: task.OrchestrationContext, request: dict[str, Any]) -> Any:
    try:
        result = yield ctx.call_entity(
            EntityInstanceId("cart", request["key"]), request["operation"], request.get("input")
        )
    except task.TaskFailedError as failure:
        # The entity's own failure is the inner one.
        details = failure.details.inner_failure or failure.details
        return {"failed": True, "type": details.error_type, "message": details.message}
    return {"failed": False, "result": result}


def schedule_big_activity_input(ctx: task.OrchestrationContext, size: int) -> Any:
    """Its activity's input is built here, in the orchestrator: an action input."""
    result = yield ctx.call_activity(small, input="a" * size)
    return result


def big_output(ctx: task.OrchestrationContext, size: int) -> str:
    return "o" * size


def big_custom_status(ctx: task.OrchestrationContext, size: int) -> str:
    ctx.set_custom_status("s" * size)
    return "done"


VANISH = "VANISH-ME"


def vanishing_activity_input(ctx: task.OrchestrationContext, size: int) -> Any:
    """Builds its activity's input itself, marked so that a test store loses it after writing."""
    result = yield ctx.call_activity(echo, input=VANISH + "v" * size)
    return result["digest"]


ORCHESTRATORS = [
    return_input,
    call_echo,
    fan_out,
    wait_for_event,
    wait_then_echo,
    wait_forever,
    with_custom_status,
    child,
    parent,
    countdown,
    use_cart,
    read_cart,
    try_activity,
    try_entity,
    schedule_big_activity_input,
    big_output,
    big_custom_status,
    vanishing_activity_input,
]
ACTIVITIES = [echo, grow, small]
ENTITIES = [cart]


def register(worker: Any) -> None:
    for orchestrator in ORCHESTRATORS:
        worker.add_orchestrator(orchestrator)
    for activity in ACTIVITIES:
        worker.add_activity(activity)
    for entity in ENTITIES:
        worker.add_entity(entity)
