"""The worker and client processes of ``bench_processes.py``, one store object each.

    python benchmarks/_processes.py worker STORE ADDRESS TARGET
    python benchmarks/_processes.py client STORE ADDRESS TARGET ORCHESTRATIONS

STORE is ``azure`` (TARGET a container of the Azurite named by ``DTP_BENCH_AZURITE``) or
``filesystem`` (TARGET a directory). A worker prints one JSON line when started, runs until a
line (or end of file) on its stdin, then prints its measurements; the client prints its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import resource
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import _common  # noqa: F401 - puts the repository on sys.path
from _harness import Counts, _Counting, make_worker, our_store
from bench_load import FAN_OUT, digest, make_part, payload, pipeline
from bench_scale import _rss_now, _schedule_async

import durabletask_payloads as dtp


class CountingFileSystem(_Counting, dtp.FileSystemPayloadStore):
    """The filesystem store, counting the uploads and downloads it sends (like ``CountingOurs``)."""

    def __init__(self, root: str, counts: Counts) -> None:
        super().__init__(root)
        self.counts = counts


def make_counting_store(kind: str, target: str, counts: Counts) -> Any:
    """The store of *kind* on *target*: a container of the parent's Azurite, or a directory."""
    if kind == "azure":
        # The stores read only the connection string of the Azurite the parent process runs.
        azurite = SimpleNamespace(connection_string=os.environ["DTP_BENCH_AZURITE"])
        return our_store(azurite, counts, target)  # type: ignore[arg-type]
    return CountingFileSystem(target, counts)


@dataclass
class Work:
    """What one worker process executed: orchestrator episodes and activities."""

    episodes: int = 0
    activities: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def counted(work: Work) -> tuple[Any, Any]:
    """``pipeline`` and ``make_part`` under their own names, counting their calls in *work*."""

    @functools.wraps(pipeline)
    def orchestrator(ctx: Any, batch: dict[str, Any]) -> Any:
        work.add("episodes")
        return (yield from pipeline(ctx, batch))

    @functools.wraps(make_part)
    def activity(ctx: Any, request: dict[str, Any]) -> Any:
        work.add("activities")
        return make_part(ctx, request)

    return orchestrator, activity


def worker_child(kind: str, address: str, target: str) -> None:
    """One worker process: ready on stdout, runs until stdin says stop, then its measurements."""
    counts, work = Counts(), Work()
    store = make_counting_store(kind, target, counts)
    worker = make_worker("ours", address, store)
    orchestrator, activity = counted(work)
    worker.add_orchestrator(orchestrator)
    worker.add_activity(activity)
    baseline = _rss_now()
    worker.start()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    cpu, waited = _cpu_seconds(), waited_seconds()
    sys.stdin.readline()  # "stop", or end of file when the parent is gone
    cpu, waited = _cpu_seconds() - cpu, waited_seconds() - waited  # the round's, not start-up
    worker.stop()
    store.close()
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "episodes": work.episodes,
                "activities": work.activities,
                "uploads": counts.uploads,
                "downloads": counts.downloads,
                "cpu_seconds": cpu,
                "waited_seconds": waited,
                "rss_before": baseline,
                "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        ),
        flush=True,
    )


def expected_output(instance_id: str, batch: Any) -> dict[str, Any]:
    """What ``pipeline`` returns for *batch*, computed here without a worker."""
    return {
        "input": digest(json.dumps(batch)),
        "parts": [
            digest(json.dumps(make_part(None, {"instance": instance_id, "part": i})))  # type: ignore[arg-type]
            for i in range(FAN_OUT)
        ],
    }


def client_child(kind: str, address: str, target: str, orchestrations: int) -> None:
    """The client process: schedules every orchestration at once, waits for all, checks them."""
    # Made before the clock starts; each instance's id heads its payloads, so none are equal.
    ids = [f"procs-{n:04d}-{uuid.uuid4().hex[:6]}" for n in range(orchestrations)]
    batches = {instance_id: json.loads(payload("input", instance_id, -1)) for instance_id in ids}
    expected = {instance_id: expected_output(instance_id, batch) for instance_id, batch in batches.items()}
    store = make_counting_store(kind, target, Counts())
    cpu, waited, started = _cpu_seconds(), waited_seconds(), time.perf_counter()
    scheduled, outputs = asyncio.run(_schedule_async(address, store, batches))
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    store.close()
    wrong = [instance_id for instance_id in batches if outputs.get(instance_id) != expected[instance_id]]
    measured = {"seconds": seconds, "schedule_seconds": scheduled, "cpu_seconds": cpu, "wrong": wrong}
    measured["waited_seconds"] = waited_seconds() - waited
    print(json.dumps(measured), flush=True)


def waited_seconds(pid: int | str = "self") -> float:
    """Seconds the live threads of process *pid* spent runnable but waiting for a CPU.

    From the scheduler's statistics (``/proc/PID/task/*/schedstat``, its second field): the
    time a thread was ready to run while the CPUs were busy with other work. Threads that have
    exited are not counted, so this is a lower bound; 0 where the kernel does not report it.
    """
    total = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just exited
            total += int(path.read_text().split()[1])
    return total / 1e9


def _cpu_seconds() -> float:
    """CPU time of this process so far, user and system, every thread."""
    times = os.times()
    return times.user + times.system


def main() -> int:
    role, *args = sys.argv[1:]
    if role == "worker":
        worker_child(*args)
    elif role == "client":
        kind, address, target, count = args
        client_child(kind, address, target, int(count))
    else:
        raise SystemExit(f"unknown role {role!r}: expected worker or client")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
