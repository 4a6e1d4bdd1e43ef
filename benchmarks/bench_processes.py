"""Several worker processes on one backend and one store: 1, 2 and 4 processes, Azurite and the filesystem.

Each worker is its own Python process running this package's ``TaskHubGrpcWorker`` with its own
store object; all of them share one in-memory backend (gRPC limits raised, run in this process)
and one store: a blob container on one Azurite (``BlobPayloadStore``) or one directory
(``FileSystemPayloadStore``, default settings, ``fsync`` on). A client process schedules every
orchestration at once (``AsyncTaskHubGrpcClient`` and ``asyncio.gather``, as ``bench_scale.py``'s
``ours-async`` side) with the workload of ``bench_load.py``: a distinct ~300 KiB input and a
fan-out of 5 activities returning ~300 KiB each. Every output is checked.

The clock runs in the client, from its first schedule to the last completion, and starts only
once every worker has reported ready and its work-item stream is open on the backend, so it
measures throughput, not start-up. Reported per store and process count: wall time,
orchestrations per second, the stored objects against the distinct payloads (a duplicate object
for one value fails the run), the uploads and downloads the workers sent (summed over them),
the work each process did and each worker's peak RSS. The worker and client processes are
``_processes.py``.

The workers keep durabletask's ``ConcurrencyOptions`` defaults: 100 x CPU count concurrent
orchestration and activity work items, and CPU count + 4 threads in the pool.

    python benchmarks/bench_processes.py [--orchestrations 100] [--processes 1,2,4]
                                         [--stores azure,filesystem] [--json FILE]

The exit status is 0 when every output checked and no value was stored twice, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import _common  # noqa: F401 - puts the repository on sys.path
from _harness import RaisedLimitsBackend, count_blobs
from _processes import waited_seconds
from bench_load import FAN_OUT

from tests.helpers import free_port
from tests.services import Azurite

CHILD = Path(__file__).resolve().parent / "_processes.py"  # the worker and client processes
STORES = ("azure", "filesystem")
READY_TIMEOUT = 120.0  # seconds for a worker process to import, start and connect
RUN_TIMEOUT = 900.0
MIB = 2**20


class StreamCountingBackend(RaisedLimitsBackend):
    """The raised-limits backend, counting the work-item streams open on it.

    A worker counts as connected when its stream is open here, on the server side, not when
    its own ``start()`` returns: only then can it take a share of the work.
    """

    def __init__(self, port: int) -> None:
        super().__init__(port=port)
        self._streams = 0
        self._changed = threading.Condition()

    def GetWorkItems(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802 - gRPC's name
        with self._changed:
            self._streams += 1
            self._changed.notify_all()
        try:
            yield from super().GetWorkItems(request, context)
        finally:
            with self._changed:
                self._streams -= 1
                self._changed.notify_all()

    def wait_for_streams(self, count: int, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._streams == count, timeout):
                raise RuntimeError(
                    f"{self._streams} work-item streams open after {timeout:.0f} s, not {count}"
                )


@contextlib.contextmanager
def backend() -> Iterator[tuple[StreamCountingBackend, str]]:
    port = free_port()
    server = StreamCountingBackend(port)
    server.start()
    logging.getLogger("durabletask.testing.in_memory_backend").setLevel(logging.ERROR)
    try:
        yield server, f"localhost:{port}"
    finally:
        server.stop(grace=None)


@contextlib.contextmanager
def azurite() -> Iterator[Azurite]:
    with tempfile.TemporaryDirectory(prefix="dtp-bench-procs-") as tmp:
        service = Azurite(Path(tmp))
        service.start()
        try:
            yield service
        finally:
            service.stop()


@dataclass
class Round:
    """One store and process count: the client's measurements and each worker's."""

    store: str
    processes: int
    orchestrations: int
    seconds: float
    schedule_seconds: float
    wrong: list[str]
    objects: int
    workers: list[dict[str, Any]]
    cpu: dict[str, float | None]  # CPU seconds on the client's clock: client, backend, Azurite
    waited: dict[str, float]  # seconds runnable but waiting for a CPU: client, backend

    @property
    def distinct(self) -> int:
        return self.orchestrations * (1 + FAN_OUT)

    @property
    def ok(self) -> bool:
        return not self.wrong and self.objects == self.distinct

    def summary(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "processes": self.processes,
            "orchestrations": self.orchestrations,
            "seconds": self.seconds,
            "schedule_seconds": self.schedule_seconds,
            "throughput": self.orchestrations / self.seconds,
            "wrong": self.wrong,
            "objects": self.objects,
            "distinct": self.distinct,
            "uploads": sum(w["uploads"] for w in self.workers),
            "downloads": sum(w["downloads"] for w in self.workers),
            "waited_seconds": {"workers": sum(w["waited_seconds"] for w in self.workers), **self.waited},
            "cpu_seconds": {"workers": sum(w["cpu_seconds"] for w in self.workers), **self.cpu},
            "workers": self.workers,
            "ok": self.ok,
        }


def _spawn(args: list[str], env: dict[str, str], stderr: IO[bytes]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        env=env,
        cwd=CHILD.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read().decode(errors="replace")[-3000:]


def _await_ready(proc: subprocess.Popen[str], stderr: IO[bytes]) -> None:
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
    line = proc.stdout.readline() if readable else ""
    if '"ready"' not in line:
        raise RuntimeError(f"a worker process did not report ready:\n{_tail(stderr)}")


def _stop(proc: subprocess.Popen[str], stderr: IO[bytes]) -> dict[str, Any]:
    """Tell a worker to stop, wait for it, and read its measurements."""
    out, _ = proc.communicate("stop\n", timeout=120)
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"a worker process failed (exit {proc.returncode}):\n{_tail(stderr)}")
    measured: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return measured


def count_objects(kind: str, target: str, service: Azurite | None) -> int:
    """Blobs in the container, or files under the root (shard directories are not counted)."""
    if kind == "azure":
        assert service is not None
        return count_blobs(service, target)
    return sum(1 for path in Path(target).rglob("*") if path.is_file())


def run_round(
    kind: str,
    processes: int,
    orchestrations: int,
    server: StreamCountingBackend,
    address: str,
    target: str,
    service: Azurite | None,
) -> Round:
    """Start *processes* workers, wait until all are connected, run the client, stop them."""
    server.reset()  # the previous round's instances (and their tokens) go
    server.wait_for_streams(0, READY_TIMEOUT)  # the previous round's workers are gone
    env = dict(os.environ)
    if service is not None:
        env["DTP_BENCH_AZURITE"] = service.connection_string
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(processes)]
        workers = [_spawn(["worker", kind, address, target], env, log) for log in logs]
        try:
            for proc, log in zip(workers, logs, strict=True):
                _await_ready(proc, log)
            server.wait_for_streams(processes, READY_TIMEOUT)
            client_log = stack.enter_context(tempfile.TemporaryFile())
            # The backend's threads are this process's only busy ones while the client runs.
            backend_cpu, azurite_cpu = time.process_time(), _service_cpu(service)
            backend_waited = waited_seconds()
            client = subprocess.run(
                [sys.executable, str(CHILD), "client", kind, address, target, str(orchestrations)],
                env=env,
                cwd=CHILD.parent,
                stdout=subprocess.PIPE,
                stderr=client_log,
                text=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
            backend_cpu = time.process_time() - backend_cpu
            backend_waited = waited_seconds() - backend_waited
            azurite_cpu = None if service is None else _service_cpu(service) - azurite_cpu
            if client.returncode != 0:
                raise RuntimeError(f"the client process failed:\n{_tail(client_log)}")
            measured = json.loads(client.stdout.strip().splitlines()[-1])
            done = [_stop(proc, log) for proc, log in zip(workers, logs, strict=True)]
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return Round(
        kind,
        processes,
        orchestrations,
        measured["seconds"],
        measured["schedule_seconds"],
        measured["wrong"],
        count_objects(kind, target, service),
        done,
        {"client": measured["cpu_seconds"], "backend": backend_cpu, "azurite": azurite_cpu},
        {"client": measured["waited_seconds"], "backend": backend_waited},
    )


def _service_cpu(service: Azurite | None) -> float:
    """CPU seconds Azurite's process has used so far (0 without one)."""
    if service is None or service.process is None:
        return 0.0
    fields = Path(f"/proc/{service.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(stores: list[str], counts: list[int], orchestrations: int, repeat: int) -> list[Round]:
    """Every store and process count *repeat* times, interleaved, so drift in the load hits all."""
    rounds: list[Round] = []
    with backend() as (server, address), contextlib.ExitStack() as stack:
        service = stack.enter_context(azurite()) if "azure" in stores else None
        for _ in range(repeat):
            for kind in stores:
                own = service if kind == "azure" else None  # Azurite idles in filesystem rounds
                for processes in counts:
                    # A store directory lasts one round (made and unused on Azure rounds).
                    with tempfile.TemporaryDirectory(prefix="dtp-bench-fs-") as directory:
                        name = f"procs-{processes}-{uuid.uuid4().hex[:8]}"
                        target = name if kind == "azure" else directory
                        rounds.append(
                            run_round(kind, processes, orchestrations, server, address, target, own)
                        )
    return rounds


def medians(rounds: list[Round]) -> list[tuple[Round, list[Round]]]:
    """Per store and process count, in run order: the round of median wall time, and all of them."""
    groups: dict[tuple[str, int], list[Round]] = {}
    for r in rounds:
        groups.setdefault((r.store, r.processes), []).append(r)
    by_time = [sorted(group, key=lambda r: r.seconds) for group in groups.values()]
    return [(group[(len(group) - 1) // 2], group) for group in by_time]


def print_rounds(rounds: list[Round], load: tuple[float, float, float]) -> None:
    table = medians(rounds)
    one = {r.store: r.seconds for r, _ in table if r.processes == 1}
    header = (
        "| store | worker processes | wall (median; min-max) | orchestrations/s | speed-up | outputs checked "
        "| objects / distinct | uploads | downloads | CPU s: workers / client / backend / Azurite "
        "| cores used | waited for a CPU, s: workers / client / backend "
        "| episodes / activities per process | peak RSS per worker, MiB (increase) |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for r, group in table:
        s = r.summary()
        speedup = f"{one[r.store] / r.seconds:.2f}x" if r.store in one else "-"
        checked = f"{sum(g.orchestrations - len(g.wrong) for g in group)} of {r.orchestrations * len(group)}"
        spread = f"{min(g.seconds for g in group):.2f}-{max(g.seconds for g in group):.2f}"
        parts = s["cpu_seconds"].values()
        cpu = " / ".join("-" if v is None else f"{v:.1f}" for v in parts)
        waited = " / ".join(f"{v:.1f}" for v in s["waited_seconds"].values())
        cores = sum(v for v in parts if v is not None) / r.seconds  # of the machine's, for all parts
        work = ", ".join(f"{w['episodes']}/{w['activities']}" for w in r.workers)
        rss = ", ".join(
            f"{w['peak_rss'] / MIB:.0f} (+{(w['peak_rss'] - w['rss_before']) / MIB:.0f})" for w in r.workers
        )
        print(
            f"| {r.store} | {r.processes} | {r.seconds:.2f} s; {spread} | {s['throughput']:.1f} | {speedup} "
            f"| {checked} | {r.objects} / {r.distinct} | {s['uploads']} | {s['downloads']} | {cpu} "
            f"| {cores:.2f} | {waited} | {work} | {rss} |"
        )
    after = os.getloadavg()
    print(
        f"\n{os.cpu_count()} CPUs; load average (1, 5, 15 min) {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"before, {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} after; {len(table[0][1])} round(s) each, "
        "interleaved; every column but the wall range is the median round's. The client's scheduling "
        "of all orchestrations took " + ", ".join(f"{r.schedule_seconds:.2f}" for r, _ in table) + " s."
    )
    for r in rounds:
        if r.wrong:
            print(f"  {r.store}, {r.processes} processes: wrong or missing outputs: {r.wrong[:5]}")
        if r.objects != r.distinct:
            print(f"  {r.store}, {r.processes} processes: {r.objects} objects, {r.distinct} payloads")


def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(allowed)}, got {text!r}")
    return names


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected process counts such as 1,2,4, got {text!r}")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orchestrations", type=int, default=100)
    parser.add_argument("--processes", type=_counts, default=[1, 2, 4])
    parser.add_argument("--stores", type=lambda text: _names(text, STORES), default=list(STORES))
    parser.add_argument("--repeat", type=int, default=3, help="rounds per case; the median is shown")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args()
    load = os.getloadavg()
    rounds = measure(args.stores, args.processes, args.orchestrations, args.repeat)
    print_rounds(rounds, load)
    if args.json:
        args.json.write_text(json.dumps([r.summary() for r in rounds], indent=2))
    return 0 if all(r.ok for r in rounds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
