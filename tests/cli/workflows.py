"""Orchestrations whose histories ``show`` is tested on: large values, a failed activity, a failure."""

from __future__ import annotations

from typing import Any

from durabletask import task


def tally(ctx: task.ActivityContext, orders: list[dict[str, Any]]) -> dict[str, Any]:
    """A large result: every order, counted."""
    return {"count": len(orders), "orders": orders}


def refuse(ctx: task.ActivityContext, reason: str) -> None:
    """Always fails, so that its failure details (with the stack trace) are in the history."""
    raise ValueError(f"refused: {reason}")


def audited(ctx: task.OrchestrationContext, orders: list[dict[str, Any]]) -> Any:
    """Large input, large activity result, a failed activity it survives, a large output."""
    summary = yield ctx.call_activity(tally, input=orders)
    ctx.set_custom_status({"stage": "refusing"})
    try:
        yield ctx.call_activity(refuse, input="no stock")
    except task.TaskFailedError as failure:
        return {"summary": summary, "failure": failure.details.message}
    return {"summary": summary}


def doomed(ctx: task.OrchestrationContext, orders: list[dict[str, Any]]) -> Any:
    """Fails: its own failure details are in its state."""
    yield ctx.call_activity(refuse, input=f"{len(orders)} orders")


def hostile(ctx: task.OrchestrationContext, reason: str) -> Any:
    """Fails with a message that tries to drive the terminal."""
    yield ctx.call_activity(refuse, input=reason)


def register(worker: Any) -> None:
    for orchestrator in (audited, doomed, hostile):
        worker.add_orchestrator(orchestrator)
    for activity in (tally, refuse):
        worker.add_activity(activity)
