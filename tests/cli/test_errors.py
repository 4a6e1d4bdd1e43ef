"""Every failure of the command is one line on standard error and a documented exit status.

The exit statuses (docs/cli.md): 0 done, 1 a payload, store, instance or backend error,
2 a usage or setup error, 3 gc refused, 4 the backend could not be reached.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from durabletask_payloads import (
    FileSystemPayloadStore,
    InMemoryPayloadStore,
    PayloadInfo,
    PayloadNotFoundError,
    PayloadStore,
    open_store,
)
from durabletask_payloads._cli_payloads import _inspect_all
from durabletask_payloads._gc_output import ProgressBars

from .conftest import OPTIONS, Result, run

ROOT = Path(__file__).resolve().parents[2]


def one_line(result: Result, code: int) -> str:
    """Assert the run failed with *code*, wrote nothing on standard output and one line on standard error."""
    assert (result.code, result.out) == (code, ""), result
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    return result.err


@pytest.fixture
def stored(tmp_path: Path) -> tuple[FileSystemPayloadStore, str]:
    store = FileSystemPayloadStore(tmp_path / "store", OPTIONS)
    return store, store.upload(json.dumps({"order": 1, "lines": ["x"] * 500}).encode(), instance_id="o-1")


class TestStoreSpecs:
    @pytest.mark.parametrize("spec", ["", "   ", "file:", "file://", "file: "])
    def test_an_empty_spec_is_refused_with_the_accepted_forms(self, spec: str, tmp_path: Path) -> None:
        err = one_line(run("inspect", "file:v1:" + "0" * 32, "--store", spec), 2)
        assert "file:PATH" in err
        with pytest.raises(ValueError, match="file:PATH"):
            open_store(spec)  # in code too: the current directory is never taken for a store

    def test_a_directory_that_does_not_exist_is_refused_and_not_created(self, tmp_path: Path) -> None:
        missing = tmp_path / "typo"
        err = one_line(run("inspect", "file:v1:" + "0" * 32, "--store", f"file:{missing}"), 2)
        assert f"no directory '{missing}'" in err
        assert not missing.exists()

    def test_an_unknown_spec_names_the_accepted_forms_on_one_line(self) -> None:
        err = one_line(run("inspect", "x", "--store", "ftp://example"), 2)
        assert "unknown store spec 'ftp://example': give file:PATH" in err and "s3://BUCKET" in err


class TestUsage:
    def test_a_bad_option_is_one_line_without_the_usage_block(self) -> None:
        err = one_line(run("gc", "--store", ".", "--older-than", "7x"), 2)
        assert err == (
            "durabletask-payloads: argument --older-than: '7x' is not an age like 90s, 30m, 12h or 7d "
            "(see durabletask-payloads gc --help)\n"
        )

    def test_a_missing_store_is_one_line(self) -> None:
        err = one_line(run("get", "x"), 2)
        assert "the following arguments are required: --store" in err

    def test_metadata_must_be_key_equals_value(self) -> None:
        err = one_line(run("show", "x", "--store", ".", "--metadata", "x-api-key:s3cret"), 2)
        assert "--metadata takes KEY=VALUE" in err
        assert "s3cret" not in err  # a credential given with the wrong separator is not repeated


class TestGet:
    def test_output_into_a_missing_directory_says_so_and_downloads_nothing(
        self, stored: tuple[FileSystemPayloadStore, str], tmp_path: Path
    ) -> None:
        store, token = stored
        target = tmp_path / "missing-dir" / "x"
        err = one_line(run("get", token, "--store", str(store.root), "-o", str(target)), 2)
        assert err == (
            f"durabletask-payloads get: cannot write {target}: the directory {target.parent} does not "
            f"exist; create it (mkdir -p {target.parent}) or choose another --output\n"
        )
        assert not target.parent.exists()

    def test_output_onto_a_directory_says_so(
        self, stored: tuple[FileSystemPayloadStore, str], tmp_path: Path
    ) -> None:
        store, token = stored
        err = one_line(run("get", token, "--store", str(store.root), "-o", str(tmp_path)), 2)
        assert "it is a directory; give a file name to --output" in err

    def test_a_missing_payload_is_status_1(self, stored: tuple[FileSystemPayloadStore, str]) -> None:
        store, token = stored
        store.delete(token)
        err = one_line(run("get", token, "--store", str(store.root)), 1)
        assert err.startswith(f"durabletask-payloads get: No stored payload for token {token!r}")

    def test_debug_adds_the_traceback_after_the_line(
        self, stored: tuple[FileSystemPayloadStore, str]
    ) -> None:
        store, token = stored
        store.delete(token)
        result = run("get", token, "--store", str(store.root), "--debug")
        assert result.code == 1
        first, rest = result.err.split("\n", 1)
        assert first.startswith("durabletask-payloads get: No stored payload")
        assert rest.startswith("Traceback (most recent call last):") and "PayloadNotFoundError" in rest

    def test_an_unexpected_failure_is_one_line_that_asks_for_debug(
        self, stored: tuple[FileSystemPayloadStore, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store, token = stored

        def broken(self: PayloadStore, token: str) -> bytes:
            raise RuntimeError("surprise")

        monkeypatch.setattr(FileSystemPayloadStore, "download", broken)
        err = one_line(run("get", token, "--store", str(store.root)), 1)
        assert "unexpected RuntimeError: surprise" in err and "--debug" in err

    def test_an_interrupt_is_status_130(
        self, stored: tuple[FileSystemPayloadStore, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store, token = stored

        def interrupted(self: PayloadStore, token: str) -> bytes:
            raise KeyboardInterrupt

        monkeypatch.setattr(FileSystemPayloadStore, "download", interrupted)
        assert one_line(run("get", token, "--store", str(store.root)), 130) == (
            "durabletask-payloads get: interrupted\n"
        )

    def test_a_reader_that_goes_away_is_not_an_error(self, tmp_path: Path) -> None:
        """``get TOKEN | true``: nobody reads the pipe; no traceback, status 0."""
        store = FileSystemPayloadStore(tmp_path / "big", OPTIONS)
        token = store.upload(json.dumps(["line"] * 1000).encode())
        command = [sys.executable, "-m", "durabletask_payloads", "get", token, "--store", str(store.root)]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None and process.stderr is not None
        # Closed before the command has even started: its first write meets a pipe without a reader.
        process.stdout.close()
        assert process.wait(timeout=60) == 0
        assert process.stderr.read() == b""


class TestInspectMany:
    def test_each_token_is_reported_and_a_missing_one_fails_the_run(
        self, stored: tuple[FileSystemPayloadStore, str]
    ) -> None:
        store, token = stored
        other = store.upload(b'"other"' * 300)
        lost = store.upload(b'"lost"' * 300)
        store.delete(lost)
        result = run("inspect", token, lost, other, "--store", str(store.root), "--json")
        assert result.code == 1
        lines = [json.loads(line) for line in result.out.splitlines()]
        assert [line["token"] for line in lines] == [token, lost, other]
        assert lines[0]["instance_id"] == "o-1" and lines[2]["size"] == 2100
        assert set(lines[1]) == {"token", "error"} and "No stored payload" in lines[1]["error"]
        assert result.err == "durabletask-payloads inspect: 1 of 3 token(s) failed\n"

    def test_tokens_are_looked_up_concurrently(self) -> None:
        """A unit test: four inspections must be in flight together, or the barrier breaks."""

        class Meeting(InMemoryPayloadStore):
            barrier = threading.Barrier(4, timeout=10)

            def inspect(self, token: str) -> PayloadInfo:
                self.barrier.wait()
                return super().inspect(token)

        store = Meeting()
        tokens = [store.upload(str(n).encode() * 100) for n in range(8)]
        found = _inspect_all(store, tokens, 4, ProgressBars(sys.stderr))
        assert [info.token for info in found if not isinstance(info, PayloadNotFoundError)] == tokens


class TestServe:
    def test_a_busy_port_says_so(self, tmp_path: Path) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = run("serve", "--store", str(tmp_path), "--port", str(port))
        assert (result.code, result.out) == (2, "")
        assert "Traceback" not in result.err
        # The banner (serve's own) comes first; the failure is one line of its own.
        assert result.err.splitlines()[-1] == (
            f"durabletask-payloads serve: cannot listen on 127.0.0.1:{port}: the port is in use: choose "
            "another with --port, or stop what listens there"
        )
