"""CORS for POST /decode: only the exact origins given, preflight answered, nothing by default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from durabletask_payloads import FileSystemPayloadStore
from durabletask_payloads._viewer import create_app

from ..helpers import CountingStore
from .server import Answer, call, post_json, quote, serve

DASHBOARD = "https://dashboard.example"


def _preflight(url: str, origin: str, method: str = "POST", path: str = "/decode") -> Answer:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    return call(url, "OPTIONS", path, headers=headers)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(FileSystemPayloadStore(tmp_path / "p"))


def _serve(store: CountingStore, **settings: object) -> Iterator[str]:
    yield from serve(create_app(store, **settings))  # type: ignore[arg-type]


class TestNothingByDefault:
    def test_no_origin_is_allowed_and_no_preflight_is_answered(self, store: CountingStore) -> None:
        token = store.upload(b'"secret"')
        for url in _serve(store):
            before = store.snapshot()
            assert _preflight(url, DASHBOARD).status == 403
            answer = post_json(url, "/decode", [token], headers={"Origin": DASHBOARD})
            assert answer.status == 403 and "--cors-origin" in answer.error()
            assert "Access-Control-Allow-Origin" not in answer.headers
            assert store.snapshot() == before


class TestAllowedOrigin:
    @pytest.fixture
    def url(self, store: CountingStore) -> Iterator[str]:
        yield from _serve(store, cors_origins=["HTTPS://Dashboard.Example:443", "http://localhost:3000"])

    def test_the_preflight_allows_json_posts_with_a_bearer_token(self, url: str) -> None:
        answer = _preflight(url, DASHBOARD)
        assert answer.status == 204
        headers = answer.headers
        assert headers["Access-Control-Allow-Origin"] == DASHBOARD
        assert headers["Access-Control-Allow-Methods"] == "POST"
        assert headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
        assert headers["Vary"] == "Origin"
        assert "Access-Control-Allow-Credentials" not in headers

    def test_the_post_is_answered_for_that_origin(self, url: str, store: CountingStore) -> None:
        token = store.upload(b'{"n": 10.50}')
        answer = post_json(url, "/decode", [token], headers={"Origin": DASHBOARD})
        assert answer.status == 200
        assert json.loads(answer.body) == {"values": ['{"n": 10.50}']}
        assert answer.headers["Access-Control-Allow-Origin"] == DASHBOARD
        assert answer.headers["Vary"] == "Origin"

    def test_errors_are_readable_by_that_origin(self, url: str) -> None:
        answer = post_json(url, "/decode", {"values": "nope"}, headers={"Origin": DASHBOARD})
        assert answer.status == 400
        assert answer.headers["Access-Control-Allow-Origin"] == DASHBOARD

    @pytest.mark.parametrize(
        "origin",
        [
            "https://dashboard.example.evil",
            "http://dashboard.example",  # another scheme is another origin
            "https://dashboard.example:8443",
            "https://sub.dashboard.example",
            "null",
        ],
    )
    def test_other_origins_are_still_refused(self, url: str, store: CountingStore, origin: str) -> None:
        token = store.upload(b"x")
        before = store.snapshot()
        assert _preflight(url, origin).status == 403
        answer = post_json(url, "/decode", [token], headers={"Origin": origin})
        assert answer.status == 403 and "Access-Control-Allow-Origin" not in answer.headers
        assert store.snapshot() == before

    def test_only_decode_is_open_to_it(self, url: str, store: CountingStore) -> None:
        token = store.upload(b"x")
        answer = call(url, "GET", f"/payloads/{quote(token)}", headers={"Origin": DASHBOARD})
        assert answer.status == 403 and "Access-Control-Allow-Origin" not in answer.headers
        assert _preflight(url, DASHBOARD, path=f"/payloads/{quote(token)}").status == 403

    def test_other_methods_are_not_offered(self, url: str) -> None:
        assert _preflight(url, DASHBOARD, method="PUT").status == 405

    def test_a_form_post_from_it_is_still_refused(self, url: str, store: CountingStore) -> None:
        answer = call(
            url,
            "POST",
            "/decode",
            headers={"Origin": DASHBOARD, "Content-Type": "text/plain"},
            body=json.dumps([store.upload(b"x")]).encode(),
        )
        assert answer.status == 415

    def test_the_default_port_is_written_as_browsers_write_it(self, url: str) -> None:
        assert _preflight(url, "http://localhost:3000").status == 204


class TestWithABearerToken:
    def test_the_preflight_needs_none_and_the_post_does(self, store: CountingStore) -> None:
        token = store.upload(b'"guarded"')
        for url in _serve(store, cors_origins=[DASHBOARD], bearer_token="t0k"):
            assert _preflight(url, DASHBOARD).status == 204
            answer = post_json(url, "/decode", [token], headers={"Origin": DASHBOARD})
            assert answer.status == 401 and answer.headers["Access-Control-Allow-Origin"] == DASHBOARD
            answer = post_json(
                url, "/decode", [token], headers={"Origin": DASHBOARD, "Authorization": "Bearer t0k"}
            )
            assert json.loads(answer.body) == {"values": ['"guarded"']}


@pytest.mark.parametrize(
    "entry", ["*", "null", "https://dashboard.example/", "https://a.example/path", "ftp://a", "a.example", ""]
)
def test_what_is_not_an_origin_is_refused_at_creation(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ValueError, match="cors_origins") as raised:
        create_app(FileSystemPayloadStore(tmp_path), cors_origins=[entry])
    assert repr(entry.strip()) in str(raised.value) or repr(entry) in str(raised.value)
