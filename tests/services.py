"""Real servers the suite runs against, started and stopped by the tests themselves.

Azurite comes from ./node_modules (make test runs `npm ci`), listens on 127.0.0.1
and a free port, and keeps its data in a temporary directory.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account: public, documented, not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_SECONDS = 60


@dataclass
class Azurite:
    """A running azurite-blob process."""

    location: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def start(self) -> None:
        """Start (or restart, on the same port and data) and wait until it answers HTTP."""
        log = open(self.location / "azurite.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                str(AZURITE_BLOB),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                str(self.location),
                "--skipApiVersionCheck",
                "--silent",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.answers():
                return
            time.sleep(0.1)  # readiness polling of a child process, not test synchronisation
        self.stop()
        pytest.fail(
            f"Azurite did not start on 127.0.0.1:{self.port} within {STARTUP_SECONDS}s; "
            f"see {self.location / 'azurite.log'}",
            pytrace=False,
        )

    def answers(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            connection.request("GET", f"/{DEV_ACCOUNT}?comp=list")
            connection.getresponse().read()
            connection.close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop the process (and anything it started)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def start_azurite(location: Path) -> Azurite:
    if not AZURITE_BLOB.exists() or shutil.which("node") is None:
        pytest.fail(
            f"Azurite is expected but not installed ({AZURITE_BLOB}); `make test` installs it with npm ci.",
            pytrace=False,
        )
    server = Azurite(location)
    server.start()
    return server
