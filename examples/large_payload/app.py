"""A fulfillment batch of several megabytes flows through two activities.

Runs on the embedded defaults: durabletask's in-memory backend (real gRPC on
localhost) and a FileSystemPayloadStore in a temporary directory. The same
code runs against a sidecar or the Durable Task Scheduler by changing the
host address, and against Azure Blob Storage by changing the store.

    python examples/large_payload/app.py [--orders 500]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import socket
import tempfile
from collections import Counter
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep gRPC's shutdown chatter out of the table

import grpc
from durabletask import client as dt_client
from durabletask import task
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.internal import orchestrator_service_pb2_grpc as stubs
from durabletask.testing import create_test_backend

import durabletask_payloads as dtp

CITIES = ["Lisbon", "Berlin", "Osaka", "Madrid", "Accra", "Montréal", "Kraków", "Shenzhen"]
PRODUCTS = ["desk lamp", "trail shoes", "espresso grinder", "wool blanket", "keyboard", "rain jacket"]
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "gre", "stan", "bel", "or"]
WORDS = ["".join(random.Random(i).choices(_SYLLABLES, k=1 + i % 4)) for i in range(400)]


def make_batch(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Orders with names, addresses and line items: realistic, not trivially compressible."""
    rng = random.Random(seed)
    batch = []
    for n in range(count):
        lines = [
            {
                "sku": f"SKU-{rng.randrange(10**6):06d}",
                "product": rng.choice(PRODUCTS),
                "qty": rng.randrange(1, 5),
                "unit_price": round(rng.uniform(3, 400), 2),
                "notes": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(30, 90))),
            }
            for _ in range(rng.randrange(10, 30))
        ]
        batch.append(
            {
                "order_id": f"ORD-{n:06d}",
                "customer": {"id": rng.randrange(10**8), "email": f"c{rng.randrange(10**9)}@example.com"},
                "ship_to": {
                    "street": f"{rng.randrange(1, 999)} Rua {rng.randrange(10**5)}",
                    "city": rng.choice(CITIES),
                },
                "lines": lines,
            }
        )
    return batch


# --- the workflow: ordinary durabletask code, nothing payload-specific ------------------------


def validate_orders(ctx: task.ActivityContext, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Price every order and flag the ones to hold; returns the whole batch, enriched."""
    for order in batch:
        order["total"] = round(sum(line["qty"] * line["unit_price"] for line in order["lines"]), 2)
        order["hold"] = order["total"] > 15_000
    return batch


def plan_shipments(ctx: task.ActivityContext, batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Group the orders that can ship by city; returns a small summary."""
    shipping = [order for order in batch if not order["hold"]]
    return {
        "orders": len(batch),
        "on_hold": len(batch) - len(shipping),
        "revenue": round(sum(order["total"] for order in shipping), 2),
        "shipments_by_city": dict(sorted(Counter(o["ship_to"]["city"] for o in shipping).items())),
    }


def fulfill(ctx: task.OrchestrationContext, batch: list[dict[str, Any]]) -> Any:
    validated = yield ctx.call_activity(validate_orders, input=batch)
    summary = yield ctx.call_activity(plan_shipments, input=validated)
    return summary


# --- the demo -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _without_a_store(address: str, batch: list[dict[str, Any]]) -> str:
    """What plain durabletask does with the same batch."""
    with dt_client.TaskHubGrpcClient(host_address=address, logger=_quiet_logger()) as plain:
        try:
            plain.schedule_new_orchestration(fulfill, input=batch)
        except grpc.RpcError as exc:
            return f"refused: {exc.code().name} (the gRPC message limit is 4 MiB by default)"
    return "accepted (the batch fits in one gRPC message)"


def _inline_references(address: str, instance_id: str, store: dtp.PayloadStore) -> list[str]:
    """The tokens the backend holds for the instance, in its state and its history."""
    with grpc.insecure_channel(address) as channel:
        stub = stubs.TaskHubSidecarServiceStub(channel)
        state = stub.GetInstance(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True))
        history = pb.HistoryChunk()
        for chunk in stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=instance_id)):
            history.events.extend(chunk.events)
    found: list[str] = []
    for message in (state, *history.events):
        found += dtp.payload_tokens(message, store)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=500, help="orders in the batch (default 500)")
    args = parser.parse_args()

    batch = make_batch(args.orders)
    batch_bytes = len(json.dumps(batch).encode())
    port = _free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    root = tempfile.mkdtemp(prefix="durabletask-payloads-demo-")
    store = dtp.FileSystemPayloadStore(root)

    worker = dtp.TaskHubGrpcWorker(host_address=address, payload_store=store, logger=_quiet_logger())
    worker.add_orchestrator(fulfill)
    worker.add_activity(validate_orders)
    worker.add_activity(plan_shipments)
    worker.start()
    try:
        plain = _without_a_store(address, batch)
        with dtp.TaskHubGrpcClient(
            host_address=address, payload_store=store, logger=_quiet_logger()
        ) as client:
            instance_id = client.schedule_new_orchestration(fulfill, input=batch)
            state = client.wait_for_orchestration_completion(instance_id, timeout=120)
        if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
            raise SystemExit(f"the orchestration did not complete: {state}")
        result = json.loads(state.serialized_output or "null")
        stored = list(store.list_payloads())
        tokens = _inline_references(address, instance_id, store)
    finally:
        worker.stop()
        backend.stop()

    rows = [
        ("batch", f"{args.orders} orders, {batch_bytes:,} bytes of JSON"),
        ("plain durabletask", plain),
        ("with payload_store=", f"{state.runtime_status.name}, store FileSystemPayloadStore({root})"),
        (
            "payloads externalized",
            f"{len(stored)} stored objects, {len(tokens)} references in state and history",
        ),
        ("bytes of payload data", f"{sum(i.size or 0 for i in stored):,} (what the stored objects hold)"),
        ("bytes stored", f"{sum(i.stored_size for i in stored):,} (gzip)"),
        ("bytes inline", f"{sum(len(t) for t in tokens):,} (the tokens the backend holds)"),
        ("result", json.dumps(result, ensure_ascii=False)),
    ]
    width = max(len(name) for name, _ in rows)
    print("durabletask-payloads demo: a fulfillment batch through two activities\n")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("demo.durabletask")
    logger.setLevel(logging.ERROR)
    return logger


if __name__ == "__main__":
    main()
