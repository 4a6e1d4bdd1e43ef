"""gc over 10,000 payloads: its cost grows with the instances, not with the payloads.

2,000 payloads are referred to by 200 orchestrations; 8,000 are left by
instances that are gone. The RPCs are counted on the command's own channel.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import grpc
import pytest

from durabletask_payloads import FileSystemPayloadStore
from durabletask_payloads._cli import main

from ..conftest import Backend
from . import workflows as wf
from .conftest import COMPLETED, OPTIONS, CountingInterceptor, Site, new_id

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INSTANCES, ORPHANS = 200, 8_000


def test_gc_over_ten_thousand_payloads(
    fresh_backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "payloads"
    site = Site(
        "filesystem", fresh_backend.address, lambda: FileSystemPayloadStore(root, OPTIONS), f"file:{root}"
    )
    try:
        site.worker(orchestrators=(wf.fan,), activities=(wf.grow,))
        client = site.client()
        ids = [client.schedule_new_orchestration(wf.fan, input=new_id("fan")) for _ in range(INSTANCES)]
        for instance_id in ids:
            state = client.wait_for_orchestration_completion(instance_id, timeout=120)
            assert state is not None and state.runtime_status == COMPLETED
        store = site.store()
        live = set(store.list_payloads())
        assert len(live) == 10 * INSTANCES
        for start in range(0, ORPHANS, 500):
            store.upload_many(
                [f"orphan-{n}:".encode() + b"o" * 2000 for n in range(start, start + 500)],
                instance_id=f"gone-{start}",
            )

        counter = CountingInterceptor()
        plain = grpc.insecure_channel
        monkeypatch.setattr(
            grpc, "insecure_channel", lambda target: grpc.intercept_channel(plain(target), counter)
        )
        out, err = io.StringIO(), io.StringIO()
        argv = [
            "gc",
            "--store",
            site.spec,
            "--backend",
            site.address,
            "--older-than",
            "0s",
            "--delete",
            "--json",
        ]
        began = time.perf_counter()
        code = main(argv, out=out, err=err)
        elapsed = time.perf_counter() - began
        monkeypatch.undo()

        assert code == 0, err.getvalue()
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert len(lines) == 10 * INSTANCES + ORPHANS + 1
        summary = lines[-1]
        assert (summary["referenced"], summary["deleted"], summary["failed"]) == (10 * INSTANCES, ORPHANS, 0)
        assert {info.token for info in site.store().list_payloads()} == {info.token for info in live}
        # Two listings of the orchestrations (2 pages each), a history each, two listings of the entities.
        assert counter.calls == {"QueryInstances": 4, "StreamInstanceHistory": INSTANCES, "QueryEntities": 2}
        with capsys.disabled():
            print(f"\ngc over {10 * INSTANCES + ORPHANS} payloads: {elapsed:.1f} s, {counter.total} RPCs")
    finally:
        site.close()
