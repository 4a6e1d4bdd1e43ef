"""The viewer against a hostile browser and hostile storage, over a real socket on the loopback.

* DNS rebinding: a page on attacker.example resolved to 127.0.0.1 sends
  ``Host: attacker.example``; it must get nothing (421), while the localhost
  names, the bound address and the hosts given with ``allowed_hosts`` are served.
* Cross-site requests: a ``text/plain`` or form POST needs no CORS preflight,
  so it must be refused (415) before anything is read; so must a foreign Origin.
* Every response, refusals and errors included, carries nosniff, a strict CSP
  with ``frame-ancestors 'none'``, ``X-Frame-Options: DENY`` and no referrer.
* The size cap counts the bytes sent: a stored header that lies about the size
  does not get a larger body out.
* Error bodies hold no server path and no store secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durabletask_payloads import (
    FileSystemPayloadStore,
    LargePayloadStorageOptions,
    PayloadStore,
    PayloadStoreRefusedError,
)
from durabletask_payloads._viewer import create_app

from ..helpers import CountingStore, orders
from .server import Answer, call, post_json, quote, serve

OPTIONS = LargePayloadStorageOptions(threshold_bytes=1024)
SECRET_PAYLOAD = json.dumps({"secret": orders(5, seed=1240)})


@dataclass
class Viewer:
    url: str
    store: CountingStore
    root: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get(self, path: str, **kwargs: Any) -> Answer:
        return call(self.url, "GET", path, **kwargs)


def _viewer(tmp_path: Path, host: str = "127.0.0.1", **settings: Any) -> Iterator[Viewer]:
    root = tmp_path / "payloads"
    store = CountingStore(FileSystemPayloadStore(root, OPTIONS))
    for url in serve(create_app(store, **settings), host=host):
        yield Viewer(url, store, root)


@pytest.fixture
def viewer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Viewer]:
    yield from _viewer(tmp_path, **getattr(request, "param", {}))


@pytest.fixture
def secret(viewer: Viewer) -> str:
    return viewer.store.upload(SECRET_PAYLOAD.encode(), instance_id="victim")


class TestHostAllowList:
    def test_a_foreign_host_gets_nothing(self, viewer: Viewer, secret: str) -> None:
        """The DNS rebinding case: right socket, wrong name."""
        before = viewer.store.snapshot()
        for answer in (
            viewer.get(f"/payloads/{quote(secret)}", host=f"attacker.example:{viewer.port}"),
            viewer.get(f"/payloads/{quote(secret)}", host="attacker.example"),
            viewer.get("/", host=f"attacker.example:{viewer.port}"),
            post_json(viewer.url, "/decode", {"values": [secret]}, host=f"attacker.example:{viewer.port}"),
        ):
            assert answer.status == 421
            assert b"ORD-1240" not in answer.body
            assert "--allowed-host" in answer.error()
        assert viewer.store.snapshot() == before  # refused before the store was asked

    def test_a_local_name_on_another_port_is_foreign(self, viewer: Viewer, secret: str) -> None:
        assert viewer.get(f"/payloads/{quote(secret)}", host="127.0.0.1:1").status == 421
        assert viewer.get(f"/payloads/{quote(secret)}", host="localhost").status == 421  # port 80

    @pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "LocalHost", "localhost."])
    def test_localhost_names_on_the_bound_port_are_served(
        self, viewer: Viewer, secret: str, name: str
    ) -> None:
        answer = viewer.get(f"/payloads/{quote(secret)}", host=f"{name}:{viewer.port}")
        assert (answer.status, answer.body) == (200, SECRET_PAYLOAD.encode())

    def test_the_bound_address_is_served_and_its_neighbours_are_not(self, tmp_path: Path) -> None:
        """Bound to 127.0.0.2 (any 127/8 address is local on Linux): that address, with its port."""
        for viewer in _viewer(tmp_path, host="127.0.0.2"):
            token = viewer.store.upload(b"on .2")
            path = f"/payloads/{quote(token)}"
            assert viewer.get(path).body == b"on .2"  # Host: 127.0.0.2:port
            assert viewer.get(path, host=f"localhost:{viewer.port}").status == 200
            assert viewer.get(path, host=f"127.0.0.3:{viewer.port}").status == 421

    @pytest.mark.parametrize(
        "viewer", [{"allowed_hosts": ["viewer.test", "other.test:8443", "[fd00::1]:9"]}], indirect=True
    )
    def test_allowed_hosts_are_served_as_given(self, viewer: Viewer, secret: str) -> None:
        path = f"/payloads/{quote(secret)}"
        assert viewer.get(path, host="viewer.test").status == 200  # no port: any port
        assert viewer.get(path, host=f"viewer.test:{viewer.port}").status == 200
        assert viewer.get(path, host="other.test:8443").status == 200
        assert viewer.get(path, host=f"other.test:{viewer.port}").status == 421
        assert viewer.get(path, host="[fd00::1]:9").status == 200
        assert viewer.get(path, host="sub.viewer.test").status == 421

    @pytest.mark.parametrize("host", ["", "a b", "localhost:99999", "user@localhost", "::1", "[::1"])
    def test_a_malformed_host_is_a_bad_request(self, viewer: Viewer, secret: str, host: str) -> None:
        answer = viewer.get(f"/payloads/{quote(secret)}", host=host)
        assert answer.status == 400
        assert "host" in answer.error().lower()

    def test_a_missing_host_is_a_bad_request(self, viewer: Viewer, secret: str) -> None:
        """aiohttp's HTTP/1.1 parser refuses it before the application sees it."""
        answer = viewer.get(f"/payloads/{quote(secret)}", host=None)
        assert answer.status == 400 and b"ORD-1240" not in answer.body

    @pytest.mark.parametrize("entry", ["user@host", "host:0", "host:http", "a/b", ""])
    def test_a_malformed_allowed_host_is_refused_at_creation(self, tmp_path: Path, entry: str) -> None:
        with pytest.raises(ValueError, match="allowed_hosts") as raised:
            create_app(FileSystemPayloadStore(tmp_path), allowed_hosts=[entry])
        assert repr(entry) in str(raised.value)

    @pytest.mark.parametrize("cap", [0, -1, True, 1.5])
    def test_a_cap_that_is_not_a_positive_size_is_refused_at_creation(self, tmp_path: Path, cap: Any) -> None:
        with pytest.raises(ValueError, match="max_response_bytes"):
            create_app(FileSystemPayloadStore(tmp_path), max_response_bytes=cap)


class TestOrigin:
    @pytest.mark.parametrize(
        "origin", ["http://attacker.example", "null", "https://127.0.0.1", "http://localhost:1", "file://x"]
    )
    def test_a_foreign_origin_is_refused(self, viewer: Viewer, secret: str, origin: str) -> None:
        before = viewer.store.snapshot()
        get = viewer.get(f"/payloads/{quote(secret)}", headers={"Origin": origin})
        post = post_json(viewer.url, "/decode", {"values": [secret]}, headers={"Origin": origin})
        assert (get.status, post.status) == (403, 403)
        assert viewer.store.snapshot() == before

    def test_the_page_own_origin_is_served(self, viewer: Viewer, secret: str) -> None:
        answer = post_json(
            viewer.url, "/decode", [secret], headers={"Origin": f"http://localhost:{viewer.port}"}
        )
        assert json.loads(answer.body) == {"values": [SECRET_PAYLOAD]}


class TestPostIsJsonOnly:
    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            None,
        ],
    )
    def test_what_a_cross_site_form_can_send_is_not_processed(
        self, viewer: Viewer, secret: str, content_type: str | None
    ) -> None:
        """A cross-site page can post these without a CORS preflight; nothing may be read for them."""
        headers = {"Content-Type": content_type} if content_type else {}
        before = viewer.store.snapshot()
        body = json.dumps({"values": [secret]}).encode()
        answer = call(viewer.url, "POST", "/decode", headers=headers, body=body)
        assert answer.status == 415
        assert "application/json" in answer.error()
        assert b"ORD-1240" not in answer.body
        assert viewer.store.snapshot() == before

    def test_json_with_a_charset_is_processed(self, viewer: Viewer, secret: str) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        answer = call(viewer.url, "POST", "/decode", headers=headers, body=json.dumps([secret]).encode())
        assert json.loads(answer.body) == {"values": [SECRET_PAYLOAD]}


def _check_headers(answer: Answer) -> None:
    headers = answer.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


class _Exploding(CountingStore):
    """A store that fails in a way nobody planned for, quoting a server path."""

    def inspect(self, token: str) -> Any:
        raise RuntimeError("/srv/secret/location/on/the/server")


class TestHeadersOnEveryResponse:
    def test_success_refusals_and_errors(self, viewer: Viewer, secret: str) -> None:
        missing = viewer.store.upload(b"soon gone")
        viewer.store.delete(missing)
        answers = {
            200: [
                viewer.get("/"),
                viewer.get(f"/payloads/{quote(secret)}"),
                post_json(viewer.url, "/decode", []),
            ],
            400: [viewer.get(f"/payloads/{quote('nope:v1:x')}"), viewer.get("/", host="a b")],
            403: [viewer.get("/", headers={"Origin": "null"})],
            404: [viewer.get(f"/payloads/{quote(missing)}"), viewer.get("/no/such/page")],
            405: [call(viewer.url, "PUT", "/decode", body=b"{}"), call(viewer.url, "OPTIONS", "/decode")],
            415: [call(viewer.url, "POST", "/decode", headers={"Content-Type": "text/plain"}, body=b"[]")],
            421: [viewer.get("/", host="attacker.example")],
            501: [viewer.get("/instances/x")],
        }
        for status, group in answers.items():
            for answer in group:
                assert answer.status == status, answer.body
                _check_headers(answer)
                if status >= 400:
                    assert answer.content_type.startswith("application/json")
                    assert answer.error()

    @pytest.mark.parametrize("viewer", [{"bearer_token": "t"}], indirect=True)
    def test_unauthorized(self, viewer: Viewer, secret: str) -> None:
        answer = viewer.get(f"/payloads/{quote(secret)}")
        assert answer.status == 401
        _check_headers(answer)

    def test_an_unexpected_failure_is_a_500_without_its_text(self, tmp_path: Path) -> None:
        store = _Exploding(FileSystemPayloadStore(tmp_path / "p", OPTIONS))
        token = store.upload(b"x")
        for url in serve(create_app(store)):
            answer = call(url, "GET", f"/payloads/{quote(token)}")
            assert answer.status == 500
            assert b"/srv/secret" not in answer.body
            _check_headers(answer)

    def test_the_page_runs_only_its_own_script_and_style(self, viewer: Viewer) -> None:
        answer = viewer.get("/")
        page = answer.body.decode()
        policy = answer.headers["Content-Security-Policy"]

        def digest(block: str) -> str:
            return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"

        (script,) = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
        (style,) = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
        assert f"script-src {digest(script)};" in policy
        assert f"style-src {digest(style)};" in policy
        assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
        markup = re.sub(r"<(script|style)>.*?</\1>", "", page, flags=re.DOTALL)
        # The hashes cover blocks only: an inline handler or style attribute would be blocked.
        assert not re.search(r"\son[a-z]+\s*=", markup) and "style=" not in markup


def _rewrite_header(store: FileSystemPayloadStore, token: str, **changes: Any) -> None:
    """Plant a record under *token* with the same body and a header that says something else."""
    path = store.path_for(token)
    first, body = path.read_bytes().split(b"\n", 1)
    magic_end = first.index(b"{")
    header = json.loads(first[magic_end:])
    for name, value in changes.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    path.write_bytes(first[:magic_end] + json.dumps(header).encode() + b"\n" + body)


CAP = 4000


@pytest.mark.parametrize("viewer", [{"max_response_bytes": CAP}], indirect=True)
class TestTheCapCountsWhatIsSent:
    def _inner(self, viewer: Viewer) -> FileSystemPayloadStore:
        inner = viewer.store.inner
        assert isinstance(inner, FileSystemPayloadStore)
        return inner

    def test_a_header_claiming_one_byte_does_not_get_a_larger_body_out(self, viewer: Viewer) -> None:
        data = json.dumps(orders(40, seed=1241)).encode()
        assert len(data) > 2 * CAP
        token = viewer.store.upload(data, instance_id="i")
        _rewrite_header(self._inner(viewer), token, size=1)
        assert viewer.store.inspect(token).size == 1  # the lie is in place
        answer = viewer.get(f"/payloads/{quote(token)}")
        assert answer.status == 413
        assert f"{len(data):,} bytes" in answer.error() and f"{CAP:,} bytes" in answer.error()
        assert len(answer.body) < 1000 and b"ORD-1241" not in answer.body

    def test_a_gzip_record_without_a_size_is_counted_once_inflated(self, viewer: Viewer) -> None:
        """As a .NET blob: no size recorded, and a compressed size far below the cap."""
        data = b'"' + b"a" * (CAP * 10) + b'"'
        token = viewer.store.upload(data, instance_id="i")
        _rewrite_header(self._inner(viewer), token, size=None)
        info = viewer.store.inspect(token)
        assert info.size is None and info.stored_size < CAP and info.content_encoding == "gzip"
        answer = viewer.get(f"/payloads/{quote(token)}")
        assert answer.status == 413
        assert f"{len(data):,} bytes" in answer.error()

    def test_decode_counts_the_json_it_sends(self, viewer: Viewer) -> None:
        """3,000 quotes fit the cap as bytes, and do not once each is escaped in JSON."""
        data = b'"' * 3000
        token = viewer.store.upload(data)
        answer = post_json(viewer.url, "/decode", [token])
        assert answer.status == 413
        assert f"{CAP:,} bytes" in answer.error()
        assert len(answer.body) < 1000

    def test_decode_stops_fetching_once_the_answer_cannot_fit(self, viewer: Viewer) -> None:
        tokens = [viewer.store.upload(f"{n}".encode() * 1500) for n in range(10)]
        before = viewer.store.snapshot()[1]
        answer = post_json(viewer.url, "/decode", tokens)
        assert answer.status == 413
        assert viewer.store.snapshot()[1] - before == 3  # 1,500 + 1,500 + 1,500 > 4,000: stop

    def test_the_page_and_errors_are_not_payloads(self, viewer: Viewer) -> None:
        """The cap bounds payload data: a small cap still serves the page and says what went wrong."""
        for small in _viewer(viewer.root.parent / "small", max_response_bytes=10):
            assert small.get("/").status == 200
            assert small.get(f"/payloads/{quote('file:v1:' + '0' * 32)}").status == 404

    def test_an_honest_payload_under_the_cap_is_sent(self, viewer: Viewer) -> None:
        token = viewer.store.upload(b"b" * (CAP - 10))
        answer = viewer.get(f"/payloads/{quote(token)}")
        assert (answer.status, len(answer.body)) == (200, CAP - 10)


class _LeakyRefusal(CountingStore):
    """A store whose failure text carries a credential, as a SAS URL would."""

    async def download_async(self, token: str) -> bytes:
        raise PayloadStoreRefusedError("download", token, "HTTP 403 at https://a.test/c/x?sig=S3CR3TSIG")


class TestNoPathsOrSecretsInResponses:
    def _bodies(self, url: str, tokens: list[str]) -> list[Answer]:
        answers = [call(url, "GET", f"/payloads/{quote(t)}") for t in tokens]
        answers.append(post_json(url, "/decode", tokens))
        answers.append(post_json(url, "/decode", {"values": tokens, "resolve": False}))
        return answers

    def test_missing_and_corrupted_files_are_described_without_their_paths(self, viewer: Viewer) -> None:
        gone = viewer.store.upload(b"gone")
        viewer.store.delete(gone)
        corrupt = viewer.store.upload(b"will be corrupted")
        self._inner(viewer).path_for(corrupt).write_bytes(b"not a record at all")
        answers = self._bodies(viewer.url, [gone, corrupt])
        assert [a.status for a in answers[:2]] == [404, 502]
        for answer in answers:
            assert str(viewer.root).encode() not in answer.body
            assert str(viewer.root.parent).encode() not in answer.body
        assert "No stored payload" in answers[0].error()
        assert "integrity check" in answers[1].error()

    def _inner(self, viewer: Viewer) -> FileSystemPayloadStore:
        inner = viewer.store.inner
        assert isinstance(inner, FileSystemPayloadStore)
        return inner

    def test_a_store_failure_text_never_reaches_the_client(self, tmp_path: Path) -> None:
        store: PayloadStore = _LeakyRefusal(FileSystemPayloadStore(tmp_path / "p", OPTIONS))
        token = store.upload(b"x" * 10)
        for url in serve(create_app(store)):
            answers = self._bodies(url, [token])
            assert answers[0].status == 502
            assert "refused" in answers[0].error() and "credentials" in answers[0].error()
            for answer in answers:
                assert b"S3CR3TSIG" not in answer.body and b"a.test" not in answer.body
