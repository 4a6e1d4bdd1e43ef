"""A worker with the show workflows on a filesystem store, and a way to run the command."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from durabletask_payloads import FileSystemPayloadStore, LargePayloadStorageOptions
from durabletask_payloads._cli import main

from ..conftest import Backend
from ..e2e.conftest import Env, start_env, stop_env
from . import workflows

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)


@dataclass
class Result:
    """What one run of the command gave."""

    code: int
    out: str
    err: str


def run(*argv: str) -> Result:
    """Run ``durabletask-payloads ARGV`` in this process; capture both streams."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue())


@dataclass
class Site:
    """A running worker on the module's backend, and the options that name its store and backend."""

    env: Env
    root: Path
    address: str

    @property
    def store_args(self) -> list[str]:
        return ["--store", f"file:{self.root}"]

    @property
    def backend_args(self) -> list[str]:
        return ["--backend", self.address]


@pytest.fixture(scope="module")
def site(own_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("cli-store")
    store = FileSystemPayloadStore(root, OPTIONS)
    env = start_env("filesystem", store, own_backend.address, register_with=workflows.register)
    yield Site(env, root, own_backend.address)
    stop_env(env)
    store.close()
