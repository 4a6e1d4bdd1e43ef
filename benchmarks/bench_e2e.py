"""6. End to end on Azurite: fan-out/fan-in of 50 activities over distinct 1 MB JSON payloads."""

from __future__ import annotations

import hashlib
from typing import Any

from _common import Row, orders_json
from _harness import run_side, servers
from durabletask import task

ACTIVITIES = 50
# Generated before the clock starts: the benchmark measures moving the data, not making it.
BATCHES = [orders_json(1024 * 1024, seed=2000 + i) for i in range(ACTIVITIES)]


def produce(ctx: task.ActivityContext, seed: int) -> str:
    """Fan-out: each activity returns a distinct 1 MB batch of orders."""
    return BATCHES[seed]


def digest(ctx: task.ActivityContext, batch: str) -> str:
    """Fan-in: each batch goes to a second activity, which returns a small summary."""
    return hashlib.sha256(batch.encode()).hexdigest()[:12]


def fan_out_fan_in(ctx: task.OrchestrationContext, _: Any) -> Any:
    batches = yield task.when_all([ctx.call_activity(produce, input=i) for i in range(ACTIVITIES)])
    digests = yield task.when_all([ctx.call_activity(digest, input=batch) for batch in batches])
    return digests


def register(worker: Any) -> None:
    worker.add_orchestrator(fan_out_fan_in)
    worker.add_activity(produce)
    worker.add_activity(digest)


def run() -> list[Row]:
    expected = [hashlib.sha256(batch.encode()).hexdigest()[:12] for batch in BATCHES]
    with servers() as srv:
        builtin = run_side("builtin", srv, register, fan_out_fan_in, None)
        ours = run_side("ours", srv, register, fan_out_fan_in, None)
    assert builtin.output == expected
    assert ours.output == expected
    note = (
        f"blob downloads built-in {builtin.worker.downloads:,}, ours {ours.worker.downloads:,}; "
        f"blobs written built-in {builtin.blobs:,}, ours {ours.blobs:,}"
    )
    return [
        Row(
            "6. fan-out/fan-in of 50 x 1 MB on Azurite",
            builtin.seconds,
            ours.seconds,
            "s",
            ">= 3x",
            builtin.seconds / ours.seconds >= 3,
            note,
        ),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
