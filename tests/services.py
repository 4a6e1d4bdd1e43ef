"""Real servers the suite and the benchmarks run against, started and stopped by them.

Each server listens on 127.0.0.1 and a free port and keeps its data in a
temporary directory. Starting one that is not installed, or that does not
answer in time, raises :class:`ServiceError`; the test fixtures turn that into
a failure (never a skip).

- Azurite comes from ./node_modules (make test runs `npm ci`).
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

from .helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account: public, documented, not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_SECONDS = 60


class ServiceError(RuntimeError):
    """A server is not installed or did not start."""


@dataclass
class Service:
    """A server process on 127.0.0.1; subclasses say how to run it and how to tell it is up."""

    location: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    name = "service"

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def check_installed(self) -> None:
        """Raise ServiceError naming the install step when the server is missing."""

    def start(self) -> None:
        """Start (or restart, on the same port and data) and wait until it answers."""
        self.check_installed()
        log = open(self.location / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.location
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.answers():
                return
            time.sleep(0.1)  # readiness polling of a child process, not test synchronisation
        self.stop()
        raise ServiceError(
            f"{self.name} did not start on 127.0.0.1:{self.port} within {STARTUP_SECONDS}s; "
            f"see {self.location / f'{self.name}.log'}"
        )

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


@dataclass
class Azurite(Service):
    """azurite-blob, the Azure Storage emulator."""

    name = "azurite"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def check_installed(self) -> None:
        if not AZURITE_BLOB.exists() or shutil.which("node") is None:
            raise ServiceError(
                f"Azurite is expected but not installed ({AZURITE_BLOB}); `make test` installs it."
            )

    def command(self) -> list[str]:
        return [
            str(AZURITE_BLOB),
            "--blobHost", "127.0.0.1",
            "--blobPort", str(self.port),
            "--location", str(self.location),
            "--skipApiVersionCheck",
            "--silent",
        ]  # fmt: skip

    def answers(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            connection.request("GET", f"/{DEV_ACCOUNT}?comp=list")
            connection.getresponse().read()
            connection.close()
        except OSError:
            return False
        return True


def start_azurite(location: Path) -> Azurite:
    server = Azurite(location)
    server.start()
    return server
