"""How the store reads S3's answers to a conditional PUT, including 409, which moto does not send.

AWS answers ``409 ConditionalRequestConflict`` while another conditional write of the same key
is in flight; moto never does, so these tests use a scripted local endpoint that only answers
PUTs with the statuses given (the store's real client, obstore, still does the HTTP).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from durabletask_payloads import PayloadStoreRefusedError, S3PayloadStore, S3PayloadStoreOptions

_ERROR = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>Scripted</Code><Message>m</Message></Error>'


class ScriptedS3(http.server.ThreadingHTTPServer):
    """Answers each PUT with the next status of *statuses*; records the If-None-Match it got.

    Whatever the answer, it keeps the object sent (its body and headers) and serves it to GETs:
    after a 412, the one found there is this very payload, as when another writer stored it first.
    """

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.conditions: list[str | None] = []
        self.stored: tuple[bytes, dict[str, str]] | None = None
        self.gets = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ScriptedS3

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kept = {k: v for k, v in self.headers.items() if k.lower().startswith(("x-amz-meta-", "content-e"))}
        self.server.stored = (body, kept)
        self.server.conditions.append(self.headers.get("If-None-Match"))
        status = self.server.statuses.pop(0)
        body = b"" if status == 200 else _ERROR
        self.send_response(status)
        if status == 200:
            self.send_header("ETag", '"0123456789abcdef"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.gets += 1
        assert self.server.stored is not None
        body, headers = self.server.stored
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("ETag", '"0123456789abcdef"')
        self.send_header("Last-Modified", "Mon, 01 Dec 2025 10:00:00 GMT")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[ScriptedS3]:
    server = ScriptedS3([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _store(server: ScriptedS3) -> S3PayloadStore:
    return S3PayloadStore(
        S3PayloadStoreOptions(
            bucket="payloads",
            endpoint_url=f"http://127.0.0.1:{server.server_port}",
            region="us-east-1",
            access_key_id="k",
            secret_access_key="s",
            retry_total=0,
        )
    )


@pytest.mark.parametrize(
    ("statuses", "puts", "gets"),
    [
        ([200], 1, 0),  # created
        ([412], 1, 1),  # already there, and verified to be this payload: nothing to do
        ([409, 412], 2, 1),  # the other write finished first
        ([409, 409, 200], 3, 0),  # the other write failed: this one stores the payload
    ],
)
def test_conditional_put_outcomes(scripted: ScriptedS3, statuses: list[int], puts: int, gets: int) -> None:
    scripted.statuses = statuses
    with _store(scripted) as store:
        token = store.upload(b"payload", instance_id="i")
    assert token.startswith("s3:v1:payloads:durabletask-payloads/")
    assert scripted.conditions == ["*"] * puts
    assert scripted.statuses == []
    assert scripted.gets == gets


def test_a_conflict_that_does_not_end_is_an_error(scripted: ScriptedS3) -> None:
    scripted.statuses = [409] * 4
    with _store(scripted) as store, pytest.raises(PayloadStoreRefusedError, match=r"HTTP 409"):
        store.upload(b"payload", instance_id="i")
    assert len(scripted.conditions) == 4
