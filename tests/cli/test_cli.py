"""The durabletask-payloads command: gc, get, inspect, on the filesystem and Azure stores.

What gc must never delete, scenario by scenario, is in tests/lifecycle.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from durabletask import client as dt_client

from durabletask_payloads import FileSystemPayloadStore, LargePayloadStorageOptions, PayloadStore
from durabletask_payloads._cli import main, parse_age

from ..conftest import Backend, make_store
from ..e2e import workflows as wf
from ..e2e.conftest import Env, start_env, stop_env
from ..helpers import free_port, orders

pytestmark = pytest.mark.e2e
OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _tokens_of(env: Env, instance_id: str) -> set[str]:
    from ..e2e.test_lifecycle import _tokens

    return _tokens(env, instance_id)


@pytest.fixture(
    params=[pytest.param("filesystem"), pytest.param("azure_blob", marks=pytest.mark.azurite)],
)
def world(
    request: pytest.FixtureRequest, own_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Env, str]]:
    """A worker on a fresh store, and the --store spec that names the same store."""
    store = make_store(request.param, request, tmp_path, OPTIONS)
    if isinstance(store, FileSystemPayloadStore):
        spec = f"file:{store.root}"
    else:
        azurite = request.getfixturevalue("azurite")
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
        spec = f"azure:?container={store.options.container_name}"  # type: ignore[attr-defined]
    env = start_env(request.param, store, own_backend.address)
    yield env, spec
    stop_env(env)
    store.close()


def _stored(store: PayloadStore) -> set[str]:
    return {info.token for info in store.list_payloads()}


class TestGc:
    def test_finds_and_deletes_only_payloads_nothing_refers_to(
        self, world: tuple[Env, str], own_backend: Backend
    ) -> None:
        env, spec = world
        gone = [env.run(wf.call_echo, orders(30, seed=400 + i)).instance_id for i in range(2)]
        live = env.run(wf.call_echo, orders(30, seed=410)).instance_id
        gone_tokens = set().union(*(_tokens_of(env, i) for i in gone))
        live_tokens = _tokens_of(env, live)
        unattributed = env.store.inner.upload(b"x" * 5000)  # no instance recorded, referred to by none
        with dt_client.TaskHubGrpcClient(
            host_address=own_backend.address
        ) as plain:  # purge leaves the payloads
            for instance_id in gone:
                assert plain.purge_orchestration(instance_id).deleted_instance_count == 1
        before = _stored(env.store)
        assert gone_tokens | live_tokens | {unattributed} <= before

        code, out, err = run("gc", "--store", spec, "--backend", own_backend.address, "--older-than", "0s")
        assert code == 0
        listed = {line.split("\t")[0] for line in out.splitlines()}
        assert gone_tokens | {unattributed} <= listed
        assert not listed & live_tokens
        assert "dry run: nothing deleted" in err
        assert f"refer to {len(live_tokens)} payload(s)" in err
        assert _stored(env.store) == before

        code, _, err = run(
            "gc", "--store", spec, "--backend", own_backend.address, "--older-than", "0s", "--delete"
        )
        assert code == 0
        assert f"deleted {len(listed)} of {len(listed)} unreferenced payload(s)" in err
        after = _stored(env.store)
        assert not after & (gone_tokens | {unattributed})
        assert live_tokens <= after
        state = env.client.get_orchestration_state(live)
        assert state is not None and json.loads(state.serialized_output or "null")["same_echo"] is True

    def test_young_payloads_are_left_alone(self, world: tuple[Env, str], own_backend: Backend) -> None:
        env, spec = world
        instance_id = env.run(wf.return_input, orders(30, seed=420)).instance_id
        with dt_client.TaskHubGrpcClient(host_address=own_backend.address) as plain:
            plain.purge_orchestration(instance_id)
        code, out, err = run("gc", "--store", spec, "--backend", own_backend.address, "--delete")
        assert code == 0
        assert out == ""
        assert "0 unreferenced payload(s)" in err
        assert "younger than 1 day" in err
        assert "deleted 0 of 0" in err

    def test_json_gives_a_line_per_payload_and_a_summary(
        self, world: tuple[Env, str], own_backend: Backend
    ) -> None:
        env, spec = world
        live = env.run(wf.call_echo, orders(30, seed=421)).instance_id
        orphan = env.store.inner.upload(b"j" * 5000, instance_id="gone-421")
        argv = ["gc", "--store", spec, "--backend", own_backend.address, "--older-than", "0s", "--json"]
        code, out, _ = run(*argv, "--delete")
        assert code == 0
        lines = [json.loads(line) for line in out.splitlines()]
        payloads = {line["token"]: line for line in lines[:-1]}
        assert {line["type"] for line in lines[:-1]} == {"payload"}
        assert set(payloads) >= _tokens_of(env, live) | {orphan}
        assert payloads[orphan] == {
            "type": "payload",
            "token": orphan,
            "verdict": "unreferenced",
            "action": "deleted",
            "size": 5000,
            "stored_size": payloads[orphan]["stored_size"],
            "instance_id": "gone-421",
            "created": payloads[orphan]["created"],
        }
        assert all(payloads[t]["verdict"] == "referenced" for t in _tokens_of(env, live))
        summary = lines[-1]
        assert summary["type"] == "summary" and summary["exit_code"] == 0
        assert summary["deleted"] >= 1 and summary["dry_run"] is False and summary["refused"] is None
        assert summary["payloads"] == len(payloads)
        assert summary["backend"] == own_backend.address

    def test_progress_bars_on_a_terminal(self, world: tuple[Env, str], own_backend: Backend) -> None:
        """tqdm draws on standard error when it is a terminal; nothing of it goes elsewhere."""
        env, spec = world
        env.run(wf.call_echo, orders(30, seed=422))
        env.store.inner.upload(b"p" * 5000, instance_id="gone-422")

        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        out, err = io.StringIO(), Terminal()
        argv = ["gc", "--store", spec, "--backend", own_backend.address, "--older-than", "0s", "--delete"]
        assert main(argv, out=out, err=err) == 0
        drawn = err.getvalue()
        assert "census" in drawn and "listing" in drawn and "deleting" in drawn
        assert "\r" in drawn  # redrawn in place
        assert "census" not in out.getvalue()

    def test_a_backend_that_cannot_be_reached_deletes_nothing(self, world: tuple[Env, str]) -> None:
        env, spec = world
        env.store.inner.upload(b"u" * 5000, instance_id="gone-423")
        before = _stored(env.store)
        address = f"127.0.0.1:{free_port()}"  # nothing listens there
        code, _, err = run("gc", "--store", spec, "--backend", address, "--older-than", "0s", "--delete")
        assert code == 4
        assert err == (
            f"durabletask-payloads gc: nothing deleted: cannot reach the backend at {address} (UNAVAILABLE): "
            "is it running there? Check --backend; add --secure if it uses TLS\n"
        )
        assert _stored(env.store) == before


class TestGetAndInspect:
    @pytest.fixture
    def stored(self, tmp_path: Path) -> tuple[FileSystemPayloadStore, str, bytes]:
        store = FileSystemPayloadStore(tmp_path / "p", OPTIONS)
        data = json.dumps(orders(20, seed=430)).encode()
        return store, store.upload(data, instance_id="order-9"), data

    def test_get_prints_the_original(self, stored: tuple[FileSystemPayloadStore, str, bytes]) -> None:
        store, token, data = stored
        code, out, _ = run("get", token, "--store", f"file:{store.root}")
        assert (code, out.encode()) == (0, data)

    def test_get_saves_to_a_file_and_pretty_prints(
        self, stored: tuple[FileSystemPayloadStore, str, bytes], tmp_path: Path
    ) -> None:
        store, token, data = stored
        target = tmp_path / "out.json"
        code, _, err = run("get", token, "--store", str(store.root), "--output", str(target), "--pretty")
        assert code == 0
        assert json.loads(target.read_text()) == json.loads(data)
        assert target.read_text().startswith("[\n  {")
        assert "wrote" in err

    def test_inspect_shows_sizes_hash_instance_and_creation(
        self, stored: tuple[FileSystemPayloadStore, str, bytes]
    ) -> None:
        store, token, data = stored
        code, out, _ = run("inspect", token, "--store", f"file:{store.root}", "--json")
        assert code == 0
        shown = json.loads(out)
        import hashlib

        assert shown["size"] == len(data)
        assert shown["content_encoding"] == "gzip"
        assert shown["stored_size"] < len(data)
        assert shown["sha256"] == hashlib.sha256(data).hexdigest()
        assert shown["instance_id"] == "order-9"
        assert shown["created"]
        code, text, _ = run("inspect", token, "--store", f"file:{store.root}")
        assert "instance id" in text and "order-9" in text

    def test_a_missing_payload_is_a_clear_error(
        self, stored: tuple[FileSystemPayloadStore, str, bytes]
    ) -> None:
        store, token, _ = stored
        store.delete(token)
        code, out, err = run("get", token, "--store", f"file:{store.root}")
        assert (code, out) == (1, "")
        assert "No stored payload for token" in err and token in err

    def test_a_foreign_token_is_refused(self, stored: tuple[FileSystemPayloadStore, str, bytes]) -> None:
        store, _, _ = stored
        code, _, err = run("get", "file:v1:../../etc/passwd", "--store", f"file:{store.root}")
        assert code == 1
        assert "Refused payload token" in err

    def test_an_unknown_store_spec_is_a_usage_error(self) -> None:
        code, _, err = run("inspect", "x", "--store", "ftp://example")
        assert code == 2
        assert "unknown store spec" in err

    def test_azure_spec_without_the_environment_variable_names_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
        code, _, err = run("inspect", "x", "--store", "azure:")
        assert code == 2
        assert "AZURE_STORAGE_CONNECTION_STRING" in err


class TestArguments:
    @pytest.mark.parametrize(
        ("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("1d12h", 129600)]
    )
    def test_ages(self, text: str, seconds: int) -> None:
        assert parse_age(text).total_seconds() == seconds

    @pytest.mark.parametrize("text", ["", "7", "7x", "d7", "1d 2h"])
    def test_bad_ages(self, text: str) -> None:
        import argparse

        with pytest.raises(argparse.ArgumentTypeError):
            parse_age(text)

    @pytest.mark.parametrize("value", ["0", "-1", "many"])
    def test_concurrency_must_be_a_positive_number(self, value: str) -> None:
        code, out, err = run("gc", "--store", ".", "--concurrency", value)
        assert (code, out) == (2, "")
        assert err == (
            f"durabletask-payloads: argument --concurrency: {value!r} is not a whole number of at least 1 "
            "(see durabletask-payloads gc --help)\n"
        )

    @pytest.mark.parametrize("command", ["gc", "show", "get", "inspect", "serve"])
    def test_every_help_documents_the_exit_status(
        self, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "exit status:" in text and "3  gc refused to delete" in text
        assert "4  the backend could not be reached" in text

    def test_python_dash_m_runs_the_same_command(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "durabletask_payloads", "--version"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.startswith("durabletask-payloads ")
