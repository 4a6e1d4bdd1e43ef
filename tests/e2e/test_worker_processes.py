"""Two worker processes on one backend and one filesystem store share the work and store each value once.

The run is ``benchmarks/bench_processes.py`` itself, small: its parent hosts durabletask's real
in-memory backend over gRPC, each worker is a Python process with its own store object on one
directory, and a client process schedules the orchestrations. This proves the multi-process
case works; its speed is the benchmark's business.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_processes.py"
ORCHESTRATIONS = 10
FAN_OUT = 5  # bench_load's fan-out: activities per orchestration

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One round: 2 worker processes, the filesystem store, ORCHESTRATIONS orchestrations."""
    out = tmp_path_factory.mktemp("procs") / "result.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--orchestrations",
            str(ORCHESTRATIONS),
            "--processes",
            "2",
            "--stores",
            "filesystem",
            "--repeat",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-3000:]}"
    (only,) = json.loads(out.read_text())
    assert (only["store"], only["processes"]) == ("filesystem", 2)
    return dict(only)


class TestTwoWorkerProcesses:
    def test_every_output_is_correct(self, measured: dict[str, Any]) -> None:
        """The client checked each orchestration's output against the one computed without a worker."""
        assert measured["orchestrations"] == ORCHESTRATIONS
        assert measured["wrong"] == []

    def test_one_file_per_distinct_payload(self, measured: dict[str, Any]) -> None:
        """Each input and each activity result is stored once, though two processes wrote and read them."""
        assert measured["distinct"] == ORCHESTRATIONS * (1 + FAN_OUT)
        assert measured["objects"] == measured["distinct"]

    def test_both_processes_did_work(self, measured: dict[str, Any]) -> None:
        """Each worker process ran orchestrator episodes and activities, and no activity ran twice."""
        workers = measured["workers"]
        assert len(workers) == 2
        assert len({worker["pid"] for worker in workers}) == 2
        for worker in workers:
            assert worker["episodes"] > 0, workers
            assert worker["activities"] > 0, workers
        assert sum(worker["activities"] for worker in workers) == ORCHESTRATIONS * FAN_OUT
