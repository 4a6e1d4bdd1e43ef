"""A worker killed (SIGKILL) after uploading a payload and before completing its work item.

The work item goes to another worker and completes; nothing is lost or done twice.
The payload the dead worker uploaded is referenced by nothing: after the purge,
the clean-up command finds it and deletes it.
"""

from __future__ import annotations

import io
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from durabletask import client as dt_client
from durabletask import task

from durabletask_payloads import (
    FileSystemPayloadStore,
    LargePayloadStorageOptions,
    TaskHubGrpcClient,
    TaskHubGrpcWorker,
)
from durabletask_payloads._cli import main as cli

from ..helpers import free_port
from ..redelivery import RedeliveringBackend, start_redelivering_backend
from ..services import ROOT

pytestmark = pytest.mark.e2e

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)

# The activity worker that dies: it stores its result, says so, and hangs before completing.
DOOMED_WORKER = """
import os, sys, threading
from durabletask_payloads import FileSystemPayloadStore, LargePayloadStorageOptions, TaskHubGrpcWorker

class HangAfterUpload(FileSystemPayloadStore):
    def upload(self, data, *, instance_id=None):
        token = super().upload(data, instance_id=instance_id)
        if b"report-from-" in data:
            print("UPLOADED", token, flush=True)
            threading.Event().wait()  # stuck between the upload and CompleteActivityTask
        return token

def build_report(ctx, order_count):
    lines = [{"n": n, "note": "x" * 60} for n in range(order_count)]
    return {"by": f"report-from-{os.getpid()}", "orders": lines}

store = HangAfterUpload(sys.argv[2], LargePayloadStorageOptions(threshold_bytes=1024))
worker = TaskHubGrpcWorker(host_address=sys.argv[1], payload_store=store)
worker.add_activity(build_report)
worker.use_work_item_filters()
worker.start()
print("READY", flush=True)
threading.Event().wait()
"""


def build_report(ctx: task.ActivityContext, order_count: int) -> dict[str, object]:
    import os

    return {
        "by": f"report-from-{os.getpid()}",
        "orders": [{"n": n, "note": "x" * 60} for n in range(order_count)],
    }


def report_orders(ctx: task.OrchestrationContext, order_count: int) -> object:
    report = yield ctx.call_activity("build_report", input=order_count)
    return {"by": report["by"], "count": len(report["orders"])}


@pytest.fixture
def backend() -> Iterator[RedeliveringBackend]:
    server = start_redelivering_backend(free_port())
    yield server
    server.stop(grace=None)


def _read_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the worker process said nothing"
    return process.stdout.readline().strip()


def test_a_killed_workers_item_is_redelivered_and_its_orphan_collected(
    backend: RedeliveringBackend, tmp_path: Path
) -> None:
    address = f"localhost:{backend._port}"
    root = tmp_path / "payloads"
    store = FileSystemPayloadStore(root, OPTIONS)
    orchestrator_worker = TaskHubGrpcWorker(host_address=address, payload_store=store)
    orchestrator_worker.add_orchestrator(report_orders)
    orchestrator_worker.use_work_item_filters()
    orchestrator_worker.start()
    doomed = subprocess.Popen(
        [sys.executable, "-c", DOOMED_WORKER, address, str(root)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    rescuer: TaskHubGrpcWorker | None = None
    try:
        assert _read_line(doomed) == "READY"
        with TaskHubGrpcClient(host_address=address, payload_store=store) as client:
            instance_id = client.schedule_new_orchestration(report_orders, input=300)
            word, orphan = _read_line(doomed).split()
            assert word == "UPLOADED"
            doomed.kill()  # SIGKILL: no goodbye, no abandon
            doomed.wait(timeout=30)
            # Another activity worker arrives; the backend hands it the unfinished item.
            rescuer = TaskHubGrpcWorker(
                host_address=address, payload_store=FileSystemPayloadStore(root, OPTIONS)
            )
            rescuer.add_activity(build_report)
            rescuer.use_work_item_filters()
            rescuer.start()
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
            output = json.loads(state.serialized_output or "null")
            import os

            assert output == {"by": f"report-from-{os.getpid()}", "count": 300}  # the rescuer's, once
            assert [k[:2] for k in backend.redelivered if k[0] == "activity"] == [("activity", instance_id)]
            assert store.inspect(orphan).instance_id == instance_id  # the dead worker's upload is still there

            client.purge_orchestration(instance_id)  # deletes what the history refers to
        assert store.inspect(orphan).size  # ...but not the orphan, which nothing refers to
        out, err = io.StringIO(), io.StringIO()
        args = ["gc", "--store", f"file:{root}", "--backend", address, "--older-than", "0s"]
        assert cli(args, out=out, err=err) == 0
        assert out.getvalue().split("\t")[0] == orphan
        # The purge emptied the backend: gc deletes from a store no instance uses only with --force.
        assert cli([*args, "--delete", "--force"], out=io.StringIO(), err=io.StringIO()) == 0
        assert list(store.list_payloads()) == []
    finally:
        doomed.kill()
        if rescuer is not None:
            rescuer.stop()
        orchestrator_worker.stop()
