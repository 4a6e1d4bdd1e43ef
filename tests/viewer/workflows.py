"""The orchestration the viewer's tests look at: stored and inline values, numbers a browser would
change, markup that must stay text, and an activity that fails with a stack trace."""

from __future__ import annotations

from typing import Any

from durabletask import task

#: Written as a .NET or hand-made client would: 10.50 keeps its zero, the integer is above 2**53,
#: and NaN is what Python's json.dumps writes for float("nan").
BIG = "12345678901234567891"
MARKUP = '<img src=x onerror="window.__pwned=1">'


def ledger_input(rows: int = 40) -> str:
    """The input as a client of another SDK writes it: not what json.dumps would write."""
    lines = ", ".join(
        f'{{"row": {n}, "amount": 10.50, "memo": "line {n} of the ledger"}}' for n in range(rows)
    )
    note = MARKUP.replace('"', '\\"')
    return f'{{"price": 10.50, "big": {BIG}, "ratio": NaN, "note": "{note}", "rows": [{lines}]}}'


def enrich(ctx: task.ActivityContext, value: dict[str, Any]) -> dict[str, Any]:
    """A large result written by Python: the big integer and NaN as json.dumps writes them."""
    return {"big": int(BIG), "ratio": float("nan"), "note": value["note"], "rows": value["rows"]}


def label(ctx: task.ActivityContext, value: str) -> str:
    """A small (inline) input and result."""
    return "labelled " + value


def reconcile(ctx: task.ActivityContext, value: dict[str, Any]) -> None:
    raise ValueError(f"ledger out of balance by {value['big']} cents")


def ledger(ctx: task.OrchestrationContext, value: dict[str, Any]) -> Any:
    enriched = yield ctx.call_activity(enrich, input=value)
    yield ctx.call_activity(label, input=MARKUP.replace("window.__pwned=1", "window.__pwned=2"))
    yield ctx.call_activity(reconcile, input=enriched)
    return "unreachable"


def register(worker: Any) -> None:
    worker.add_orchestrator(ledger)
    for activity in (enrich, label, reconcile):
        worker.add_activity(activity)
