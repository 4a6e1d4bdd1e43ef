"""Switch a durabletask built-in large-payload set-up over to durabletask-payloads, mid-flight.

Before: durabletask's own worker and client with its built-in
``durabletask.extensions.azure_blob_payloads.BlobPayloadStore``. One order batch
is processed to the end, another is left waiting for its approval; both leave
tokens of the built-in store in the task hub.

The switch: the built-in processes stop; with compression on, the built-in's
gzip blobs get ``Content-Encoding: gzip`` (mark_builtin_gzip.py, beside this file).

After: this package's worker and client, same container. They read the
finished batch's input and output and resume the waiting batch from what the
built-in wrote, then run a new batch. Every result is checked; the exit status
is 0 only if everything read back exactly.

    AZURE_STORAGE_CONNECTION_STRING=... python examples/migration/switch_over.py [--compression on|off]

The connection string defaults to Azurite's (``UseDevelopmentStorage=true``).
The Durable Task backend is durabletask's in-memory one, on a free port; the
same code runs against a sidecar or the Durable Task Scheduler.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import uuid
from typing import Any

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from azure.storage.blob import BlobServiceClient
from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker
from durabletask.extensions.azure_blob_payloads import BlobPayloadStore as BuiltInStore
from durabletask.extensions.azure_blob_payloads import BlobPayloadStoreOptions as BuiltInOptions
from durabletask.testing import create_test_backend
from mark_builtin_gzip import mark_builtin_gzip_blobs

import durabletask_payloads as dtp

# --- the workflow: the same code before and after the switch -----------------------------------


def total(ctx: task.ActivityContext, request: dict[str, Any]) -> dict[str, Any]:
    orders = request["orders"]
    return {
        "orders": len(orders),
        "amount": round(sum(o["qty"] * o["price"] for o in orders), 2),
        "approved_by": request["approval"]["by"],
        "notes": len(request["approval"]["notes"]),
    }


def fulfill(ctx: task.OrchestrationContext, orders: list[dict[str, Any]]) -> Any:
    approval = yield ctx.wait_for_external_event("approval")
    return (yield ctx.call_activity(total, input={"orders": orders, "approval": approval}))


def batch(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"ORD-{seed}-{n:05d}",
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "qty": rng.randrange(1, 9),
            "price": round(rng.uniform(1, 500), 2),
            "note": " ".join(
                rng.choice(["fragile", "gift", "express", "leave at door", "call first"]) for _ in range(8)
            ),
        }
        for n in range(count)
    ]


def approval(by: str, seed: int) -> dict[str, Any]:
    """An approval carrying a large audit trail: an event payload above the threshold."""
    rng = random.Random(seed)
    return {"by": by, "notes": [f"check {rng.randrange(10**9)} passed" for _ in range(12_000)]}


def expected(orders: list[dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    return total(None, {"orders": orders, "approval": event})  # type: ignore[arg-type]


# --- the two set-ups ------------------------------------------------------------------------


def start_builtin(
    address: str, connection_string: str, container: str, compression: bool
) -> tuple[Any, Any, Any]:
    store = BuiltInStore(
        BuiltInOptions(
            connection_string=connection_string, container_name=container, enable_compression=compression
        )
    )
    worker = dt_worker.TaskHubGrpcWorker(host_address=address, payload_store=store)
    worker.add_orchestrator(fulfill)
    worker.add_activity(total)
    worker.start()
    return worker, dt_client.TaskHubGrpcClient(host_address=address, payload_store=store), store


def start_ours(address: str, connection_string: str, container: str) -> tuple[Any, Any, Any]:
    # The same option names as the built-in's; only the import changes.
    store = dtp.BlobPayloadStore(
        dtp.BlobPayloadStoreOptions(connection_string=connection_string, container_name=container)
    )
    worker = dtp.TaskHubGrpcWorker(host_address=address, payload_store=store)
    worker.add_orchestrator(fulfill)
    worker.add_activity(total)
    worker.start()
    return worker, dtp.TaskHubGrpcClient(host_address=address, payload_store=store), store


def stop(worker: Any, client: Any, store: Any) -> None:
    worker.stop()
    client.close()
    store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--compression", choices=["on", "off"], default="on", help="the built-in store's setting"
    )
    parser.add_argument("--container", help="default: a new migration-<random> container")
    args = parser.parse_args()
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    container = args.container or f"migration-{uuid.uuid4().hex[:10]}"
    port = _free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    checks: list[tuple[str, bool]] = []
    orders_a, orders_b, orders_c = batch(3000, 1), batch(3000, 2), batch(3000, 3)
    event_a, event_b, event_c = approval("ana", 1), approval("ben", 2), approval("chen", 3)
    try:
        # 1. Before: durabletask's built-in store. A finishes, B waits for its approval.
        worker, client, store = start_builtin(address, connection_string, container, args.compression == "on")
        try:
            a = client.schedule_new_orchestration(fulfill, input=orders_a)
            b = client.schedule_new_orchestration(fulfill, input=orders_b)
            client.wait_for_orchestration_start(a, timeout=60)
            client.raise_orchestration_event(a, "approval", data=event_a)
            client.wait_for_orchestration_completion(a, timeout=120)
            client.wait_for_orchestration_start(b, timeout=60)
        finally:
            stop(worker, client, store)
        with BlobServiceClient.from_connection_string(connection_string) as service:
            written = [blob.name for blob in service.get_container_client(container).list_blobs()]
            print(f"built-in store (compression {args.compression}): {len(written)} blobs, e.g. {written[0]}")

            # 2. The switch: tell other readers which of those blobs are gzip.
            if args.compression == "on":
                marked = mark_builtin_gzip_blobs(service.get_container_client(container))
                print(f"marked {len(marked)} built-in gzip blob(s) as Content-Encoding: gzip")
                checks.append(("every built-in blob was marked", sorted(marked) == sorted(written)))

        # 3. After: this package, same container.
        worker, client, store = start_ours(address, connection_string, container)
        try:
            state_a = client.get_orchestration_state(a)
            checks.append(
                (
                    "A's input, written by the built-in, reads back",
                    json.loads(state_a.serialized_input) == orders_a,
                )
            )
            checks.append(
                (
                    "A's output reads back",
                    json.loads(state_a.serialized_output) == expected(orders_a, event_a),
                )
            )
            client.raise_orchestration_event(b, "approval", data=event_b)
            state_b = client.wait_for_orchestration_completion(b, timeout=120)
            checks.append(
                (
                    "B resumed from the built-in's blobs",
                    json.loads(state_b.serialized_output) == expected(orders_b, event_b),
                )
            )
            c = client.schedule_new_orchestration(fulfill, input=orders_c)
            client.wait_for_orchestration_start(c, timeout=60)
            client.raise_orchestration_event(c, "approval", data=event_c)
            state_c = client.wait_for_orchestration_completion(c, timeout=120)
            checks.append(
                (
                    "C ran on durabletask-payloads alone",
                    json.loads(state_c.serialized_output) == expected(orders_c, event_c),
                )
            )
        except dtp.PayloadError as exc:
            checks.append((f"reading back: {exc}", False))
        finally:
            stop(worker, client, store)
    finally:
        backend.stop(grace=None)
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if checks and all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
