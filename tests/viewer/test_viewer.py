"""The payload viewer over real HTTP: payloads, decoding, instances, the page, auth and the size cap."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durabletask_payloads import FileSystemPayloadStore, LargePayloadStorageOptions
from durabletask_payloads._viewer import create_app

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import start_env, stop_env
from ..helpers import free_port, orders
from ..services import ROOT
from .server import call, quote, serve

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)


@dataclass
class Viewer:
    url: str
    store: FileSystemPayloadStore

    def get(self, path: str, token: str | None = None) -> tuple[int, str, bytes]:
        return self.request("GET", path, token=token)

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, str, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.fixture
def viewer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Viewer]:
    settings = getattr(request, "param", {})
    store = FileSystemPayloadStore(tmp_path / "payloads", OPTIONS)
    for url in serve(create_app(store, **settings)):
        yield Viewer(url, store)


class TestPayloads:
    def test_a_json_payload_comes_back_with_a_json_content_type(self, viewer: Viewer) -> None:
        value = orders(30, seed=600)
        token = viewer.store.upload(json.dumps(value).encode(), instance_id="i")
        status, content_type, body = viewer.get(f"/payloads/{quote(token)}")
        assert status == 200
        assert content_type.startswith("application/json")
        assert json.loads(body) == value

    def test_other_text_comes_back_as_text(self, viewer: Viewer) -> None:
        token = viewer.store.upload(b"plain words, not JSON")
        status, content_type, body = viewer.get(f"/payloads/{quote(token)}")
        assert (status, body) == (200, b"plain words, not JSON")
        assert content_type.startswith("text/plain")

    def test_unknown_and_foreign_tokens(self, viewer: Viewer) -> None:
        status, _, body = viewer.get(f"/payloads/{quote('file:v1:' + '0' * 32)}")
        assert status == 404
        assert b"No stored payload" in body
        status, _, body = viewer.get(f"/payloads/{quote('blob:v1:c:../../etc/passwd')}")
        assert status == 400

    @pytest.mark.parametrize("viewer", [{"max_response_bytes": 1000}], indirect=True)
    def test_responses_above_the_cap_are_refused(self, viewer: Viewer) -> None:
        token = viewer.store.upload(b"x" * 5000)
        status, _, body = viewer.get(f"/payloads/{quote(token)}")
        assert status == 413
        assert b"5,000 bytes" in body and b"1,000 bytes" in body


class TestPreviews:
    def test_json_is_indented_with_numbers_as_written(self, viewer: Viewer) -> None:
        raw = b'{"big":12345678901234567891,"price":10.50,"ratio":NaN}'
        token = viewer.store.upload(raw)
        status, content_type, body = viewer.get(f"/previews/{quote(token)}")
        assert status == 200 and content_type.startswith("application/json")
        preview = json.loads(body)
        assert preview["text"] == '{\n  "big": 12345678901234567891,\n  "price": 10.50,\n  "ratio": NaN\n}'
        assert (preview["format"], preview["indented"], preview["complete"]) == (
            "json-nonstandard",
            True,
            True,
        )
        assert (preview["bytes"], preview["token"]) == (len(raw), token)
        assert preview["stored_size"] == viewer.store.inspect(token).stored_size

    def test_a_large_payload_shows_its_first_bytes_and_all_on_request(self, viewer: Viewer) -> None:
        value = orders(3000, seed=603)
        raw = json.dumps(value).encode()
        token = viewer.store.upload(raw)
        preview = json.loads(viewer.get(f"/previews/{quote(token)}")[2])
        assert (preview["bytes"], preview["complete"], preview["preview_bytes"]) == (len(raw), False, 65536)
        assert len(preview["text"].encode()) == 65536
        small = json.loads(viewer.get(f"/previews/{quote(token)}?bytes=100")[2])
        assert len(small["text"].encode()) <= 100 and preview["text"].startswith(small["text"])
        whole = json.loads(viewer.get(f"/previews/{quote(token)}?bytes=all")[2])
        assert whole["complete"] and json.loads(whole["text"]) == value
        assert whole["text"].startswith(preview["text"])

    def test_text_and_binary_are_shown_as_written(self, viewer: Viewer) -> None:
        text = viewer.store.upload(b"{not json, 10.50}")
        binary = viewer.store.upload(b"\x89PNG\r\n")
        shown = json.loads(viewer.get(f"/previews/{quote(text)}")[2])
        assert (shown["format"], shown["text"], shown["indented"]) == ("text", "{not json, 10.50}", False)
        shown = json.loads(viewer.get(f"/previews/{quote(binary)}")[2])
        assert (shown["format"], shown["bytes"]) == ("binary", 6)

    @pytest.mark.parametrize("asked", ["0", "-1", "lots", "1e3"])
    def test_a_bad_size_is_refused(self, viewer: Viewer, asked: str) -> None:
        token = viewer.store.upload(b"x")
        status, _, body = viewer.get(f"/previews/{quote(token)}?bytes={asked}")
        assert status == 400 and b"bytes=" in body

    @pytest.mark.parametrize("viewer", [{"max_response_bytes": 5000}], indirect=True)
    def test_a_preview_fits_under_the_cap_when_the_payload_does_not(self, viewer: Viewer) -> None:
        token = viewer.store.upload(json.dumps(orders(200, seed=604)).encode())
        assert viewer.get(f"/previews/{quote(token)}?bytes=1000")[0] == 200
        assert viewer.get(f"/previews/{quote(token)}?bytes=all")[0] == 413
        assert viewer.get(f"/payloads/{quote(token)}?download=1")[0] == 413


class TestDownload:
    @pytest.mark.parametrize(
        ("data", "content_type", "extension"),
        [
            (b'{"a": 10.50}', "application/json; charset=utf-8", "json"),
            (b'{"a": NaN}', "text/plain; charset=utf-8", "json"),  # not strict JSON: no JSON type
            (b"words", "text/plain; charset=utf-8", "txt"),
            (b"\xff\x00", "application/octet-stream", "bin"),
        ],
    )
    def test_the_original_bytes_as_an_attachment(
        self, viewer: Viewer, data: bytes, content_type: str, extension: str
    ) -> None:
        token = viewer.store.upload(data)
        answer = call(viewer.url, "GET", f"/payloads/{quote(token)}?download=1")
        assert (answer.status, answer.body, answer.content_type) == (200, data, content_type)
        disposition = answer.headers["Content-Disposition"]
        name = token.replace(":", "_")
        assert disposition == f'attachment; filename="payload-{name}.{extension}"'
        plain = call(viewer.url, "GET", f"/payloads/{quote(token)}")
        assert "Content-Disposition" not in plain.headers and plain.body == data

    def test_a_token_with_odd_characters_makes_a_plain_file_name(self) -> None:
        from durabletask_payloads._viewer import _filename

        assert _filename('s3:v1:bucket/a b/"x";y', "json") == "payload-s3_v1_bucket_a_b_x_y.json"
        assert _filename("..", "text") == "payload-payload.txt"


class TestDecode:
    def test_tokens_are_resolved_and_everything_else_kept(self, viewer: Viewer) -> None:
        text = json.dumps(orders(10, seed=601))
        token = viewer.store.upload(text.encode())
        values = [token, "not a token", json.dumps({"blob:v1:x:y": 1}), 42, None]
        status, _, body = viewer.request("POST", "/decode", {"values": values})
        assert status == 200
        assert json.loads(body)["values"] == [text, *values[1:]]

    def test_references_only(self, viewer: Viewer) -> None:
        token = viewer.store.upload(b"y" * 3000, instance_id="i")
        status, _, body = viewer.request("POST", "/decode", {"values": [token], "resolve": False})
        (ref,) = json.loads(body)["values"]
        assert status == 200
        assert (ref["token"], ref["size"], ref["content_encoding"]) == (token, 3000, "gzip")
        assert ref["stored_size"] < 3000

    def test_a_missing_payload_is_reported_in_place(self, viewer: Viewer) -> None:
        token = viewer.store.upload(b"gone")
        viewer.store.delete(token)
        _, _, body = viewer.request("POST", "/decode", {"values": [token]})
        assert "No stored payload" in json.loads(body)["values"][0]["error"]

    def test_bad_requests(self, viewer: Viewer) -> None:
        assert viewer.request("POST", "/decode", {"values": "nope"})[0] == 400


class TestPage:
    def test_the_page_has_the_form_and_loads_nothing_from_elsewhere(self, viewer: Viewer) -> None:
        status, content_type, body = viewer.get("/")
        assert status == 200
        assert content_type.startswith("text/html")
        page = body.decode()
        assert '<form id="form">' in page
        assert "http://" not in page and "https://" not in page

    def test_the_page_script_never_writes_markup(self, viewer: Viewer) -> None:
        """All data goes into the page as text; the browser tests check it with a hostile payload."""
        page = viewer.get("/")[2].decode()
        sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function")
        for sink in sinks:
            assert sink not in page
        assert "textContent" in page


class TestAuthentication:
    @pytest.mark.parametrize("viewer", [{"bearer_token": "s3cret"}], indirect=True)
    def test_a_bearer_token_is_required_when_set(self, viewer: Viewer) -> None:
        token = viewer.store.upload(b"guarded")
        path = f"/payloads/{quote(token)}"
        assert viewer.get(path)[0] == 401
        assert viewer.get(path, token="wrong")[0] == 401
        assert viewer.get(path, token="s3cret")[:3:2] == (200, b"guarded")
        assert viewer.request("POST", "/decode", {"values": [token]})[0] == 401
        assert viewer.get("/")[0] == 200  # the page itself holds no data


@pytest.mark.e2e
class TestInstances:
    def test_an_instance_lists_its_payloads(self, own_backend: Backend, tmp_path: Path) -> None:
        store = FileSystemPayloadStore(tmp_path / "p", OPTIONS)
        env = start_env("viewer", store, own_backend.address)
        try:
            value = orders(40, seed=602)
            state = env.run(wf.call_echo, value)
            for url in serve(create_app(store, backend=own_backend.address)):
                viewer = Viewer(url, store)
                status, _, body = viewer.get(f"/instances/{state.instance_id}")
                assert status == 200
                data = json.loads(body)
                assert (data["name"], data["runtime_status"]) == ("call_echo", "COMPLETED")
                places = {place for p in data["payloads"] for place in p["places"]}
                assert {"state.input", "state.output"} <= places
                assert any(place.endswith("taskCompleted.result") for place in places)
                assert all(p["size"] > 1024 for p in data["payloads"])
                first = data["payloads"][0]["token"]
                assert viewer.get(f"/payloads/{quote(first)}")[0] == 200
                assert viewer.get("/instances/no-such-instance")[0] == 404
        finally:
            stop_env(env)

    def test_without_a_backend_instances_are_not_available(self, viewer: Viewer) -> None:
        assert viewer.get("/instances/x")[0] == 501


def test_the_serve_command_listens_on_localhost_and_stops_on_sigterm(tmp_path: Path) -> None:
    """And serves the hosts given with --allowed-host, and no others."""
    root = tmp_path / "p"
    token = FileSystemPayloadStore(root).upload(b'"served"')
    port = free_port()
    env = {**os.environ, "DURABLETASK_PAYLOADS_VIEWER_TOKEN": "t0ken"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durabletask_payloads",
            "serve",
            "--store",
            f"file:{root}",
            "--port",
            str(port),
            "--allowed-host",
            "viewer.test",
            "--allowed-host",
            "other.test:1",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert f"http://127.0.0.1:{port}/" in banner and "bearer token required" in banner
        viewer = Viewer(f"http://127.0.0.1:{port}", FileSystemPayloadStore(root))
        status, _, body = _until_up(viewer, f"/payloads/{quote(token)}", "t0ken")
        assert (status, body) == (200, b'"served"')
        assert "viewer.test" in banner and "other.test:1" in banner
        auth = {"Authorization": "Bearer t0ken"}
        path = f"/payloads/{quote(token)}"
        assert call(viewer.url, "GET", path, host=f"viewer.test:{port}", headers=auth).body == b'"served"'
        assert call(viewer.url, "GET", path, host=f"other.test:{port}", headers=auth).status == 421
        assert call(viewer.url, "GET", path, host=f"attacker.example:{port}", headers=auth).status == 421
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_the_serve_command_refuses_a_malformed_allowed_host(tmp_path: Path) -> None:
    from durabletask_payloads._cli import main

    err = io.StringIO()
    status = main(
        ["serve", "--store", f"file:{tmp_path}", "--allowed-host", "user@evil.test"],
        out=io.StringIO(),
        err=err,
    )
    assert status == 2
    assert "allowed_hosts" in err.getvalue() and "user@evil.test" in err.getvalue()


def _until_up(viewer: Viewer, path: str, token: str) -> tuple[int, str, bytes]:
    """The banner comes just before the socket listens: retry a refused connection briefly."""
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            return viewer.get(path, token=token)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
