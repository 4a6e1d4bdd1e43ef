"""6. End to end on Azurite, inline beside built-in and ours: fan-out/fan-in of 50 activities over
distinct 1 MB JSON payloads, and a chain of 20 activities returning 1 MB each.

Each side runs ``REPEAT`` times (the environment's ``BENCH_REPEAT``, default 3), interleaved,
and the median is reported: the machine is shared and noisy.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from _common import Row, median, orders_json
from _harness import SIDES, Run, run_side, servers
from durabletask import task

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
ACTIVITIES = 50
CHAIN = 20
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


def chain(ctx: task.OrchestrationContext, _: Any) -> Any:
    """Twenty steps one after the other, each returning 1 MB: the history grows by 1 MB a step."""
    digests = []
    for i in range(CHAIN):
        batch = yield ctx.call_activity(produce, input=i)
        digests.append(hashlib.sha256(batch.encode()).hexdigest()[:12])
    return digests


def register(worker: Any) -> None:
    worker.add_orchestrator(fan_out_fan_in)
    worker.add_orchestrator(chain)
    worker.add_activity(produce)
    worker.add_activity(digest)


def _sides(orchestrator: Any, expected: list[str]) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {side: [] for side in SIDES}
    with servers() as srv:
        for _ in range(REPEAT):
            for side in SIDES:
                run = run_side(side, srv, register, orchestrator, None)
                assert run.output == expected, f"{side}: wrong output"
                runs[side].append(run)
            srv.backend.reset()  # drop the finished histories (inline ones hold every payload)
    return runs


def _row(case: str, runs: dict[str, list[Run]], target: str, factor: float) -> Row:
    seconds = {side: median([run.seconds for run in runs[side]]) for side in SIDES}
    note = (
        f"median of {REPEAT}; blob downloads built-in {runs['builtin'][-1].worker.downloads:,}, "
        f"ours {runs['ours'][-1].worker.downloads:,}; blobs written built-in "
        f"{runs['builtin'][-1].blobs:,}, ours {runs['ours'][-1].blobs:,}"
    )
    return Row(
        case,
        seconds["builtin"],
        seconds["ours"],
        "s",
        target,
        seconds["builtin"] / seconds["ours"] >= factor,
        note,
        inline=seconds["inline"],
    )


def run() -> list[Row]:
    fan_expected = [hashlib.sha256(batch.encode()).hexdigest()[:12] for batch in BATCHES]
    chain_expected = fan_expected[:CHAIN]
    return [
        _row("6a. fan-out/fan-in of 50 x 1 MB on Azurite", _sides(fan_out_fan_in, fan_expected), ">= 3x", 3),
        _row("6b. chain of 20 x 1 MB on Azurite", _sides(chain, chain_expected), ">= 2x", 2),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
