"""5. Fan-out of 50 activities with the same 1 MB input. How many uploads?"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from _common import Row, orders_json
from _harness import run_side, servers
from durabletask import task

ACTIVITIES = 50


def inspect_batch(ctx: task.ActivityContext, batch: list[Any]) -> str:
    return hashlib.sha256(json.dumps(batch).encode()).hexdigest()[:12]


def fan_out_same(ctx: task.OrchestrationContext, batch: list[Any]) -> Any:
    results = yield task.when_all([ctx.call_activity(inspect_batch, input=batch) for _ in range(ACTIVITIES)])
    return sorted(set(results))


def register(worker: Any) -> None:
    worker.add_orchestrator(fan_out_same)
    worker.add_activity(inspect_batch)


def run() -> list[Row]:
    batch = json.loads(orders_json(1024 * 1024, seed=5))
    expected = [hashlib.sha256(json.dumps(batch).encode()).hexdigest()[:12]]
    with servers() as srv:
        builtin = run_side("builtin", srv, register, fan_out_same, batch)
        ours = run_side("ours", srv, register, fan_out_same, batch)
    assert builtin.output == expected
    assert ours.output == expected
    note = (
        "uploads by the worker for the 50 activity inputs (the client's upload of the orchestration input "
        f"is not counted: 1 on each side); wall time built-in {builtin.seconds:.2f} s, "
        f"ours {ours.seconds:.2f} s. "
        f"Blobs in the container afterwards: built-in {builtin.blobs}, ours {ours.blobs} (ours names a "
        "blob by content and instance, so the activities' input is the very blob the client wrote)"
    )
    return [
        Row(
            "5. fan-out of 50 with one 1 MB input: uploads",
            builtin.worker.uploads,
            ours.worker.uploads,
            "count",
            "ours == 1",
            ours.worker.uploads == 1,
            note,
        ),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
