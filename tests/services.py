"""Real servers the suite and the benchmarks run against, started and stopped by them.

Each server listens on 127.0.0.1 and a free port and keeps its data in a
temporary directory. Starting one that is not installed, or that does not
answer in time, raises :class:`ServiceError`; the test fixtures turn that into
a failure (never a skip).

- Azurite comes from ./node_modules (make test runs `npm ci`).
- redis-server is the Debian package (make test installs it when missing).
- The S3 server is moto's standalone server, from the dev dependency group (`pip install -e . --group dev`).
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account: public, documented, not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def dev_connection_string(server: str) -> str:
    """The development account's connection string for an Azurite (or a proxy) at *server*, ``http://host:port``."""
    scheme = server.split("://", 1)[0]
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={server}/{DEV_ACCOUNT};"
    )


# Any key pair works with moto; these are not credentials of anything.
MOTO_ACCESS_KEY = "moto-test-key-id"
MOTO_SECRET_KEY = "moto-test-secret-0123456789"
STARTUP_SECONDS = 60


def http_answers(port: int, path: str) -> bool:
    """Whether an HTTP server on 127.0.0.1:*port* answers a GET of *path* (with any status)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", path)
        connection.getresponse().read()
        connection.close()
    except OSError:
        return False
    return True


class ServiceError(RuntimeError):
    """A server is not installed or did not start."""


#: Called with each server before it starts; the test session checks markers here (tests/conftest.py).
before_start: list[Callable[[Service], None]] = []


@dataclass
class Service:
    """A server process on 127.0.0.1; subclasses say how to run it and how to tell it is up."""

    location: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    name = "service"
    #: The pytest marker of the tests that need this server.
    marker: ClassVar[str] = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def check_installed(self) -> None:
        """Raise ServiceError naming the install step when the server is missing."""

    def start(self) -> None:
        """Start (or restart, on the same port and data) and wait until it answers."""
        for check in before_start:
            check(self)
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

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted by the kernel, never answered."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop the process (and anything it started)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)  # a paused process cannot handle SIGTERM
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
    marker = "azurite"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return dev_connection_string(f"http://127.0.0.1:{self.port}")

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
        return http_answers(self.port, f"/{DEV_ACCOUNT}?comp=list")


@dataclass
class Redis(Service):
    """redis-server without persistence: nothing is written to disk."""

    name = "redis"
    marker = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def check_installed(self) -> None:
        if shutil.which("redis-server") is None:
            raise ServiceError(
                "redis-server is expected but not installed; `make test` installs it "
                "(apt-get install -y redis-server)."
            )

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.location),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@dataclass
class MotoS3(Service):
    """moto's standalone server, an in-memory S3 (and more) on one port."""

    name = "moto-s3"
    marker = "s3"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        """A boto3 S3 client on this server (the caller closes it)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=MOTO_ACCESS_KEY,
            aws_secret_access_key=MOTO_SECRET_KEY,
        )

    def check_installed(self) -> None:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise ServiceError(
                "moto's server is expected but not installed; `make test` installs it "
                "(pip install -e . --group dev, which pulls moto[server])."
            )

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def answers(self) -> bool:
        return http_answers(self.port, "/")


def start_azurite(location: Path) -> Azurite:
    server = Azurite(location)
    server.start()
    return server


def start_redis(location: Path) -> Redis:
    server = Redis(location)
    server.start()
    return server


def start_moto_s3(location: Path) -> MotoS3:
    server = MotoS3(location)
    server.start()
    return server
