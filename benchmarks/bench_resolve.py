"""3. Resolving a message with 50 tokens against a store that takes 20 ms per call."""

from __future__ import annotations

import time

from _common import Row, best_time, orders_json
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.payload import helpers as builtin

import durabletask_payloads as dtp

LATENCY = 0.020


class SlowStore(dtp.InMemoryPayloadStore):
    """An in-memory store with 20 ms of network latency on every download."""

    def download(self, token: str) -> bytes:
        time.sleep(LATENCY)  # the simulated round trip of one request
        return super().download(token)


def run() -> list[Row]:
    options = dtp.LargePayloadStorageOptions(threshold_bytes=1024)
    writer = dtp.InMemoryPayloadStore(options)
    request = pb.OrchestratorRequest(instanceId="fan-in")
    originals = []
    for i in range(50):
        payload = orders_json(300 * 1024, seed=100 + i)
        originals.append(payload)
        event = request.newEvents.add(eventId=-1)
        event.taskCompleted.taskScheduledId = i
        event.taskCompleted.result.value = writer.upload(payload.encode(), instance_id="fan-in")

    def fresh_reader() -> SlowStore:
        # The same stored objects, a cold cache: every token costs one slow call.
        reader = SlowStore(options)
        reader._objects = writer._objects
        return reader

    def resolve(walk: object, reader: SlowStore) -> None:
        message = pb.OrchestratorRequest()
        message.CopyFrom(request)
        walk(message, reader)  # type: ignore[operator]
        assert [e.taskCompleted.result.value for e in message.newEvents] == originals

    t_builtin = best_time(lambda: resolve(builtin.deexternalize_payloads, fresh_reader()), repeat=3)
    t_ours = best_time(lambda: resolve(dtp.deexternalize_payloads, fresh_reader()), repeat=5)
    note = (
        f"50 tokens of ~300 KB each, {LATENCY * 1000:.0f} ms per store call; built-in resolves them one "
        f"after another, ours {options.max_concurrency} at a time (max_concurrency) with a cold cache"
    )
    return [
        Row(
            "3. resolve 50 tokens, 20 ms per call",
            t_builtin,
            t_ours,
            "ms",
            ">= 10x",
            t_builtin / t_ours >= 10,
            note,
        )
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
