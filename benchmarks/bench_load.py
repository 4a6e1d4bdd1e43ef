"""Load: 200 orchestrations at once, each with a distinct ~300 KB input and a fan-out of 5 activities
returning ~300 KB each, against Azurite on this machine. Every output is checked.

    python benchmarks/bench_load.py [--orchestrations 200]

Prints the wall time, the process's peak memory, and the blobs written against the distinct
payloads that moved. Not a comparison: the built-in implementation is not run here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import time
import uuid
from typing import Any

from _common import orders_json, text_json
from _harness import QUIET, Counts, our_store, servers
from durabletask import client as dt_client
from durabletask import task
from durabletask.worker import ConcurrencyOptions

import durabletask_payloads as dtp

FAN_OUT = 5
# Realistic JSON of ~300 KB made once; each payload gets a distinct head, so no two are equal.
# BENCH_BODY=text makes it one string of words instead: parsing it costs next to nothing, so
# what the payloads' transfers cost shows more (bench_scale.py).
BODY_KIND = os.environ.get("BENCH_BODY", "orders")
if BODY_KIND not in ("orders", "text"):
    raise SystemExit(f"BENCH_BODY must be 'orders' or 'text', got {BODY_KIND!r}")
BODY = text_json(300 * 1024, seed=42) if BODY_KIND == "text" else orders_json(300 * 1024, seed=42)


def payload(kind: str, instance: str, part: int) -> str:
    return f'{{"kind": "{kind}", "instance": "{instance}", "part": {part}, "orders": {BODY}}}'


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_part(ctx: task.ActivityContext, request: dict[str, Any]) -> Any:
    return json.loads(payload("result", request["instance"], request["part"]))


def pipeline(ctx: task.OrchestrationContext, batch: dict[str, Any]) -> Any:
    parts = yield task.when_all(
        [
            ctx.call_activity(make_part, input={"instance": batch["instance"], "part": i})
            for i in range(FAN_OUT)
        ]
    )
    return {
        "input": digest(json.dumps(batch)),
        "parts": [digest(json.dumps(part)) for part in parts],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orchestrations", type=int, default=200)
    args = parser.parse_args()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with servers() as srv:
        counts = Counts()
        container = f"load-{uuid.uuid4().hex[:8]}"
        store = our_store(srv.azurite, counts, container)
        worker = dtp.TaskHubGrpcWorker(
            host_address=srv.address,
            payload_store=store,
            logger=QUIET,
            concurrency_options=ConcurrencyOptions(
                maximum_concurrent_activity_work_items=32, maximum_concurrent_orchestration_work_items=32
            ),
        )
        worker.add_orchestrator(pipeline)
        worker.add_activity(make_part)
        worker.start()
        client = dtp.TaskHubGrpcClient(host_address=srv.address, payload_store=store, logger=QUIET)
        batches = {
            f"load-{n:04d}": json.loads(payload("input", f"load-{n:04d}", -1))
            for n in range(args.orchestrations)
        }
        errors: list[str] = []
        started = time.perf_counter()
        try:
            for instance_id, batch in batches.items():
                client.schedule_new_orchestration(pipeline, input=batch, instance_id=instance_id)
            for instance_id, batch in batches.items():
                state = client.wait_for_orchestration_completion(instance_id, timeout=900)
                if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
                    errors.append(f"{instance_id}: {state.runtime_status if state else 'missing'}")
                    continue
                expected = {
                    "input": digest(json.dumps(batch)),
                    "parts": [
                        digest(json.dumps(make_part(None, {"instance": instance_id, "part": i})))  # type: ignore[arg-type]
                        for i in range(FAN_OUT)
                    ],
                }
                if json.loads(state.serialized_output or "null") != expected:
                    errors.append(f"{instance_id}: wrong output")
            elapsed = time.perf_counter() - started
        finally:
            worker.stop()
            client.close()
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(srv.azurite.connection_string) as service:
            blobs = sum(1 for _ in service.get_container_client(container).list_blobs())
        store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    distinct = args.orchestrations * (1 + FAN_OUT)
    print(f"orchestrations        {args.orchestrations} started at once, fan-out of {FAN_OUT} each")
    print(f"payload size          ~{len(BODY) // 1024} KB each (inputs and activity results)")
    done = args.orchestrations - len(errors)
    print(f"completed, checked    {done} of {args.orchestrations}; errors: {len(errors)}")
    for error in errors[:10]:
        print(f"  {error}")
    print(f"wall time             {elapsed:.1f} s ({args.orchestrations / elapsed:.1f} orchestrations/s)")
    print(f"peak memory (RSS)     {peak_kib / 1024:.0f} MiB (before the run: {rss_before / 1024:.0f} MiB)")
    print(f"blobs written         {blobs} for {distinct} distinct payloads")
    print(f"store transfers       {counts.uploads} uploads, {counts.downloads} downloads")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
