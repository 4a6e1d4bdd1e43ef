"""7. Peak memory while externalizing one 50 MB payload (tracemalloc, above the baseline)."""

from __future__ import annotations

import gc
import tracemalloc
import uuid
from typing import Any

from _common import Row, orders_json
from _harness import Counts, builtin_store, our_store, servers
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.payload import helpers as builtin

import durabletask_payloads as dtp

SIZE = 50 * 1024 * 1024


def peak_above_baseline(walk: Any, store: Any, text: str) -> tuple[int, str]:
    """Peak traced allocation while *walk* externalizes a message holding *text*, above what was there."""
    message = pb.ActivityResponse(instanceId="big", taskId=1)
    message.result.value = text
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    walk(message, store)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    token = message.result.value
    assert store.is_known_token(token)
    return peak - baseline, token


def run() -> list[Row]:
    text = orders_json(SIZE, seed=7)[:SIZE]
    text = text[: text.rfind("}") + 1] + "]"  # still JSON-ish, exactly the shape of a real result
    with servers() as srv:
        builtin_side = builtin_store(srv.azurite, Counts(), f"mem-b-{uuid.uuid4().hex[:6]}")
        our_side = our_store(srv.azurite, Counts(), f"mem-o-{uuid.uuid4().hex[:6]}")
        # Warm both clients (connection set-up, lazy imports) so the peak is the payload's.
        builtin.externalize_payloads(_tiny(), builtin_side)
        dtp.externalize_payloads(_tiny(), our_side)
        builtin_peak, _ = peak_above_baseline(builtin.externalize_payloads, builtin_side, text)
        ours_peak, token = peak_above_baseline(
            lambda m, s: dtp.externalize_payloads(m, s, instance_id="big"), our_side, text
        )
        assert our_side.download(token) == text.encode()
        builtin_side.close()
        our_side.close()
    size = len(text.encode())
    note = (
        f"payload {size:,} bytes; peak above baseline built-in {builtin_peak / size:.2f}x the payload, "
        f"ours {ours_peak / size:.2f}x (both Azure stores on Azurite, traced Python allocations)"
    )
    return [
        Row(
            "7. peak memory, one 50 MB payload",
            builtin_peak,
            ours_peak,
            "MB",
            "ours <= 3x payload",
            ours_peak <= 3 * size,
            note,
        )
    ]


def _tiny() -> pb.ActivityResponse:
    message = pb.ActivityResponse(instanceId="warm", taskId=0)
    message.result.value = "w" * 300_000
    return message


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
