"""Orchestrators, activities and entities for the purge and gc invariant tests.

Each scenario keeps an instance waiting while another one is purged or while gc
runs, and then makes it use what it holds, on a worker with a new store object
(as a second process would have: no cache).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from durabletask import task
from durabletask.entities import EntityContext, EntityInstanceId

BIG = 3000  # characters: above the tests' 1 KiB threshold


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def big(label: str) -> str:
    """A large value, distinct per label (so each is its own payload)."""
    return f"{label}:" + hashlib.sha256(label.encode()).hexdigest() * (BIG // 64)


def grow(ctx: task.ActivityContext, label: str) -> str:
    """An activity whose result is large."""
    return big(f"activity-{label}")


def beacon(ctx: task.OrchestrationContext, _: Any) -> Any:
    """Completes when told "ready": the test waits for it to know another instance got that far."""
    return (yield ctx.wait_for_external_event("ready"))


def child(ctx: task.OrchestrationContext, label: str) -> Any:
    """A sub-orchestration with a large result, and an activity result only its history holds."""
    extra = yield ctx.call_activity(grow, input=f"child-{label}")
    return {"result": big(f"child-output-{label}"), "extra": len(extra)}


def parent(ctx: task.OrchestrationContext, request: dict[str, Any]) -> Any:
    """Calls a child, tells the beacon (if any), waits for "go", then reports what the child returned."""
    result = yield ctx.call_sub_orchestrator(
        child, input=request["label"], instance_id=request.get("child_id")
    )
    if request.get("beacon"):
        ctx.send_event(request["beacon"], "ready")
        yield ctx.wait_for_external_event("go")
    return digest(result)


def receiver(ctx: task.OrchestrationContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("data")
    return digest(value)


def sender(ctx: task.OrchestrationContext, request: dict[str, Any]) -> str:
    ctx.send_event(request["to"], "data", data=request["value"])
    return "sent"


def restartable(ctx: task.OrchestrationContext, value: Any) -> Any:
    """Waits for "go", then sends its input to an activity: it needs its input after the wait."""
    yield ctx.wait_for_external_event("go")
    echoed = yield ctx.call_activity(echo, input=value)
    return digest(echoed)


def echo(ctx: task.ActivityContext, value: Any) -> Any:
    return {"echo": value}


def cart(ctx: EntityContext, value: Any) -> Any:
    if ctx.operation == "set":
        ctx.set_state(value)
        return None
    return ctx.get_state()


def signal_cart(ctx: task.OrchestrationContext, request: dict[str, Any]) -> str:
    ctx.signal_entity(EntityInstanceId("cart", request["key"]), "set", request["value"])
    return "signalled"


def read_cart(ctx: task.OrchestrationContext, key: str) -> Any:
    state = yield ctx.call_entity(EntityInstanceId("cart", key), "get")
    return digest(state)


def eternal(ctx: task.OrchestrationContext, state: dict[str, Any]) -> Any:
    """Continues as new until generation *last*, each generation with its own large input and result."""
    n = state["n"]
    result = yield ctx.call_activity(grow, input=f"eternal-{n}")
    if n < state["last"]:
        ctx.continue_as_new({**state, "n": n + 1, "blob": big(f"generation-{n + 1}")})
        return None
    ctx.send_event(state["beacon"], "ready")
    yield ctx.wait_for_external_event("stop")
    return {"n": n, "input": digest(state), "result": digest(result)}


def fan(ctx: task.OrchestrationContext, label: str) -> int:
    """Ten activities with large results: ten payloads that the history refers to."""
    results = yield task.when_all([ctx.call_activity(grow, input=f"{label}-{n}") for n in range(10)])
    return len(results)
