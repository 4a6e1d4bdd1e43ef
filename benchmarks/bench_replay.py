"""4. Replay: 20 sequential activities each returning 1 MB. How many blob downloads?"""

from __future__ import annotations

import hashlib
from typing import Any

from _common import Row, orders_json
from _harness import run_side, servers
from durabletask import task

ACTIVITIES = 20


def make_result(ctx: task.ActivityContext, seed: int) -> str:
    return orders_json(1024 * 1024, seed=1000 + seed)


def sequence(ctx: task.OrchestrationContext, _: Any) -> Any:
    digests = []
    for i in range(ACTIVITIES):
        result = yield ctx.call_activity(make_result, input=i)
        digests.append(hashlib.sha256(result.encode()).hexdigest()[:12])
    return digests


def register_all(worker: Any) -> None:
    worker.add_orchestrator(sequence)
    worker.add_activity(make_result)


def register_orchestrator(worker: Any) -> None:
    worker.add_orchestrator(sequence)


def register_activity(worker: Any) -> None:
    worker.add_activity(make_result)


def run() -> list[Row]:
    rows = []
    with servers() as srv:
        expected = [
            hashlib.sha256(orders_json(1024 * 1024, seed=1000 + i).encode()).hexdigest()[:12]
            for i in range(ACTIVITIES)
        ]
        for label, register, split in [
            ("4a. replay downloads, one worker", register_all, None),
            ("4b. replay downloads, separate activity worker", register_orchestrator, register_activity),
        ]:
            builtin = run_side("builtin", srv, register, sequence, None, split_workers=split)
            ours = run_side("ours", srv, register, sequence, None, split_workers=split)
            assert builtin.output == expected
            assert ours.output == expected
            rows.append(
                Row(
                    label,
                    builtin.worker.downloads,
                    ours.worker.downloads,
                    "count",
                    "ours <= 20",
                    ours.worker.downloads <= ACTIVITIES,
                    f"wall time built-in {builtin.seconds:.2f} s, ours {ours.seconds:.2f} s"
                    + (
                        "; the orchestration worker's cache starts cold: each result is fetched once"
                        if split
                        else "; ours keeps what it uploaded, so replays fetch nothing"
                    ),
                )
            )
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
