"""``serve --secure --metadata``: the viewer reaches a TLS backend and sends the metadata on every call.

The backend is the real in-memory one, also served on a TLS port (a self-signed certificate for
localhost, trusted through ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``) by a server that records the
metadata of each call.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from durabletask_payloads._cli import main
from durabletask_payloads._viewer import create_app
from durabletask_payloads._viewer_backend import parse_metadata

from ..conftest import Backend
from ..helpers import free_port, self_signed
from ..services import ROOT
from .conftest import Ledger
from .server import call, quote, serve

pytestmark = pytest.mark.e2e


def _certificate(directory: Path) -> tuple[bytes, bytes, Path]:
    key_pem, pem = self_signed("localhost")
    path = directory / "ca.pem"
    path.write_bytes(pem)
    return key_pem, pem, path


@dataclass
class Recorder(grpc.ServerInterceptor):
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        with self.lock:
            self.calls.append((details.method.rsplit("/", 1)[1], dict(details.invocation_metadata)))
        return continuation(details)


@dataclass
class TlsBackend:
    address: str
    ca: Path
    recorder: Recorder


@pytest.fixture(scope="module")
def tls_backend(own_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBackend]:
    """The same in-memory backend, on a second port, with TLS only."""
    key, cert, ca = _certificate(tmp_path_factory.mktemp("tls"))
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[recorder])
    stubs.add_TaskHubSidecarServiceServicer_to_server(own_backend.server, server)  # type: ignore[no-untyped-call]
    port = free_port()
    server.add_secure_port(f"localhost:{port}", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    yield TlsBackend(f"localhost:{port}", ca, recorder)
    server.stop(grace=None)


def _get_until_up(url: str, path: str, process: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + 30
    while True:
        try:
            return call(url, "GET", path)
        except (ConnectionRefusedError, urllib.error.URLError):
            assert process.poll() is None, "serve exited"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_serve_reads_an_instance_over_tls_with_metadata(ledger: Ledger, tls_backend: TlsBackend) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "durabletask_payloads", "serve",
        "--store", f"file:{ledger.root}", "--port", str(port),
        "--backend", tls_backend.address, "--secure",
        "--taskhub", "orders", "--metadata", "X-Api-Key=k3y=with=equals",
    ]  # fmt: skip
    env = {**os.environ, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(tls_backend.ca)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert f"backend: {tls_backend.address} (TLS)" in banner and "k3y" not in banner
        before = len(tls_backend.recorder.calls)
        answer = _get_until_up(f"http://127.0.0.1:{port}", f"/instances/{quote(ledger.instance_id)}", process)
        assert answer.status == 200, answer.body
        data = json.loads(answer.body)
        assert (data["name"], data["runtime_status"]) == ("ledger", "FAILED")
        assert [e["kind"] for e in data["events"]] == [e.WhichOneof("eventType") for e in ledger.events]
        calls = tls_backend.recorder.calls[before:]
        assert [method for method, _ in calls] == ["GetInstance", "StreamInstanceHistory"]
        for _, metadata in calls:
            assert metadata["taskhub"] == "orders" and metadata["x-api-key"] == "k3y=with=equals"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_without_secure_a_tls_backend_is_unavailable_and_the_message_says_so(
    ledger: Ledger, tls_backend: TlsBackend
) -> None:
    for url in serve(create_app(ledger.store, backend=tls_backend.address)):
        answer = call(url, "GET", f"/instances/{quote(ledger.instance_id)}")
        assert answer.status == 502
        assert "UNAVAILABLE" in answer.error() and "--secure" in answer.error()


def test_with_secure_a_plaintext_backend_is_unavailable(ledger: Ledger) -> None:
    for url in serve(create_app(ledger.store, backend=ledger.address, secure=True)):
        answer = call(url, "GET", f"/instances/{quote(ledger.instance_id)}")
        assert answer.status == 502 and "(TLS)" in answer.error()


class TestMetadataArguments:
    def test_pairs(self) -> None:
        assert parse_metadata(["taskhub=a", "X-Key= b=c", "empty="]) == [
            ("taskhub", "a"),
            ("x-key", " b=c"),
            ("empty", ""),
        ]

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            ("novalue", "KEY=VALUE"),
            ("=v", "KEY=VALUE"),
            ("bad key=v", "'bad key'"),
            ("trace-bin=AAAA", "binary"),
            ("k=caf\u00e9", "printable ASCII"),
        ],
    )
    def test_bad_entries_are_refused_without_their_value(self, entry: str, message: str) -> None:
        with pytest.raises(ValueError, match="--metadata") as raised:
            parse_metadata([entry])
        assert message in str(raised.value)
        if "=" in entry and entry.split("=", 1)[1]:
            assert entry.split("=", 1)[1] not in str(raised.value)

    def test_the_command_exits_2_on_a_bad_entry(self, tmp_path: Path) -> None:
        err = io.StringIO()
        argv = ["serve", "--store", f"file:{tmp_path}", "--backend", "x:1", "--metadata", "secret-only"]
        assert main(argv, out=io.StringIO(), err=err) == 2
        assert "--metadata" in err.getvalue()

    def test_the_command_exits_2_on_a_bad_origin(self, tmp_path: Path) -> None:
        err = io.StringIO()
        assert (
            main(["serve", "--store", f"file:{tmp_path}", "--cors-origin", "*"], out=io.StringIO(), err=err)
            == 2
        )
        assert "--cors-origin" in err.getvalue()
