"""Orchestrations and activities of the compatibility suite (the shapes upstream's e2e tests exercise)."""

from __future__ import annotations

from typing import Any

from durabletask import task


def echo_input(ctx: task.OrchestrationContext, value: Any) -> Any:
    return value


def produce(ctx: task.ActivityContext, size: int) -> str:
    return "z" * size


def call_produce(ctx: task.OrchestrationContext, size: int) -> Any:
    return (yield ctx.call_activity(produce, input=size))


def reshape(ctx: task.OrchestrationContext, value: dict[str, Any]) -> dict[str, Any]:
    return {"echo": value["data"], "padding": "p" * 3000}


def await_event(ctx: task.OrchestrationContext, _: Any) -> Any:
    return (yield ctx.wait_for_external_event("big"))


def never_ends(ctx: task.OrchestrationContext, _: Any) -> Any:
    yield ctx.wait_for_external_event("never")


def numbered(ctx: task.ActivityContext, index: int) -> str:
    return f"part-{index}:" + "n" * 2000


def fan_out_in(ctx: task.OrchestrationContext, count: int) -> Any:
    return (yield task.when_all([ctx.call_activity(numbered, input=i) for i in range(count)]))


ORCHESTRATORS = (echo_input, call_produce, reshape, await_event, never_ends, fan_out_in)
ACTIVITIES = (produce, numbered)


def register(worker: Any) -> None:
    for orchestrator in ORCHESTRATORS:
        worker.add_orchestrator(orchestrator)
    for activity in ACTIVITIES:
        worker.add_activity(activity)
