"""9. A hundred orchestrations at once, inline beside built-in and ours: each with a distinct ~300 KiB
input and a fan-out of 5 activities returning ~300 KiB each, on Azurite. Every output is checked.

Each side runs in its own process (worker and client together) so that its peak RSS increase is
its own; Azurite and the in-memory backend run in this one, shared by all sides. Sides:

- ``inline``: plain durabletask, gRPC limits raised, no store (the floor);
- ``builtin``: durabletask's worker and client with its ``BlobPayloadStore``;
- ``ours``: this package's worker and client with its ``BlobPayloadStore``, the client scheduling
  one orchestration after the other, as the others do;
- ``ours-async``: the same worker, with ``AsyncTaskHubGrpcClient`` scheduling all of them at once
  (``asyncio.gather``; the store bounds its transfers by ``max_concurrency``).

    python benchmarks/bench_scale.py          # median of BENCH_REPEAT (default 3) rounds
    BENCH_BODY=text python benchmarks/bench_scale.py   # payloads of plain text, cheap to parse

The payloads are order JSON by default, whose parsing by durabletask dominates every side's CPU;
``BENCH_BODY=text`` makes each a JSON string of words instead, so what moving them costs shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import Row, median

ORCHESTRATIONS = int(os.environ.get("BENCH_ORCHESTRATIONS", "100"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
SCALE_SIDES = ("inline", "builtin", "ours", "ours-async")


def _rss_now() -> int:
    """Resident set size of this process now, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(side: str, address: str, container: str, orchestrations: int) -> dict[str, Any]:
    """One side's worker and client in this process; returns its measurements."""
    from _harness import Counts, make_client, make_store, make_worker
    from bench_load import FAN_OUT, digest, make_part, payload, pipeline
    from durabletask import client as dt_client

    # The stores read only the connection string of the Azurite the parent process runs.
    azurite = SimpleNamespace(connection_string=os.environ["DTP_BENCH_AZURITE"])
    store_side = "ours" if side == "ours-async" else side
    worker_counts, client_counts = Counts(), Counts()
    # Generated before the clock starts; each instance's id heads its payloads, so none are equal.
    ids = [f"scale-{n:04d}-{uuid.uuid4().hex[:6]}" for n in range(orchestrations)]
    batches = {instance_id: json.loads(payload("input", instance_id, -1)) for instance_id in ids}
    expected = {
        instance_id: {
            "input": digest(json.dumps(batch)),
            "parts": [
                digest(json.dumps(make_part(None, {"instance": instance_id, "part": i})))  # type: ignore[arg-type]
                for i in range(FAN_OUT)
            ],
        }
        for instance_id, batch in batches.items()
    }
    episodes = _count_episodes()
    worker_store = make_store(store_side, azurite, worker_counts, container)
    client_store = make_store(store_side, azurite, client_counts, container)
    worker = make_worker(store_side, address, worker_store)
    worker.add_orchestrator(pipeline)
    worker.add_activity(make_part)
    baseline = _rss_now()
    worker.start()
    outputs: dict[str, Any] = {}
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        if side == "ours-async":
            scheduled, outputs = asyncio.run(_schedule_async(address, client_store, batches))
        else:
            with make_client(side, address, client_store) as client:
                for instance_id, batch in batches.items():
                    client.schedule_new_orchestration(pipeline, input=batch, instance_id=instance_id)
                scheduled = time.perf_counter() - started
                for instance_id in batches:
                    state = client.wait_for_orchestration_completion(instance_id, timeout=900)
                    outputs[instance_id] = _output(state, dt_client)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        worker.stop()
        # The worker's and the client's stores each have a cache: 9d allows the capacity of both.
        caches = [store.cache for store in (worker_store, client_store) if hasattr(store, "cache")]
        for store in (worker_store, client_store):
            if store is not None:
                store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    wrong = [instance_id for instance_id in batches if outputs.get(instance_id) != expected[instance_id]]
    return {
        "seconds": seconds,
        "schedule_seconds": scheduled,
        "rss_increase": max(0, peak - baseline),
        "uploads": worker_counts.uploads + client_counts.uploads,
        "downloads": worker_counts.downloads + client_counts.downloads,
        "wrong": len(wrong),
        "cpu_seconds": cpu,
        "episodes": episodes[0],
        "replayed_events": episodes[1],
        "cache_capacity": sum(cache.max_bytes for cache in caches),
        "cache_held": sum(cache.size for cache in caches),  # caches only cool and evict: near their peak
    }


def _count_episodes() -> list[int]:
    """Count orchestrator work items and the past events they replay (both decode JSON)."""
    from durabletask import worker as dt_worker

    counted = [0, 0]
    execute = dt_worker._OrchestrationExecutor.execute

    def counting(self: Any, instance_id: str, old_events: Any, new_events: Any) -> Any:
        counted[0] += 1
        counted[1] += len(old_events)
        return execute(self, instance_id, old_events, new_events)

    dt_worker._OrchestrationExecutor.execute = counting  # type: ignore[method-assign]
    return counted


def _output(state: Any, dt_client: Any) -> Any:
    if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
        return None
    return json.loads(state.serialized_output or "null")


async def _schedule_async(address: str, store: Any, batches: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Schedule every orchestration at once with the async client, then wait for all of them."""
    from _harness import QUIET
    from bench_load import pipeline
    from durabletask import client as dt_client

    import durabletask_payloads as dtp

    started = time.perf_counter()
    async with dtp.AsyncTaskHubGrpcClient(host_address=address, payload_store=store, logger=QUIET) as client:
        await asyncio.gather(
            *(
                client.schedule_new_orchestration(pipeline, input=batch, instance_id=instance_id)
                for instance_id, batch in batches.items()
            )
        )
        scheduled = time.perf_counter() - started
        # Waited for one by one: a hundred concurrent long polls would take every thread of the
        # in-memory backend's server (10) and starve the worker's calls, a deadlock of the backend.
        states = [await client.wait_for_orchestration_completion(i, timeout=900) for i in batches]
    return scheduled, {i: _output(s, dt_client) for i, s in zip(batches, states, strict=True)}


def _run_child(side: str, srv: Any, container: str) -> dict[str, Any]:
    env = {**os.environ, "DTP_BENCH_AZURITE": srv.azurite.connection_string}
    here = Path(__file__).resolve()
    result = subprocess.run(
        [sys.executable, str(here), "--child", side, srv.address, container, str(ORCHESTRATIONS)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=here.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{side}: the child failed:\n{result.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if measured["wrong"]:
        raise RuntimeError(f"{side}: {measured['wrong']} of {ORCHESTRATIONS} outputs missing or wrong")
    return measured


def measure() -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Every side REPEAT times, interleaved; the blobs each side left after its last round."""
    from _harness import count_blobs, servers

    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SCALE_SIDES}
    blobs: dict[str, int] = {}
    with servers() as srv:
        for _ in range(REPEAT):
            for side in SCALE_SIDES:
                container = f"scale-{side}-{uuid.uuid4().hex[:8]}"
                runs[side].append(_run_child(side, srv, container))
                blobs[side] = count_blobs(srv.azurite, container)
                srv.backend.reset()  # inline histories hold every payload: drop them
    return runs, blobs


def run() -> list[Row]:
    runs, blobs = measure()

    def med(side: str, key: str) -> float:
        return median([float(r[key]) for r in runs[side]])

    from bench_load import BODY_KIND

    wall = {side: med(side, "seconds") for side in SCALE_SIDES}
    rss = {side: med(side, "rss_increase") for side in SCALE_SIDES}
    sched = {side: med(side, "schedule_seconds") for side in SCALE_SIDES}
    cpu = {side: med(side, "cpu_seconds") for side in SCALE_SIDES}
    n = ORCHESTRATIONS
    payloads = n * 6
    within = wall["ours"] <= 1.5 * wall["inline"]
    faster = wall["builtin"] / wall["ours"] >= 4
    capacity = max(r["cache_capacity"] for r in runs["ours"])
    held = med("ours", "cache_held")
    rss_ok = rss["ours"] <= rss["builtin"] + capacity
    last = {side: runs[side][-1] for side in SCALE_SIDES}
    return [
        Row(
            f"9a. {n} orchestrations at once (300 KiB in + 5 x 300 KiB, {BODY_KIND}), wall",
            wall["builtin"],
            wall["ours"],
            "s",
            "ours <= 1.5x inline",
            within,
            f"median of {REPEAT}; every output checked; blobs written for {payloads} distinct payloads: "
            f"built-in {blobs['builtin']}, ours {blobs['ours']}; downloads built-in "
            f"{last['builtin']['downloads']}, ours {last['ours']['downloads']}",
            inline=wall["inline"],
        ),
        Row(
            "9b. the same: built-in / ours",
            wall["builtin"],
            wall["ours"],
            "s",
            ">= 4x",
            faster,
            inline=wall["inline"],
        ),
        Row(
            "9c. the same, async client scheduling all at once (gather)",
            wall["builtin"],
            wall["ours-async"],
            "s",
            "-",
            True,
            f"client's scheduling: inline {sched['inline']:.2f} s, built-in {sched['builtin']:.2f} s, "
            f"ours (one by one) {sched['ours']:.2f} s, ours (gather) {sched['ours-async']:.2f} s",
            inline=wall["inline"],
        ),
        Row(
            "9d. the same, peak RSS increase of the worker+client process",
            rss["builtin"],
            rss["ours"],
            "MiB",
            f"<= built-in + {capacity / 2**20:.0f} MiB",
            rss_ok,
            f"allowed: the caches of the worker's and the client's store, cache_max_bytes each; they held "
            f"{held / 2**20:.0f} MiB at the end; ours (gather) {rss['ours-async'] / 2**20:.0f} MiB",
            inline=rss["inline"],
        ),
        Row(
            "9e. the same, CPU of the worker+client process (for information)",
            cpu["builtin"],
            cpu["ours"],
            "s",
            "-",
            True,
            "orchestrator episodes / replayed events: "
            + ", ".join(
                f"{side} {last[side]['episodes']} / {last[side]['replayed_events']}" for side in SCALE_SIDES
            )
            + f"; ours (gather) {cpu['ours-async']:.1f} s",
            inline=cpu["inline"],
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "ADDRESS", "CONTAINER", "N"))
    args = parser.parse_args()
    if args.child:
        side, address, container, count = args.child
        print(json.dumps(child(side, address, container, int(count))))
        return 0
    from _common import print_table

    rows = run()
    print_table(rows)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
