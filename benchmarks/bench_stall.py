"""8. Head-of-line: a payload-free orchestration's latency while another one's download is stalled 3 s.

One worker, a cold store. Orchestration A has a large input; the worker's first
download (A's) is held 3 s (the injected fault). As soon as it has begun, B, with
a small input, is scheduled, and the time from scheduling B to B's completion
is measured: durabletask's built-in (which resolves inside its executor), ours,
and ours without the stall. Median of seven rounds.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import _common  # noqa: F401 - puts the repository on sys.path
from _common import Row, orders_json
from _harness import (
    LARGE,
    QUIET,
    BuiltInOptions,
    CountingBuiltIn,
    CountingOurs,
    Counts,
    Servers,
    builtin_store,
    our_store,
    servers,
)
from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker

import durabletask_payloads as dtp

STALL_SECONDS = 3.0
ROUNDS = 7
BIG = orders_json(400 * 1024, seed=77)


def measure(ctx: task.OrchestrationContext, value: Any) -> int:
    return len(value)


class _Stalling:
    """Holds the first download for ``stall`` seconds (mixed in before the store class)."""

    stall: float = 0.0
    entered: threading.Event

    def download(self, token: str) -> bytes:
        if self.stall and not self.entered.is_set():
            self.entered.set()
            time.sleep(self.stall)  # the injected fault: a slow blob
        return super().download(token)  # type: ignore[misc, no-any-return]


class StallingBuiltIn(_Stalling, CountingBuiltIn):
    pass


class StallingOurs(_Stalling, CountingOurs):
    pass


def _stalling_store(srv: Servers, side: str, counts: Counts, container: str, stall: float) -> Any:
    store: Any
    if side == "builtin":
        options = BuiltInOptions(
            connection_string=srv.azurite.connection_string,
            container_name=container,
            max_stored_payload_bytes=LARGE,
        )
        store = StallingBuiltIn(options, counts)
    else:
        ours = dtp.BlobPayloadStoreOptions(
            connection_string=srv.azurite.connection_string,
            container_name=container,
            max_stored_payload_bytes=LARGE,
        )
        store = StallingOurs(ours, counts)
    store.stall, store.entered = stall, threading.Event()
    return store


def _round(srv: Servers, side: str, stall: float) -> float:
    counts = Counts()
    container = f"stall-{side}-{time.monotonic_ns()}"
    writer = (builtin_store if side == "builtin" else our_store)(srv.azurite, counts, container)
    store = _stalling_store(srv, side, counts, container, stall)  # a fresh worker store: nothing cached
    worker_cls: Any = dt_worker.TaskHubGrpcWorker if side == "builtin" else dtp.TaskHubGrpcWorker
    client_cls: Any = dt_client.TaskHubGrpcClient if side == "builtin" else dtp.TaskHubGrpcClient
    with client_cls(host_address=srv.address, payload_store=writer, logger=QUIET) as client:
        worker = worker_cls(host_address=srv.address, payload_store=store, logger=QUIET)
        worker.add_orchestrator(measure)
        worker.start()
        try:
            slow_id = client.schedule_new_orchestration(measure, input=BIG)
            if stall:
                if not store.entered.wait(60):
                    raise RuntimeError(f"{side}: the stalled download never began")
            else:
                client.wait_for_orchestration_completion(slow_id, timeout=60)
            start = time.perf_counter()
            free_id = client.schedule_new_orchestration(measure, input="small")
            state = client.wait_for_orchestration_completion(free_id, timeout=60)
            seconds = time.perf_counter() - start
            if state is None or state.runtime_status != dt_client.OrchestrationStatus.COMPLETED:
                raise RuntimeError(f"{side}: the payload-free orchestration did not complete")
            client.wait_for_orchestration_completion(slow_id, timeout=60)
            return seconds
        finally:
            worker.stop()
            store.close()
            writer.close()


def run() -> list[Row]:
    with servers() as srv:
        builtin = statistics.median(_round(srv, "builtin", STALL_SECONDS) for _ in range(ROUNDS))
        ours = statistics.median(_round(srv, "ours", STALL_SECONDS) for _ in range(ROUNDS))
        calm = statistics.median(_round(srv, "ours", 0.0) for _ in range(ROUNDS))
    return [
        Row(
            f"8. payload-free latency, another download stalled {STALL_SECONDS:g} s",
            builtin,
            ours,
            "ms",
            "<= built-in, +100 ms",
            ours <= builtin and ours - calm <= 0.1,
            f"ours without the stall {calm * 1000:.0f} ms; with it {(ours - calm) * 1000:+.0f} ms",
        ),
    ]


if __name__ == "__main__":
    from _common import print_table

    print_table(run())
